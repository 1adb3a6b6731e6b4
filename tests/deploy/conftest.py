"""Fixtures: the deployment files, parsed once per session (see deploy_files.py)."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
import yaml
from deploy_files import (
    COMPOSE_FILE,
    DOCKERFILE,
    ENV_EXAMPLE,
    REPO,
    Dockerfile,
    parse_dockerfile,
    read_env_file,
)


@pytest.fixture(scope="session")
def compose_text() -> str:
    """docker-compose.yaml as text."""
    return COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def compose(compose_text: str) -> dict[str, Any]:
    """docker-compose.yaml parsed (YAML merge keys applied)."""
    parsed: dict[str, Any] = yaml.safe_load(compose_text)
    return parsed


@pytest.fixture(scope="session")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The compose services by name."""
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


@pytest.fixture(scope="session")
def env_example() -> dict[str, str]:
    """The variables .env.example documents, with their placeholder values."""
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="session")
def dockerfile() -> Dockerfile:
    """The parsed Dockerfile."""
    return parse_dockerfile(DOCKERFILE)


@pytest.fixture(scope="session")
def pyproject() -> dict[str, Any]:
    """pyproject.toml parsed."""
    with (REPO / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)
