"""Structure of the Dockerfile and .dockerignore against pyproject.toml."""

from __future__ import annotations

import re
from typing import Any

import pytest
from deploy_files import DOCKERIGNORE, REPO, Dockerfile

AIRFLOW_PIN = re.compile(r"^apache-airflow==(?P<version>[0-9][0-9.]*)$")


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


def test_project_is_installed_with_the_pipeline_extra_and_airflow_pinned(
    dockerfile: Dockerfile,
) -> None:
    install = " ".join(dockerfile.all("RUN"))
    assert '".[pipeline]"' in install
    # Naming the base image's Airflow keeps pip from up- or downgrading it.
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in install


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
