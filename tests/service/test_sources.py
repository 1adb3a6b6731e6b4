"""Where data may come from: the data root's rules, pickle refusal, allowed URLs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analytics.service import ServiceError, ServiceSettings
from analytics.service._sources import load_path, resolve_local_path


def _refusal(raw: str, settings: ServiceSettings) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        resolve_local_path(raw, settings)
    assert caught.value.parameter == "path"
    return caught.value


@pytest.mark.parametrize(
    ("raw", "status", "code", "words"),
    [
        pytest.param("../outside.csv", 403, "refused_path", "'..'", id="dotdot"),
        pytest.param(
            "data/../../x.csv", 403, "refused_path", "'..'", id="inner-dotdot"
        ),
        pytest.param(
            "data\\..\\..\\x.csv", 403, "refused_path", "'..'", id="backslash"
        ),
        pytest.param("/etc/passwd.csv", 403, "refused_path", "absolute", id="absolute"),
        pytest.param("C:\\data\\x.csv", 403, "refused_path", "absolute", id="drive"),
        pytest.param(
            "data/escape.csv", 403, "refused_path", "outside", id="symlink-out"
        ),
        pytest.param(
            "data/assetdata.pkl", 422, "refused_format", "arbitrary code", id="pickle"
        ),
        pytest.param(
            "data/x.PICKLE", 422, "refused_format", "arbitrary code", id="pickle-upper"
        ),
        pytest.param("data/x.xlsx", 422, "unsupported_format", "'.xlsx'", id="xlsx"),
        pytest.param(
            "data/missing.csv", 404, "missing_file", "no such file", id="missing"
        ),
        pytest.param("data", 422, "unsupported_format", "no suffix", id="folder"),
        pytest.param("a\x00.csv", 403, "refused_path", "NUL", id="nul"),
    ],
)
def test_refused_paths(
    raw: str, status: int, code: str, words: str, settings: ServiceSettings
) -> None:
    refusal = _refusal(raw, settings)
    assert (refusal.status, refusal.code) == (status, code)
    assert words in refusal.detail


def test_link_inside_the_root_is_followed(settings: ServiceSettings) -> None:
    real = resolve_local_path("data/inside-link.csv", settings)
    assert real == settings.data_root / "data" / "assetdata.csv"


def test_link_to_a_pickle_inside_the_root_is_refused(
    settings: ServiceSettings, tmp_path: Path
) -> None:
    (tmp_path / "frame.pkl").write_bytes(b"not really a pickle")
    (tmp_path / "frame.csv").symlink_to(tmp_path / "frame.pkl")
    local = ServiceSettings(data_root=tmp_path)
    assert _refusal("frame.csv", local).code == "refused_format"


def test_file_larger_than_the_limit(settings: ServiceSettings) -> None:
    small = settings.model_copy(update={"max_file_bytes": 100})
    refusal = _refusal("data/assetdata.csv", small)
    assert (refusal.status, refusal.code) == (413, "file_too_large")
    assert "limit is 100 bytes" in refusal.detail


@pytest.mark.parametrize(
    "name", ["assetdata.csv", "assetdata.parquet", "assetdata.json"]
)
def test_formats_read_the_same_table(name: str, settings: ServiceSettings) -> None:
    frame = load_path(f"data/{name}", settings)
    assert len(frame) == 140
    assert {"day", "coinIn", "gamesPlayed"} <= set(frame.columns)


def test_unreadable_file(settings: ServiceSettings) -> None:
    with pytest.raises(ServiceError, match=r"could not be read|broken") as caught:
        load_path("data/broken.csv", settings)
    assert (caught.value.status, caught.value.parameter) == (422, "path")


def test_url_from_an_allowed_host(file_server: str, settings: ServiceSettings) -> None:
    frame = load_path(f"{file_server}/files/assetdata.parquet", settings)
    expected = load_path("data/assetdata.parquet", settings)
    pd.testing.assert_frame_equal(frame, expected)


def test_url_format_from_the_content_type(
    file_server: str, settings: ServiceSettings
) -> None:
    frame = load_path(f"{file_server}/export", settings)
    assert len(frame) == 140


@pytest.mark.parametrize(
    ("suffix", "status", "code"),
    [
        pytest.param("/files/missing.csv", 404, "missing_file", id="missing"),
        pytest.param("/files/assetdata.pkl", 422, "refused_format", id="pickle"),
        pytest.param("/redirect.csv", 502, "upstream_error", id="redirect"),
        pytest.param("/endless.csv", 413, "file_too_large", id="too-large"),
        pytest.param("/slow.csv", 504, "upstream_timeout", id="timeout"),
    ],
)
def test_url_refusals(
    suffix: str, status: int, code: str, file_server: str, settings: ServiceSettings
) -> None:
    tight = settings.model_copy(
        update={"max_file_bytes": 1_000_000, "fetch_timeout_seconds": 0.5}
    )
    with pytest.raises(ServiceError) as caught:
        load_path(file_server + suffix, tight)
    assert (caught.value.status, caught.value.code) == (status, code)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://example.com/assetdata.csv", id="other-host"),
        pytest.param("http://127.0.0.1.example.com/a.csv", id="lookalike-host"),
        pytest.param("ftp://127.0.0.1/a.csv", id="ftp"),
        pytest.param("file:///etc/passwd", id="file-scheme"),
    ],
)
def test_urls_off_the_allow_list(url: str, settings: ServiceSettings) -> None:
    with pytest.raises(ServiceError) as caught:
        load_path(url, settings)
    assert caught.value.status == 403
    assert caught.value.parameter == "path"


def test_no_url_allowed_by_default(data_root: Path, file_server: str) -> None:
    with pytest.raises(ServiceError, match="allow-list"):
        load_path(
            f"{file_server}/files/assetdata.csv", ServiceSettings(data_root=data_root)
        )
