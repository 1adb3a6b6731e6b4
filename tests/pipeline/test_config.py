"""Tests of analytics.pipeline.config: defaults, YAML, overrides, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.errors import ParameterError
from analytics.pipeline.config import PipelineConfig, load_config, merge_overrides

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "pipeline.yaml"


def test_empty_mapping_gives_the_documented_defaults() -> None:
    config = PipelineConfig.from_mapping({})
    assert config.explain.kpis == ("coin_in",)
    assert config.explain.history_weeks == 13
    assert config.explain.window_days == 98
    assert config.airflow.source_conn_id == "casino_source"
    assert config.schedule.cron == "0 6 * * *"


def test_repository_file_matches_the_built_in_defaults() -> None:
    assert load_config(REPO_CONFIG) == PipelineConfig()


def test_yaml_file_and_overrides_are_layered(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text("explain:\n  kpis: [theo_win]\n  history_weeks: 8\n")
    config = load_config(path, overrides={"explain": {"history_weeks": 6}})
    assert config.explain.kpis == ("theo_win",)
    assert config.explain.history_weeks == 6


def test_merge_overrides_merges_mappings_and_replaces_values() -> None:
    merged = merge_overrides(
        {"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": 5}, "d": [2]}
    )
    assert merged == {"a": {"b": 5, "c": 2}, "d": [2]}


def test_casino_list_and_threshold_are_coerced() -> None:
    config = PipelineConfig.from_mapping(
        {"explain": {"casinos": ["C01", "C02"], "threshold": 4}}
    )
    assert config.explain.casinos == ("C01", "C02")
    assert config.explain.threshold == 4.0


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        pytest.param({"explian": {}}, "unknown key.*'explian'", id="typo-section"),
        pytest.param({"explain": {"kpi": ["x"]}}, "unknown key.*'kpi'", id="typo-key"),
        pytest.param({"explain": {"modules": ["guess"]}}, "modules", id="module"),
        pytest.param({"explain": {"casinos": "some"}}, "casinos='some'", id="casinos"),
        pytest.param({"explain": {"history_weeks": "13"}}, "whole number", id="type"),
        pytest.param({"airflow": {"chunk_size": 0}}, "chunk_size must be", id="chunk"),
        pytest.param({"explain": {"threshold": -1}}, "threshold", id="threshold"),
        pytest.param({"explain": {"kpis": []}}, "at least one KPI", id="no-kpi"),
    ],
)
def test_bad_configuration_is_rejected(raw: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        PipelineConfig.from_mapping(raw)


def test_unreadable_or_non_mapping_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ParameterError, match="mapping at the top"):
        load_config(listed)
