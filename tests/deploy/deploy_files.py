"""Readers of the deployment files: docker-compose.yaml, Dockerfile, env files.

Docker cannot run where the tests run, so the deployment is checked by
structure; these helpers resolve what ``docker compose`` and ``docker build``
would (compose variables, ``$$`` escapes, ARG defaults).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERIGNORE = REPO / ".dockerignore"
POSTGRES_INIT = REPO / "deploy" / "postgres" / "init-databases.sh"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}; "$$" escapes "$".
_COMPOSE_VARIABLE = re.compile(
    r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)
_SHELL_VARIABLE = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)\}?")


def compose_variables(text: str) -> set[str]:
    """Names of the variables ``docker compose`` substitutes in ``text``."""
    return {m["name"] for m in _COMPOSE_VARIABLE.finditer(text)}


def shell_variables(text: str) -> set[str]:
    """Names of the environment variables a shell script reads."""
    return set(_SHELL_VARIABLE.findall(text))


def resolve(text: str, values: Mapping[str, str]) -> str:
    """Substitute compose variables from ``values`` (defaults where given)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if name in values:
            return values[name]
        if op in (":-", "-"):
            return arg or ""
        raise KeyError(f"compose variable {name!r} has no value and no default")

    return _COMPOSE_VARIABLE.sub(one, text).replace("$$", "$")


def walk_strings(node: Any) -> Iterator[str]:
    """Every string value (not key) inside a parsed YAML document."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from walk_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_strings(value)


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of an env file, in order."""
    pairs: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            key, _, value = stripped.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


@dataclass(frozen=True)
class Dockerfile:
    """The instructions of a Dockerfile, ARG defaults resolved."""

    args: dict[str, str]
    base_image: str
    instructions: list[tuple[str, str]]

    def all(self, keyword: str) -> list[str]:
        """Arguments of every instruction ``keyword`` (e.g. ``COPY``)."""
        return [rest for kw, rest in self.instructions if kw == keyword.upper()]

    def env(self) -> dict[str, str]:
        """The ``ENV`` settings (``KEY=value`` form)."""
        found: dict[str, str] = {}
        for rest in self.all("ENV"):
            for pair in rest.split():
                key, _, value = pair.partition("=")
                found[key] = value
        return found


def parse_dockerfile(path: Path) -> Dockerfile:
    """Join continued lines, drop comments, resolve ARG defaults in ``FROM``."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    instructions = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    args = {}
    for keyword, rest in instructions:
        if keyword == "ARG" and "=" in rest:
            name, _, default = rest.partition("=")
            args.setdefault(name, default)
    base = next(rest for keyword, rest in instructions if keyword == "FROM")
    for name, value in args.items():
        base = base.replace(f"${{{name}}}", value).replace(f"${name}", value)
    return Dockerfile(args=args, base_image=base, instructions=instructions)
