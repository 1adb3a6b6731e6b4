""".env.example documents every variable the deployment reads, none of them real."""

from __future__ import annotations

import re

from deploy_files import ENV_EXAMPLE, compose_variables

SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$")


def test_every_compose_variable_is_documented(
    compose_text: str, env_example: dict[str, str]
) -> None:
    assert compose_variables(compose_text) - set(env_example) == set()


def test_no_stale_variable_is_documented(
    compose_text: str, env_example: dict[str, str]
) -> None:
    assert set(env_example) - compose_variables(compose_text) == set()


def test_secrets_hold_placeholders_only(env_example: dict[str, str]) -> None:
    secrets = {k: v for k, v in env_example.items() if SECRET_NAME.search(k)}
    assert secrets, "expected the secrets to be documented"
    for name, value in secrets.items():
        assert value.startswith("change-me"), f"{name}={value!r} looks real"


def test_urls_carry_placeholder_passwords_only(env_example: dict[str, str]) -> None:
    for name, value in env_example.items():
        match = re.search(r"://[^:/@]*:(?P<password>[^@]+)@", value)
        if match:
            assert match["password"].startswith("change-me"), name


def test_every_variable_is_explained_by_a_comment() -> None:
    # Each block of assignments follows at least one comment line.
    previous = ""
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        is_assignment = bool(line) and not line.startswith("#")
        if is_assignment:
            assert previous.startswith("#") or "=" in previous, line
        previous = line
