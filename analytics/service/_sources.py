"""Where a request's data comes from: a file under the data root or an allowed URL.

The service reads only what its configuration allows:

* a relative path is resolved under ``data_root``; absolute paths, ``..`` parts
  and symbolic links that lead outside the root are refused;
* a URL is fetched only from a host on ``allowed_hosts``, without following
  redirects, within ``fetch_timeout_seconds`` and ``max_file_bytes``;
* pickle files are refused whatever their location, because loading a pickle
  runs whatever code its author put in it.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import NoReturn
from urllib.parse import unquote, urlsplit

import httpx
import pandas as pd

from analytics.errors import CasinoExplainError
from analytics.io.files import READERS, read_table
from analytics.service._errors import ServiceError
from analytics.service._settings import ServiceSettings
from analytics.service._warnings import recorded_warnings

__all__ = ["SUPPORTED_SUFFIXES", "load_path", "resolve_local_path"]

logger = logging.getLogger("analytics.service")

SUPPORTED_SUFFIXES = frozenset(READERS)
PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".pck", ".pcl", ".joblib"})

# For URLs without a telling suffix, the type the server declares decides.
_CONTENT_TYPES = {
    "text/csv": ".csv",
    "application/csv": ".csv",
    "application/json": ".json",
    "application/vnd.apache.parquet": ".parquet",
    "application/x-parquet": ".parquet",
}

_PICKLE_REASON = (
    "pickle files are refused: loading a pickle runs arbitrary code chosen by "
    "whoever wrote the file; save the data as CSV, Parquet or JSON instead"
)
_CHUNK_BYTES = 64 * 1024


def _refuse(detail: str, *, status: int = 403, code: str = "refused_path") -> NoReturn:
    raise ServiceError(status, code, detail, parameter="path")


def _check_suffix(name: str, *, shown: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        _refuse(f"path={shown!r}: {_PICKLE_REASON}", status=422, code="refused_format")
    if suffix not in SUPPORTED_SUFFIXES:
        allowed = ", ".join(sorted(SUPPORTED_SUFFIXES))
        _refuse(
            f"path={shown!r} has unsupported format {suffix or '(no suffix)'!r}; "
            f"allowed: {allowed}",
            status=422,
            code="unsupported_format",
        )
    return suffix


def resolve_local_path(raw: str, settings: ServiceSettings) -> Path:
    """Resolve ``raw`` under the data root, refusing anything that leaves it.

    Parameters
    ----------
    raw : str
        The ``path`` parameter, relative to ``settings.data_root``.
    settings : ServiceSettings
        Supplies ``data_root`` (already resolved) and ``max_file_bytes``.

    Returns
    -------
    pathlib.Path
        The real path of an existing, readable-format file inside the root.

    Raises
    ------
    ServiceError
        403 for absolute paths, ``..`` parts and links out of the root; 422 for
        pickle and other unsupported formats; 404 for a missing file; 413 for a
        file larger than ``max_file_bytes``.

    Examples
    --------
    >>> resolve_local_path("../etc/passwd", ServiceSettings())
    Traceback (most recent call last):
    ...
    analytics.service._errors.ServiceError: path='../etc/passwd' ...
    """
    if "\x00" in raw:
        _refuse("path must not contain NUL characters")
    posix, windows = PurePosixPath(raw), PureWindowsPath(raw)
    if posix.is_absolute() or windows.is_absolute() or windows.drive:
        _refuse(
            f"path={raw!r} is absolute; give a path relative to the data root",
        )
    if ".." in posix.parts or ".." in windows.parts:
        _refuse(f"path={raw!r} climbs out of the data root with '..'; not allowed")
    _check_suffix(raw, shown=raw)

    root = settings.data_root
    real = (root / posix).resolve()
    if not real.is_relative_to(root):
        _refuse(f"path={raw!r} is a link that leads outside the data root")
    _check_suffix(real.name, shown=raw)
    if not real.exists():
        raise ServiceError(
            404, "missing_file", f"path={raw!r}: no such file", parameter="path"
        )
    if not real.is_file():
        raise ServiceError(422, "not_a_file", f"path={raw!r} is not a file", "path")
    size = real.stat().st_size
    if size > settings.max_file_bytes:
        _too_large(raw, size, settings.max_file_bytes)
    return real


def _too_large(shown: str, size: int | str, limit: int) -> NoReturn:
    raise ServiceError(
        413,
        "file_too_large",
        f"path={shown!r} holds {size} bytes; the limit is {limit} bytes",
        parameter="path",
    )


def is_url(raw: str) -> bool:
    """Tell whether the ``path`` parameter names a URL rather than a file."""
    return "://" in raw


def _check_url(raw: str, settings: ServiceSettings) -> str:
    parts = urlsplit(raw)
    if parts.scheme.lower() not in ("http", "https"):
        _refuse(f"path={raw!r}: only http and https URLs are fetched")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError as err:
        raise ServiceError(
            403, "refused_host", f"path={raw!r}: bad port", "path"
        ) from err
    names = {host} if port is None else {host, f"{host}:{port}"}
    if not host or names.isdisjoint(settings.allowed_hosts):
        raise ServiceError(
            403,
            "refused_host",
            f"path={raw!r}: host {host!r} is not on the service's allow-list "
            "(CASINO_EXPLAIN_ALLOWED_HOSTS)",
            parameter="path",
        )
    return PurePosixPath(unquote(parts.path)).suffix.lower()


def _suffix_from_response(raw: str, suffix: str, response: httpx.Response) -> str:
    if suffix in SUPPORTED_SUFFIXES or suffix in PICKLE_SUFFIXES:
        return _check_suffix(f"data{suffix}", shown=raw)
    declared = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if declared in _CONTENT_TYPES:
        return _CONTENT_TYPES[declared]
    return _check_suffix(f"data{suffix}", shown=raw)


def _download(raw: str, settings: ServiceSettings, folder: Path) -> Path:
    suffix = _check_url(raw, settings)
    limit = settings.max_file_bytes
    timeout = httpx.Timeout(settings.fetch_timeout_seconds)
    with (
        httpx.Client(timeout=timeout, follow_redirects=False) as client,
        client.stream("GET", raw) as response,
    ):
        _check_status(raw, response)
        suffix = _suffix_from_response(raw, suffix, response)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            _too_large(raw, declared, limit)
        target = folder / f"download{suffix}"
        received = 0
        with target.open("wb") as sink:
            for chunk in response.iter_bytes(_CHUNK_BYTES):
                received += len(chunk)
                if received > limit:
                    _too_large(raw, f"more than {limit}", limit)
                sink.write(chunk)
    logger.info("fetched %s (%s bytes)", raw, received)
    return target


def _check_status(raw: str, response: httpx.Response) -> None:
    status = response.status_code
    if status == 404:
        raise ServiceError(
            404, "missing_file", f"path={raw!r}: not found (404)", "path"
        )
    if status >= 300:
        # Redirects are not followed: the target host could be anywhere.
        raise ServiceError(
            502,
            "upstream_error",
            f"path={raw!r}: the host answered HTTP {status}",
            parameter="path",
        )


def _fetch(raw: str, settings: ServiceSettings) -> pd.DataFrame:
    with tempfile.TemporaryDirectory(prefix="casino-explain-") as folder:
        try:
            local = _download(raw, settings, Path(folder))
        except httpx.TimeoutException as err:
            raise ServiceError(
                504,
                "upstream_timeout",
                f"path={raw!r}: no answer within {settings.fetch_timeout_seconds} s",
                parameter="path",
            ) from err
        except httpx.HTTPError as err:
            raise ServiceError(
                502, "upstream_error", f"path={raw!r}: {err}", parameter="path"
            ) from err
        return _read(local, shown=raw)


def _read(path: Path, *, shown: str) -> pd.DataFrame:
    try:
        with recorded_warnings(f"reading {shown}"):
            return read_table(path)
    except CasinoExplainError as err:
        # The reader names the real file; the client should see only its own
        # path, not where the data root sits on the server.
        message = str(err).replace(f"file {str(path)!r}", "the file")
        message = message.replace(str(path), "the file")
        raise ServiceError(
            422, "unreadable_file", f"path={shown!r}: {message}", "path"
        ) from err
    except Exception as err:
        # A malformed file can fail in any of the parsers; the client only needs
        # to know the file could not be read, the log keeps the details.
        logger.warning("cannot read %s", shown, exc_info=True)
        raise ServiceError(
            422,
            "unreadable_file",
            f"path={shown!r} could not be read as {path.suffix[1:]}: "
            f"{type(err).__name__}",
            parameter="path",
        ) from err


def load_path(raw: str, settings: ServiceSettings) -> pd.DataFrame:
    """Read the table named by the ``path`` parameter.

    Parameters
    ----------
    raw : str
        A path relative to the data root, or an http(s) URL on an allowed host.
    settings : ServiceSettings
        The service's configuration (data root, allow-list, size and time limits).

    Returns
    -------
    pandas.DataFrame
        The table as read by :func:`analytics.io.files.read_table`.

    Raises
    ------
    ServiceError
        With a 4xx status naming ``path`` for every refusal or unreadable file,
        502/504 when an allowed host fails to answer.
    """
    if is_url(raw):
        return _fetch(raw, settings)
    return _read(resolve_local_path(raw, settings), shown=raw)
