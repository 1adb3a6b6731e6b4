"""The pipeline's configuration: source contract, explanation options, schedule.

The configuration is read from a YAML file (``config/pipeline.yaml`` in the
repository, or the file named by ``CASINO_EXPLAIN_CONFIG``) and an optional JSON
override (the Airflow Variable ``casino_explain_config``) laid over it key by key.
Every key has a default, so an empty file is a valid configuration. Unknown keys
are an error rather than silently ignored: a typo must not disable a setting.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from analytics.errors import ParameterError

__all__ = [
    "CONFIG_ENV_VAR",
    "MODULES",
    "AirflowSettings",
    "ExplainSettings",
    "PipelineConfig",
    "ScheduleSettings",
    "SourceSettings",
    "default_config_path",
    "load_config",
    "merge_overrides",
]

CONFIG_ENV_VAR = "CASINO_EXPLAIN_CONFIG"
MODULES = ("rank_metrics", "assess_change", "rank_segments")


@dataclass(frozen=True)
class SourceSettings:
    """Where the daily and segment tables live and what their columns are called."""

    schema: str | None = None
    daily_table: str = "casino_daily"
    segment_table: str = "casino_segment_daily"
    casino_column: str = "casino_id"
    date_column: str = "day"
    metric_columns: tuple[str, ...] = ()
    dimension_columns: tuple[str, ...] = (
        "zone",
        "denomination",
        "game_type",
        "player_tier",
    )
    segment_measures: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExplainSettings:
    """Which casinos and KPIs are explained, and with which options."""

    casinos: str | tuple[str | int, ...] = "all"
    kpis: tuple[str, ...] = ("coin_in",)
    modules: tuple[str, ...] = MODULES
    history_weeks: int = 13
    method: str | None = None
    threshold: float = 3.5
    max_depth: int = 3
    rows_per_explanation: int = 25
    holidays: tuple[str, ...] = ()

    @property
    def window_days(self) -> int:
        """Days of source data one explanation needs before the target date.

        The history window reaches back ``history_weeks`` weeks; one week more is
        read because week-over-week changes at its oldest date need the week
        before it (the default ranking method correlates such changes).
        """
        return 7 * (self.history_weeks + 1)


@dataclass(frozen=True)
class ScheduleSettings:
    """When the daily DAG runs; see docs/pipeline.md for the target-date rule."""

    cron: str = "0 6 * * *"
    timezone: str = "UTC"
    start_date: str = "2024-01-01"


@dataclass(frozen=True)
class AirflowSettings:
    """Connection ids and task mapping options."""

    source_conn_id: str = "casino_source"
    reporting_conn_id: str = "casino_reporting"
    chunk_size: int = 25
    fail_on_casino_errors: bool = True


@dataclass(frozen=True)
class PipelineConfig:
    """The whole configuration, one frozen value passed to every pipeline step.

    Examples
    --------
    >>> config = PipelineConfig.from_mapping({"explain": {"kpis": ["theo_win"]}})
    >>> config.explain.kpis, config.explain.history_weeks
    (('theo_win',), 13)
    """

    source: SourceSettings = field(default_factory=SourceSettings)
    explain: ExplainSettings = field(default_factory=ExplainSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    airflow: AirflowSettings = field(default_factory=AirflowSettings)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> PipelineConfig:
        """Build and validate a configuration from nested plain values."""
        raw = dict(raw or {})
        _reject_unknown(raw, {f.name for f in fields(cls)}, where="configuration")
        config = cls(
            source=_section(SourceSettings, raw.get("source"), "source"),
            explain=_section(ExplainSettings, raw.get("explain"), "explain"),
            schedule=_section(ScheduleSettings, raw.get("schedule"), "schedule"),
            airflow=_section(AirflowSettings, raw.get("airflow"), "airflow"),
        )
        _validate(config)
        return config

    def as_dict(self) -> dict[str, Any]:
        """Return the configuration as nested JSON-ready values."""
        plain: dict[str, Any] = _jsonable(asdict(self))
        return plain


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _reject_unknown(raw: Mapping[str, Any], allowed: set[str], *, where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ParameterError(
            f"unknown key(s) {', '.join(map(repr, unknown))} in {where}; "
            f"allowed keys: {', '.join(sorted(allowed))}"
        )


def _section(kind: type[Any], raw: object, name: str) -> Any:
    if raw is None:
        return kind()
    if not isinstance(raw, Mapping):
        raise ParameterError(f"configuration section {name!r} must be a mapping")
    _reject_unknown(raw, {f.name for f in fields(kind)}, where=f"section {name!r}")
    values: dict[str, Any] = {}
    for item in fields(kind):
        if item.name in raw:
            values[item.name] = _coerce(
                raw[item.name], item.default, f"{name}.{item.name}"
            )
    return kind(**values)


def _coerce(value: object, default: object, name: str) -> object:
    # Sequences come from YAML/JSON as lists; frozen dataclasses want tuples.
    if isinstance(value, list | tuple):
        return tuple(value)
    if isinstance(default, bool) and not isinstance(value, bool):
        raise ParameterError(f"{name} must be true or false, got {value!r}")
    is_int_setting = isinstance(default, int) and not isinstance(default, bool)
    if is_int_setting and (isinstance(value, bool) or not isinstance(value, int)):
        raise ParameterError(f"{name} must be a whole number, got {value!r}")
    if isinstance(default, float) and not isinstance(value, int | float):
        raise ParameterError(f"{name} must be a number, got {value!r}")
    if isinstance(default, float) and isinstance(value, int):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _validate(config: PipelineConfig) -> None:
    explain, run = config.explain, config.airflow
    bad_modules = sorted(set(explain.modules) - set(MODULES))
    if bad_modules or not explain.modules:
        raise ParameterError(
            f"explain.modules={list(explain.modules)!r} is not allowed; "
            f"choose one or more of {', '.join(MODULES)}"
        )
    if not explain.kpis:
        raise ParameterError("explain.kpis must name at least one KPI column")
    if isinstance(explain.casinos, str) and explain.casinos != "all":
        raise ParameterError(
            f"explain.casinos={explain.casinos!r} is not allowed; "
            "use 'all' or a list of casino ids"
        )
    for name, value, low in (
        ("explain.history_weeks", explain.history_weeks, 1),
        ("explain.max_depth", explain.max_depth, 1),
        ("explain.rows_per_explanation", explain.rows_per_explanation, 1),
        ("airflow.chunk_size", run.chunk_size, 1),
    ):
        if value < low:
            raise ParameterError(f"{name} must be at least {low}, got {value!r}")
    if explain.threshold <= 0:
        raise ParameterError(
            f"explain.threshold must be positive, got {explain.threshold!r}"
        )


def merge_overrides(
    base: Mapping[str, Any], overrides: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Lay ``overrides`` over ``base`` recursively (mappings merge, values replace).

    Examples
    --------
    >>> merge_overrides({"explain": {"kpis": ["coin_in"], "history_weeks": 13}},
    ...                 {"explain": {"history_weeks": 8}})
    {'explain': {'kpis': ['coin_in'], 'history_weeks': 8}}
    """
    merged = dict(base)
    for key, value in (overrides or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_overrides(merged[key], value)
        else:
            merged[key] = value
    return merged


def default_config_path() -> Path | None:
    """The YAML file to read: ``$CASINO_EXPLAIN_CONFIG``, else the repository's."""
    named = os.environ.get(CONFIG_ENV_VAR)
    if named:
        return Path(named)
    repository_file = Path(__file__).resolve().parents[2] / "config" / "pipeline.yaml"
    return repository_file if repository_file.is_file() else None


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
) -> PipelineConfig:
    """Read the pipeline configuration.

    Parameters
    ----------
    path : path-like, optional
        YAML file; by default ``$CASINO_EXPLAIN_CONFIG`` or the repository's
        ``config/pipeline.yaml``; with neither, the built-in defaults apply.
    overrides : mapping, optional
        Nested values laid over the file (e.g. the Airflow Variable).

    Returns
    -------
    PipelineConfig

    Raises
    ------
    ParameterError
        The file is missing or malformed, or a key or value is not allowed.

    Examples
    --------
    >>> load_config(overrides={"airflow": {"chunk_size": 5}}).airflow.chunk_size
    5
    """
    chosen = Path(path) if path is not None else default_config_path()
    raw: dict[str, Any] = {}
    if chosen is not None:
        raw = _read_yaml(chosen)
    return PipelineConfig.from_mapping(merge_overrides(raw, overrides))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ParameterError(
            f"cannot read the configuration file {str(path)!r}"
        ) from err
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ParameterError(f"configuration file {str(path)!r} is not YAML") from err
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ParameterError(
            f"configuration file {str(path)!r} must hold a mapping at the top"
        )
    return loaded
