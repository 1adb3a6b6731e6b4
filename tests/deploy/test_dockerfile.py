"""Structure of the Dockerfile and .dockerignore against pyproject.toml."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from deploy_files import DOCKERIGNORE, REPO, Dockerfile
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

AIRFLOW_PIN = re.compile(r"^apache-airflow==(?P<version>[0-9][0-9.]*)$")
# The project itself, as the Dockerfile's pip line names it: ".[extra,extra]".
PROJECT_INSTALL = re.compile(r"""["']?\.\[(?P<extras>[^\]]*)\]["']?""")
# Where the modules the plugins import live, by top-level package: the project's
# own package and the plugins folder (which Airflow puts on sys.path).
LOCAL_PACKAGES = {"analytics": REPO, "casino_explain_pipeline": REPO / "plugins"}


def _pinned_airflow(pyproject: dict[str, Any]) -> str:
    pins = [
        match["version"]
        for requirement in pyproject["project"]["optional-dependencies"]["pipeline"]
        if (match := AIRFLOW_PIN.match(requirement.replace(" ", "")))
    ]
    assert len(pins) == 1, "the pipeline extra must pin apache-airflow exactly once"
    return pins[0]


def test_base_image_is_the_official_airflow_image(dockerfile: Dockerfile) -> None:
    assert dockerfile.base_image.startswith("apache/airflow:")


def test_base_image_airflow_matches_the_pyproject_pin(
    dockerfile: Dockerfile, pyproject: dict[str, Any]
) -> None:
    tag = dockerfile.base_image.split(":", 1)[1]
    assert tag.split("-python")[0] == _pinned_airflow(pyproject)
    assert dockerfile.args["AIRFLOW_VERSION"] == _pinned_airflow(pyproject)


def test_base_image_python_matches_requires_python(
    dockerfile: Dockerfile, pyproject: dict[str, Any]
) -> None:
    python = dockerfile.base_image.rsplit("-python", 1)[1]
    assert python == "3.11"
    assert f">={python}" in pyproject["project"]["requires-python"]


def _installed_extras(dockerfile: Dockerfile) -> set[str]:
    installs = [run for run in dockerfile.all("RUN") if "pip install" in run]
    found = [m["extras"] for run in installs for m in PROJECT_INSTALL.finditer(run)]
    assert len(found) == 1, "the project must be pip-installed exactly once"
    return {extra.strip() for extra in found[0].split(",") if extra.strip()}


def test_project_is_installed_with_both_extras_and_airflow_pinned(
    dockerfile: Dockerfile,
) -> None:
    install = " ".join(dockerfile.all("RUN"))
    assert _installed_extras(dockerfile) == {"pipeline", "service"}
    # Naming the base image's Airflow keeps pip from up- or downgrading it.
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in install


def _module_file(name: str) -> Path | None:
    root = LOCAL_PACKAGES.get(name.split(".")[0])
    if root is None:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(path: Path, package: str) -> Iterable[str]:
    # Every import anywhere in the file, function-level ones included: the
    # service imports its database side lazily, and that still runs in the image.
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*parts, node.module] if node.module else parts)
            else:
                module = node.module or ""
            yield module
            # `from pkg import name` may name a submodule.
            yield from (f"{module}.{alias.name}" for alias in node.names)


@cache
def _third_party_imports_of_plugins() -> frozenset[str]:
    """Top-level third-party modules the plugins import, following the project's
    own modules (``analytics.*`` and the plugins' packages) transitively."""
    pending = [
        (path, ".".join(path.relative_to(REPO / "plugins").with_suffix("").parts))
        for path in (REPO / "plugins").rglob("*.py")
    ]
    seen: set[Path] = set()
    third_party: set[str] = set()
    while pending:
        path, module = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for name in _imported_names(path, package):
            top = name.split(".")[0]
            if top in LOCAL_PACKAGES:
                # Importing a.b.c runs a/__init__.py and a/b/__init__.py too.
                parts = name.split(".")
                for depth in range(1, len(parts) + 1):
                    prefix = ".".join(parts[:depth])
                    if (found := _module_file(prefix)) is not None:
                        pending.append((found, prefix))
            elif top and top != "__future__" and top not in sys.stdlib_module_names:
                third_party.add(top)
    return frozenset(third_party)


def _distributions_of(module: str) -> set[str]:
    names = metadata.packages_distributions().get(module, [])
    return {canonicalize_name(name) for name in names}


@cache
def _closure(requirements: tuple[str, ...]) -> frozenset[str]:
    """Distributions pip installs for ``requirements``, from the environment's
    metadata (dependencies of dependencies, their extras included)."""
    pending = [Requirement(text) for text in requirements]
    seen: set[tuple[str, str]] = set()
    found: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        extras = sorted(requirement.extras)
        key = (name, ",".join(extras))
        if key in seen:
            continue
        seen.add(key)
        found.add(name)
        try:
            needs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in needs:
            need = Requirement(text)
            marker = need.marker
            if marker is None or any(
                marker.evaluate({"extra": extra}) for extra in ["", *extras]
            ):
                pending.append(need)
    return frozenset(found)


def _uncovered(pyproject: dict[str, Any], extras: Iterable[str]) -> dict[str, set[str]]:
    """Modules the plugins import that neither the project's dependencies nor
    ``extras`` install, with the distributions that would provide them."""
    project = pyproject["project"]
    requirements = list(project["dependencies"])
    for extra in sorted(extras):
        requirements += project["optional-dependencies"][extra]
    installed = _closure(tuple(requirements))
    missing = {}
    for module in sorted(_third_party_imports_of_plugins()):
        provided_by = _distributions_of(module)
        assert provided_by, f"{module} is not installed in the test environment"
        if not provided_by & installed:
            missing[module] = provided_by
    return missing


def test_image_installs_every_extra_the_plugins_need(
    dockerfile: Dockerfile, pyproject: dict[str, Any]
) -> None:
    assert _uncovered(pyproject, _installed_extras(dockerfile)) == {}


def test_the_http_plugin_needs_more_than_the_pipeline_extra(
    pyproject: dict[str, Any],
) -> None:
    # Guards the derivation above: the service's imports must be seen through
    # plugins/casino_explain_http.py -> analytics.service.
    imports = _third_party_imports_of_plugins()
    assert {"airflow", "fastapi", "matplotlib", "pydantic_settings"} <= imports
    # Airflow's own FastAPI brings pydantic-settings along; matplotlib (the
    # service's charts) comes only with the service extra.
    assert "matplotlib" in _uncovered(pyproject, ["pipeline"])


@pytest.mark.parametrize(
    ("folder", "setting"),
    [
        ("dags", "AIRFLOW__CORE__DAGS_FOLDER"),
        ("plugins", "AIRFLOW__CORE__PLUGINS_FOLDER"),
    ],
)
def test_code_folders_are_copied_where_airflow_looks(
    dockerfile: Dockerfile, services: dict[str, Any], folder: str, setting: str
) -> None:
    copies = {c.split()[-2]: c.split()[-1] for c in dockerfile.all("COPY")}
    assert copies[folder] == dockerfile.env()[setting]
    # The compose file mounts the same folder at the same place.
    assert services["airflow-worker"]["environment"][setting] == copies[folder]


def test_pipeline_config_is_copied_where_the_code_reads_it(
    dockerfile: Dockerfile,
) -> None:
    copies = {c.split()[-2]: c.split()[-1] for c in dockerfile.all("COPY")}
    config_file = dockerfile.env()["CASINO_EXPLAIN_CONFIG"]
    assert config_file == f"{copies['config']}/pipeline.yaml"
    assert (REPO / "config" / "pipeline.yaml").is_file()


def test_cluster_policies_are_copied_onto_airflows_path(
    dockerfile: Dockerfile,
) -> None:
    copies = {c.split()[-2]: c.split()[-1] for c in dockerfile.all("COPY")}
    assert copies["deploy/airflow/airflow_local_settings.py"] == "/opt/airflow/config/"


def test_every_copied_path_exists(dockerfile: Dockerfile) -> None:
    for copy in dockerfile.all("COPY"):
        sources = [p for p in copy.split()[:-1] if not p.startswith("--")]
        for source in sources:
            assert (REPO / source).exists(), source


def _ignored() -> set[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and line[0] != "#"}


@pytest.mark.parametrize("path", [".env", ".venv", ".git", "tests"])
def test_build_context_leaves_out(path: str) -> None:
    assert path in _ignored()


def test_build_context_keeps_what_the_dockerfile_copies(dockerfile: Dockerfile) -> None:
    ignored = _ignored()
    for copy in dockerfile.all("COPY"):
        for source in copy.split()[:-1]:
            assert source.rstrip("/") not in ignored, source
