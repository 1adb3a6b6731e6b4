"""Configuration of the HTTP service, read from ``CASINO_EXPLAIN_*`` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["ServiceSettings"]

MIB = 1024 * 1024


class ServiceSettings(BaseSettings):
    """Everything the service reads from its environment.

    Each field is read from the upper-case variable with the ``CASINO_EXPLAIN_``
    prefix, e.g. ``CASINO_EXPLAIN_DATA_ROOT=/srv/casino-data``.

    Attributes
    ----------
    data_root : pathlib.Path
        Folder that ``path`` parameters are resolved under; nothing outside it is
        ever read. Default: the working directory, as the old service did.
    allowed_hosts : list of str
        Host names (or ``host:port``) from which ``path`` may fetch a URL. Give a
        comma-separated list. Empty (the default) refuses every URL.
    api_token : SecretStr or None
        When set, every endpoint except ``/health`` wants
        ``Authorization: Bearer <token>``.
    max_body_bytes : int
        Largest request body accepted, in bytes (default 1 MiB).
    max_file_bytes : int
        Largest data file read or downloaded, in bytes (default 200 MiB).
    fetch_timeout_seconds : float
        Time allowed for connecting to and reading from an allowed host.
    host, port : str, int
        Where ``python -m analytics.service`` listens by default.
    source_url : str or None
        SQLAlchemy URL of the casino source database, for ``casino_id`` requests.
    reporting_url : str or None
        SQLAlchemy URL of the reporting database holding stored explanations.

    Examples
    --------
    >>> settings = ServiceSettings(allowed_hosts="data.example.com, Files.example.com")
    >>> settings.allowed_hosts
    ['data.example.com', 'files.example.com']
    """

    model_config = SettingsConfigDict(
        env_prefix="CASINO_EXPLAIN_", extra="ignore", validate_default=True
    )

    data_root: Path = Field(default_factory=Path.cwd)
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_token: SecretStr | None = None
    max_body_bytes: int = Field(default=1 * MIB, gt=0)
    max_file_bytes: int = Field(default=200 * MIB, gt=0)
    fetch_timeout_seconds: float = Field(default=10.0, gt=0)
    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=0, le=65535)
    source_url: str | None = None
    reporting_url: str | None = None

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        # A comma-separated variable is easier to write than a JSON list.
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            return [str(part).strip().lower() for part in value if str(part).strip()]
        return value

    @field_validator("data_root")
    @classmethod
    def _resolve_root(cls, value: Path) -> Path:
        # Resolved once, so every containment check compares real paths.
        return value.expanduser().resolve()

    @field_validator("api_token")
    @classmethod
    def _blank_token_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        return value
