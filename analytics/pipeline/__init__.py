"""The Airflow pipeline's I/O side: source reading, reporting writes, orchestration.

Nothing here is needed to use the analytics core; it turns the core into a daily
job that reads a source database and fills the reporting schema ``explain``.

* :mod:`analytics.pipeline.config` -- the configuration (YAML plus overrides);
* :mod:`analytics.pipeline.source` -- validated, parameterised source queries;
* :mod:`analytics.pipeline.schema` and :mod:`analytics.pipeline.migrate` -- the
  reporting tables and their Alembic migrations;
* :mod:`analytics.pipeline.writer` -- idempotent, atomic answer writes;
* :mod:`analytics.pipeline.runner` -- chunks and backfills, without Airflow;
* :mod:`analytics.pipeline.operators` and :mod:`analytics.pipeline.dags` -- the
  Airflow adapters (importing them imports Airflow);
* :mod:`analytics.pipeline.demo` -- the embedded SQLite demo.

This front door imports no Airflow, so the light modules stay cheap to import.
"""

from __future__ import annotations

from analytics.pipeline.compute import Explanation, explain_casino_day
from analytics.pipeline.config import PipelineConfig, load_config
from analytics.pipeline.connections import engine_from_url
from analytics.pipeline.migrate import downgrade, upgrade
from analytics.pipeline.runner import (
    ChunkOutcome,
    backfill_chunk,
    explain_chunk,
    list_casinos,
    target_date_for,
)
from analytics.pipeline.source import SourceReader, SourceSchemaError
from analytics.pipeline.writer import ReportWriter, SchemaNotMigratedError

__all__ = [
    "ChunkOutcome",
    "Explanation",
    "PipelineConfig",
    "ReportWriter",
    "SchemaNotMigratedError",
    "SourceReader",
    "SourceSchemaError",
    "backfill_chunk",
    "downgrade",
    "engine_from_url",
    "explain_casino_day",
    "explain_chunk",
    "list_casinos",
    "load_config",
    "target_date_for",
    "upgrade",
]
