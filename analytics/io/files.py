"""Reading and writing data tables as files (CSV, Parquet, JSON).

:func:`read_table` is the one door through which a file becomes a DataFrame: the
command line calls it directly and the HTTP service wraps it with its own check that
the path stays inside the data root. Path safety is deliberately not handled here.
Every failure is raised as :class:`analytics.errors.InputError` with a message that
names the file and says what went wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pa_csv  # type: ignore[import-untyped]

from analytics.errors import InputError, ParameterError
from analytics.synthetic.casino import SyntheticCasinoData

__all__ = ["READERS", "read_table", "write_demo_files", "write_table"]

logger = logging.getLogger(__name__)

Reader = Callable[[Path], pd.DataFrame]


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def _read_parquet(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def _read_json(path: Path) -> pd.DataFrame:
    # A JSON array of records ([{"day": ..., "coin_in": ...}, ...]) or a column
    # mapping; pandas tells the two apart.
    return pd.read_json(path)


def _read_json_lines(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True)


READERS: Mapping[str, tuple[str, Reader]] = {
    ".csv": ("CSV", _read_csv),
    ".parquet": ("Parquet", _read_parquet),
    ".pq": ("Parquet", _read_parquet),
    ".json": ("JSON", _read_json),
    ".jsonl": ("JSON lines", _read_json_lines),
    ".ndjson": ("JSON lines", _read_json_lines),
}
"""Supported file extensions, with the format's name and its reader."""

_REFUSED = {
    ".pkl": "loading a pickle runs arbitrary code from the file",
    ".pickle": "loading a pickle runs arbitrary code from the file",
}

# Errors the parsers raise on malformed content: pandas' own are ValueErrors,
# pyarrow's derive from ArrowException, truncated or unreadable files give OSError.
_PARSE_ERRORS = (ValueError, OSError, pa.ArrowException)


def _reader_for(path: Path) -> tuple[str, Reader]:
    suffix = path.suffix.lower()
    if suffix in _REFUSED:
        raise InputError(
            f"{str(path)!r} is a pickle file, which is refused: {_REFUSED[suffix]}; "
            "save the table as CSV, Parquet or JSON instead"
        )
    if suffix not in READERS:
        allowed = ", ".join(READERS)
        raise InputError(
            f"{str(path)!r} has the unsupported extension {suffix or '(none)'!r}; "
            f"supported: {allowed}"
        )
    return READERS[suffix]


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, Parquet or JSON file into a DataFrame, chosen by extension.

    Parameters
    ----------
    path : str or pathlib.Path
        The file. Extensions: ``.csv``; ``.parquet`` or ``.pq``; ``.json`` (an
        array of records or a mapping of columns); ``.jsonl`` or ``.ndjson`` (one
        record per line). Types are inferred by the format's reader; dates stay as
        written (the analytics parse the date column themselves).

    Returns
    -------
    pandas.DataFrame
        The table, with at least one row.

    Raises
    ------
    InputError
        The file is missing or a directory, its extension is not supported (a
        pickle is refused because loading one runs arbitrary code), it is empty,
        it cannot be parsed, or it holds no rows.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "daily.csv").write_text("day,coin_in\\n2024-01-01,4523123.45\\n")
    >>> read_table(folder / "daily.csv")["coin_in"].tolist()
    [4523123.45]
    """
    path = Path(path)
    name, reader = _reader_for(path)
    if not path.exists():
        raise InputError(f"file {str(path)!r} does not exist")
    if not path.is_file():
        raise InputError(f"{str(path)!r} is not a file")
    if path.stat().st_size == 0:
        raise InputError(f"file {str(path)!r} is empty (0 bytes)")

    try:
        frame = reader(path)
    except _PARSE_ERRORS as err:
        raise InputError(
            f"file {str(path)!r} could not be read as {name}: {_first_line(err)}"
        ) from err
    if frame.empty:
        raise InputError(f"file {str(path)!r} holds no rows")
    logger.debug("read %s rows x %s columns from %s", *frame.shape, path)
    return frame


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as CSV, Parquet or JSON, chosen by the extension.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table. Datetime columns holding whole days are written as ISO dates.
    path : str or pathlib.Path
        Target file; its folder must exist. JSON is written as an array of records.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    InputError
        The extension is not one of :data:`READERS`.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "t.json"
    >>> write_table(pd.DataFrame({"a": [1]}), target).read_text()
    '[{"a":1}]'
    """
    path = Path(path)
    _reader_for(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    elif suffix == ".csv":
        _write_csv(frame, path)
    else:
        _dates_as_days(frame).to_json(
            path,
            orient="records",
            lines=suffix != ".json",
            date_format="iso",
            date_unit="s",
        )
    return path


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    # pyarrow's writer is about 8 times faster than pandas' on the segment table
    # and writes floats in their shortest exact form, so cents survive the trip.
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for column, values in frame.items():
        if _whole_days(values):
            where = table.schema.get_field_index(str(column))
            table = table.set_column(
                where, str(column), table.column(where).cast(pa.date32())
            )
    options = pa_csv.WriteOptions(quoting_style="needed")
    pa_csv.write_csv(table, path, write_options=options)


def _whole_days(values: pd.Series) -> bool:
    if not pd.api.types.is_datetime64_any_dtype(values):
        return False
    present = values.dropna()
    return bool((present == present.dt.normalize()).all())


def _dates_as_days(frame: pd.DataFrame) -> pd.DataFrame:
    """Write whole-day timestamps as '2024-01-01', as the CSV writer does."""
    days = {
        str(column): values.dt.strftime("%Y-%m-%d")
        for column, values in frame.items()
        if _whole_days(values)
    }
    return frame.assign(**days) if days else frame


def write_demo_files(
    data: SyntheticCasinoData, directory: str | Path, *, file_format: str = "csv"
) -> dict[str, Path]:
    """Write the generated tables to a folder, one file per table.

    Parameters
    ----------
    data : SyntheticCasinoData
        The output of :func:`analytics.synthetic.casino.generate_casinos`.
    directory : str or pathlib.Path
        Target folder, created if needed; files of the same names are replaced.
    file_format : {"csv", "parquet", "json"}
        The file format. CSV is the easiest to open; Parquet keeps the types.

    Returns
    -------
    dict of str to pathlib.Path
        ``daily``, ``tiers``, ``causes`` and, when generated, ``segments``.

    Raises
    ------
    ParameterError
        ``file_format`` is not one of the three.

    Examples
    --------
    >>> import tempfile
    >>> from analytics.synthetic.casino import generate_casinos
    >>> data = generate_casinos(n_casinos=1, end="2024-01-31", causes=False)
    >>> sorted(write_demo_files(data, tempfile.mkdtemp()))
    ['causes', 'daily', 'segments', 'tiers']
    """
    if file_format not in ("csv", "parquet", "json"):
        raise ParameterError(
            f"file_format={file_format!r} is not supported; use 'csv', 'parquet' "
            "or 'json'"
        )
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {
        "daily": data.daily,
        "segments": data.segments,
        "tiers": data.tiers,
        "causes": data.causes,
    }
    written: dict[str, Path] = {}
    for name, frame in tables.items():
        if frame is None:
            continue
        written[name] = write_table(frame, folder / f"{name}.{file_format}")
        logger.info("wrote %s rows to %s", len(frame), written[name])
    return written
