"""Configuration from CASINO_EXPLAIN_* environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.service import ServiceSettings


def test_read_from_prefixed_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CASINO_EXPLAIN_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv(
        "CASINO_EXPLAIN_ALLOWED_HOSTS", "Data.Example.com, files.example.com:8443,"
    )
    monkeypatch.setenv("CASINO_EXPLAIN_API_TOKEN", "t0ken")
    monkeypatch.setenv("CASINO_EXPLAIN_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("CASINO_EXPLAIN_MAX_FILE_BYTES", "4096")
    settings = ServiceSettings()
    assert settings.data_root == tmp_path.resolve()
    assert settings.allowed_hosts == ["data.example.com", "files.example.com:8443"]
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == "t0ken"
    assert (settings.max_body_bytes, settings.max_file_bytes) == (2048, 4096)
    assert "t0ken" not in repr(settings)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATA_ROOT", "ALLOWED_HOSTS", "API_TOKEN", "PORT", "HOST"):
        monkeypatch.delenv(f"CASINO_EXPLAIN_{name}", raising=False)
    settings = ServiceSettings()
    assert settings.allowed_hosts == []
    assert settings.api_token is None
    assert (settings.host, settings.port) == ("127.0.0.1", 5000)


def test_blank_token_means_no_auth() -> None:
    assert ServiceSettings(api_token="  ").api_token is None


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        ServiceSettings(max_body_bytes=0)
