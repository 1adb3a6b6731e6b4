"""The ``casino-explain`` command line: the three analytics on a file, and operations.

Each analysis command reads one CSV, Parquet or JSON file, takes the parameters of
the Python function as options of the same names in kebab-case (``--metric-col``,
``--date-target``, ...) and prints a table, JSON or CSV. Parameters left out take the
function's own defaults. Errors of the project are printed as one line on stderr
with exit code 2; usage errors are typer's, also exit code 2.

The operational commands wrap the pipeline and the service (extras ``pipeline`` and
``service``): ``demo`` runs the real Airflow DAG on an embedded SQLite set-up,
``db`` migrates the reporting schema, ``backfill`` explains a date range without
Airflow, ``serve`` starts the HTTP service.

Examples
--------
.. code-block:: console

    $ casino-explain demo                 # the Airflow pipeline on SQLite
    $ casino-explain demo-files           # demo files and the core alone
    $ casino-explain rank-metrics .demo/daily.csv --where casino_id=C01 \\
          --date-target 2025-05-30
    $ casino-explain rank-segments .demo/segments.csv --where casino_id=C01 \\
          --date-target 2025-05-30 --dimensions zone,player_tier --format json
"""

from __future__ import annotations

import json
import logging
import math
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Protocol

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

import analytics
from analytics._explain_text import explain_in_words, kpi_name, result_dates
from analytics._frames import check_columns, parse_date
from analytics.errors import CasinoExplainError, DuplicateKeyError, InputError
from analytics.io.files import read_table, write_demo_files
from analytics.synthetic.casino import SyntheticCasinoData, generate_casinos

__all__ = ["app"]

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="casino-explain",
    help="Explain why a casino's slot revenue moved between two days.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class OutputFormat(StrEnum):
    """How a command prints its result."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


class _Result(Protocol):
    @property
    def table(self) -> pd.DataFrame: ...

    def to_dict(self) -> dict[str, Any]: ...


# ----------------------------------------------------------------------- options

FileArg = Annotated[
    Path, typer.Argument(help="CSV, Parquet or JSON file with the data.")
]
MetricCol = Annotated[
    str, typer.Option("--metric-col", help="The KPI column, e.g. coin_in.")
]
DateCol = Annotated[str, typer.Option("--date-col", help="The date column.")]
DateTarget = Annotated[
    str, typer.Option("--date-target", help="The day to explain (ISO date).")
]
DateBase = Annotated[
    str | None,
    typer.Option(
        "--date-base", help="The day to compare with [default: 7 days before]."
    ),
]
HistoryWeeks = Annotated[
    int | None,
    typer.Option(
        "--history-weeks", help="Weeks of same-weekday history [default: 13]."
    ),
]
Where = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        help="Keep only rows where COLUMN=VALUE (repeatable), e.g. casino_id=C01.",
    ),
]
Format = Annotated[
    OutputFormat, typer.Option("--format", help="Output: table, json or csv.")
]
Top = Annotated[int, typer.Option("--top", min=1, help="Rows shown in table format.")]


# ----------------------------------------------------------------------- helpers


@contextmanager
def _reported_errors() -> Iterator[None]:
    """Turn project errors into one line on stderr and exit code 2."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        for warning in caught:
            if issubclass(warning.category, analytics.DegenerateInputWarning):
                typer.echo(f"note: {_one_line(str(warning.message))}", err=True)
            else:
                # Numeric noise (e.g. numpy on an empty slice) is not for the reader.
                logger.debug("suppressed warning: %s", warning.message)
    except DuplicateKeyError as err:
        hint = " (several entities in one file? select one with --where COLUMN=VALUE)"
        typer.echo(f"error: {_one_line(str(err))}{hint}", err=True)
        raise typer.Exit(code=2) from err
    except CasinoExplainError as err:
        typer.echo(f"error: {_one_line(str(err))}", err=True)
        raise typer.Exit(code=2) from err


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _split(values: Sequence[str] | None) -> list[str] | None:
    """Accept both ``--x a --x b`` and ``--x a,b``."""
    if not values:
        return None
    return [
        part.strip() for value in values for part in value.split(",") if part.strip()
    ]


def _load(path: Path, where: Sequence[str] | None) -> pd.DataFrame:
    frame = read_table(path)
    for condition in where or ():
        column, sep, value = condition.partition("=")
        if not sep or not column:
            raise InputError(f"--where {condition!r} must look like COLUMN=VALUE")
        check_columns(frame, [column], role="--where")
        frame = frame.loc[frame[column].astype(str) == value]
        if frame.empty:
            raise InputError(f"no rows of {str(path)!r} have {column}={value!r}")
        # Constant now, and a text column would only be reported as skipped.
        frame = frame.drop(columns=column)
    return frame.reset_index(drop=True)


def _given(**options: Any) -> dict[str, Any]:
    """Keep the options the user set, so the functions' own defaults apply."""
    return {name: value for name, value in options.items() if value is not None}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return (
            value.date().isoformat()
            if value == value.normalize()
            else value.isoformat()
        )
    return value


def _console() -> Console:
    # A pipe or a test runner has no terminal width; 120 columns keeps tables whole.
    return Console(width=None if sys.stdout.isatty() else 120, highlight=False)


def _cell(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        number = float(value)
        if column in ("pct_change", "share_of_change"):
            return f"{number:+.1%}"
        if abs(number) >= 1000 or (number.is_integer() and number != 0):
            return f"{number:,.0f}"
        return (
            f"{number:.3f}" if abs(number) >= 0.001 or number == 0 else f"{number:.2e}"
        )
    return str(value)


def _rich_table(frame: pd.DataFrame, *, title: str, top: int) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.head(top).itertuples(index=False):
        table.add_row(
            *(_cell(str(c), v) for c, v in zip(frame.columns, row, strict=True))
        )
    if len(frame) > top:
        table.caption = f"{top} of {len(frame)} rows; --top N shows more"
    return table


def _print_result(
    result: _Result,
    *,
    module: str,
    output: OutputFormat,
    title: str,
    top: int,
    extra: Callable[[Console, dict[str, Any]], None] | None = None,
) -> None:
    as_dict = result.to_dict()
    if output is OutputFormat.JSON:
        typer.echo(json.dumps(_jsonable(as_dict), indent=2, allow_nan=False))
        return
    if output is OutputFormat.CSV:
        typer.echo(_spreadsheet_safe(result.table).to_csv(index=False), nl=False)
        return
    console = _console()
    shown = _columns(result.table, _SHOWN[module])
    console.print(_rich_table(shown, title=title, top=top))
    if extra is not None:
        extra(console, as_dict)
    _print_remarks(console, as_dict)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Quote text cells a spreadsheet would run as a formula (CSV injection).

    Metric and segment names come from the user's data; a name such as
    ``=HYPERLINK(...)`` is written as ``'=HYPERLINK(...)`` so that opening the
    export shows it instead of evaluating it. Numbers are left alone.
    """
    safe = table.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(
                lambda cell: (
                    f"'{cell}"
                    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS)
                    else cell
                )
            )
    return safe


# The columns a table shows (all of them go to JSON and CSV).
_SHOWN: Mapping[str, Sequence[str]] = {
    "rank_metrics": (
        "metric",
        "rank",
        "value_base",
        "value_target",
        "delta",
        "pct_change",
        "norm_delta",
        "score",
        "direction",
        "corr_hist",
    ),
    "assess_change": (
        "metric",
        "value_base",
        "value_target",
        "pct_change",
        "robust_z",
        "percentile",
        "significant",
        "direction",
        "reason",
    ),
    "rank_segments": (
        "segment",
        "depth",
        "value_base",
        "value_target",
        "delta",
        "share_of_change",
        "score",
        "rank",
        "is_root_cause",
    ),
    "breakdown": (
        "dimension",
        "member",
        "value_base",
        "value_target",
        "delta",
        "share_of_change",
        "surprise",
    ),
}


def _print_remarks(console: Console, as_dict: Mapping[str, Any]) -> None:
    skipped = as_dict.get("skipped") or {}
    if isinstance(skipped, Mapping):
        for metric, reason in skipped.items():
            console.print(f"skipped {metric}: {reason}")
    else:
        for item in skipped:
            console.print(f"skipped: {item}")
    for note in as_dict.get("notes") or []:
        console.print(f"note: {note}")


def _kpi_title(module: str, as_dict: Mapping[str, Any]) -> str:
    metric = kpi_name(as_dict)
    dates = result_dates(as_dict)
    return (
        f"{module}: {metric or '?'} on {dates.get('date_target', '?')} "
        f"vs {dates.get('date_base', '?')}"
    )


# ---------------------------------------------------------------------- commands


@app.command("rank-metrics")
def rank_metrics_command(
    file: FileArg,
    date_target: DateTarget,
    metric_col: MetricCol = "coin_in",
    date_col: DateCol = "day",
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            help="bestranks, worstranks, absranks or the project's default method.",
        ),
    ] = None,
    date_base: DateBase = None,
    history_weeks: HistoryWeeks = None,
    metrics: Annotated[
        list[str] | None,
        typer.Option("--metrics", help="Candidate metrics [default: all numeric]."),
    ] = None,
    where: Where = None,
    output: Format = OutputFormat.TABLE,
    top: Top = 15,
) -> None:
    """Rank the metrics that moved with the KPI (one row per date in the file)."""
    with _reported_errors():
        frame = _load(file, where)
        result = analytics.rank_metrics(
            frame,
            metric_col=metric_col,
            date_col=date_col,
            date_target=date_target,
            **_given(
                method=method,
                date_base=date_base,
                history_weeks=history_weeks,
                metrics=_split(metrics),
            ),
        )
        title = _kpi_title("rank_metrics", result.to_dict())
        _print_result(
            result, module="rank_metrics", output=output, title=title, top=top
        )


@app.command("assess-change")
def assess_change_command(
    file: FileArg,
    date_target: DateTarget,
    metric_col: MetricCol = "coin_in",
    date_col: DateCol = "day",
    history_weeks: HistoryWeeks = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold", help="|robust z| that counts as unusual [default: 3.5]."
        ),
    ] = None,
    holidays: Annotated[
        list[str] | None,
        typer.Option("--holidays", help="Holiday dates, comma-separated or repeated."),
    ] = None,
    where: Where = None,
    output: Format = OutputFormat.TABLE,
    top: Top = 15,
) -> None:
    """Judge whether the change of the KPI and each metric is unusual."""
    with _reported_errors():
        frame = _load(file, where)
        result = analytics.assess_change(
            frame,
            metric_col=metric_col,
            date_col=date_col,
            date_target=date_target,
            **_given(
                history_weeks=history_weeks,
                threshold=threshold,
                holidays=_split(holidays),
            ),
        )
        title = _kpi_title("assess_change", result.to_dict())
        _print_result(
            result, module="assess_change", output=output, title=title, top=top
        )


@app.command("rank-segments")
def rank_segments_command(
    file: FileArg,
    date_target: DateTarget,
    metric_col: Annotated[
        str | None,
        typer.Option(
            "--metric-col",
            help="The additive KPI [default: coin_in]; with --numerator and "
            "--denominator only a label for the ratio.",
        ),
    ] = None,
    date_col: DateCol = "day",
    dimensions: Annotated[
        list[str] | None,
        typer.Option(
            "--dimensions",
            help="Dimension columns, comma-separated or repeated "
            "[default: every text column except the date column].",
        ),
    ] = None,
    date_base: DateBase = None,
    max_depth: Annotated[
        int | None,
        typer.Option("--max-depth", help="Deepest segment searched [default: 3]."),
    ] = None,
    numerator: Annotated[
        str | None, typer.Option("--numerator", help="Ratio KPI: numerator column.")
    ] = None,
    denominator: Annotated[
        str | None,
        typer.Option("--denominator", help="Ratio KPI: denominator column."),
    ] = None,
    where: Where = None,
    output: Format = OutputFormat.TABLE,
    top: Top = 15,
) -> None:
    """Find where on the floor the change happened (one row per date and leaf)."""
    with _reported_errors():
        frame = _load(file, where)
        result = analytics.rank_segments(
            frame,
            metric_col=metric_col or (None if numerator else "coin_in"),
            date_col=date_col,
            date_target=date_target,
            dimensions=_split(dimensions) or _text_columns(frame, date_col),
            **_given(
                date_base=date_base,
                max_depth=max_depth,
                numerator=numerator,
                denominator=denominator,
            ),
        )
        title = _kpi_title("rank_segments", result.to_dict())
        _print_result(
            result,
            module="rank_segments",
            output=output,
            title=title,
            top=top,
            extra=_print_breakdown(top),
        )


def _text_columns(frame: pd.DataFrame, date_col: str) -> list[str]:
    return [
        str(column)
        for column, values in frame.items()
        if column != date_col and not pd.api.types.is_numeric_dtype(values)
    ]


def _print_breakdown(top: int) -> Callable[[Console, dict[str, Any]], None]:
    def show(console: Console, as_dict: dict[str, Any]) -> None:
        rows = as_dict.get("breakdown") or []
        if not rows:
            return
        frame = pd.DataFrame(rows)
        if "share_of_change" in frame:
            order = frame["share_of_change"].abs().fillna(0.0)
            frame = frame.loc[order.sort_values(ascending=False).index]
        frame = _columns(frame, _SHOWN["breakdown"])
        console.print(_rich_table(frame, title="breakdown by dimension", top=top))

    return show


# -------------------------------------------------------------------------- demo


class FileFormat(StrEnum):
    """The format of the demo files."""

    CSV = "csv"
    PARQUET = "parquet"
    JSON = "json"


def _demo_case(data: SyntheticCasinoData, casino_id: str) -> dict[str, Any]:
    """Explain the most recent planted cause of one casino (or its last day)."""
    causes = data.causes.loc[data.causes["casino_id"] == casino_id]
    daily = data.daily_for(casino_id)
    if causes.empty:
        cause: dict[str, Any] | None = None
        day, kpi = daily["day"].max(), "coin_in"
    else:
        cause = _jsonable(causes.iloc[-1].to_dict())
        day, kpi = causes["day"].iloc[-1], str(causes["root_metric"].iloc[-1])
    common = {"metric_col": kpi, "date_col": "day", "date_target": day}
    metrics = analytics.rank_metrics(daily, **common)
    significance = analytics.assess_change(daily, **common)
    segments = analytics.rank_segments(
        data.segments_for(casino_id), dimensions=list(data.dimensions), **common
    )
    parts = [r.to_dict() for r in (metrics, significance, segments)]
    return {
        "casino_id": casino_id,
        "date_target": pd.Timestamp(day).date().isoformat(),
        "kpi": kpi,
        "planted_cause": cause,
        "summary": explain_in_words(*parts),
        "rank_metrics": parts[0],
        "assess_change": parts[1],
        "rank_segments": parts[2],
        "_results": (metrics, significance, segments),
    }


def _print_case(console: Console, case: Mapping[str, Any]) -> None:
    metrics, significance, segments = case["_results"]
    day = pd.Timestamp(case["date_target"])
    console.rule(f"[bold]{case['casino_id']}[/]: {day:%A %Y-%m-%d}, KPI {case['kpi']}")
    console.print(case["summary"])
    cause = case["planted_cause"]
    if cause:
        where = cause.get("root_segments") or "everywhere"
        console.print(
            f"[dim]planted cause: {cause['kind']} in {where}: {cause['detail']}[/]"
        )
    show = ["metric", "rank", "value_base", "value_target", "pct_change", "score"]
    console.print(
        _rich_table(_columns(metrics.table, show), title="rank_metrics", top=5)
    )
    unusual = significance.table
    if "significant" in unusual:
        unusual = unusual.loc[unusual["significant"].fillna(False).astype(bool)]
    show = ["metric", "pct_change", "robust_z", "percentile", "significant"]
    title = "assess_change: unusual changes"
    console.print(_rich_table(_columns(unusual, show), title=title, top=6))
    roots = segments.table
    if "is_root_cause" in roots:
        roots = roots.loc[roots["is_root_cause"].fillna(False).astype(bool)]
    show = ["segment", "value_base", "value_target", "delta", "share_of_change"]
    title = "rank_segments: root cause"
    console.print(_rich_table(_columns(roots, show), title=title, top=5))


def _columns(frame: pd.DataFrame, wanted: Sequence[str]) -> pd.DataFrame:
    return frame.loc[:, [c for c in wanted if c in frame.columns]]


@app.command("demo-files")
def demo_files_command(
    directory: Annotated[
        Path, typer.Option("--directory", help="Where the demo files are written.")
    ] = Path(".demo"),
    casinos: Annotated[
        int, typer.Option("--casinos", min=1, help="Number of casinos.")
    ] = 3,
    start: Annotated[str, typer.Option("--start", help="First day.")] = "2024-01-01",
    end: Annotated[str, typer.Option("--end", help="Last day.")] = "2025-06-30",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    file_format: Annotated[
        FileFormat, typer.Option("--file-format", help="Format of the demo files.")
    ] = FileFormat.CSV,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="Output: table or json.")
    ] = OutputFormat.TABLE,
) -> None:
    """Generate demo files with planted causes; explain one day per casino.

    The core alone, no database and no Airflow: the quickest look at the three
    analyses. ``casino-explain demo`` runs the whole pipeline instead.
    """
    with _reported_errors():
        if output is OutputFormat.CSV:
            raise InputError(
                "--format csv is not available for demo; use table or json"
            )
        data = generate_casinos(n_casinos=casinos, start=start, end=end, seed=seed)
        written = write_demo_files(data, directory, file_format=file_format.value)
        cases = [_demo_case(data, casino_id) for casino_id in data.casino_ids]
        if output is OutputFormat.JSON:
            plain = [{k: v for k, v in c.items() if k != "_results"} for c in cases]
            report = {"files": {k: str(v) for k, v in written.items()}, "cases": plain}
            typer.echo(json.dumps(_jsonable(report), indent=2, allow_nan=False))
            return
        console = _console()
        console.print(
            f"Demo data for {casinos} casino(s), {start} to {end}, written to "
            f"{directory}/ ({', '.join(p.name for p in written.values())})."
        )
        for case in cases:
            _print_case(console, case)


# ------------------------------------------------------------------ operations


def _optional(module: str, extra: str) -> Any:
    """Import a module of an optional extra, or say which extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise CasinoExplainError(
            f"this command needs the {extra!r} extra: "
            f"pip install 'casino-explain[{extra}]' ({err.name} is missing)"
        ) from err


@app.command("demo")
def demo_command(
    home: Annotated[
        Path,
        typer.Option("--home", help="Directory for the databases and AIRFLOW_HOME."),
    ] = Path(".demo"),
    casinos: Annotated[
        int, typer.Option("--casinos", min=1, help="Number of casinos.")
    ] = 4,
    date_target: Annotated[
        str | None,
        typer.Option(
            "--date-target",
            help="Gaming day to explain [default: the last day with a planted cause].",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
) -> None:
    """Run the main job on the embedded default and print the daily summary.

    Generates demo casinos into a SQLite source database, migrates a SQLite
    reporting database, initialises Airflow's SQLite metadata database and runs the
    real casino_daily_explanations DAG for one gaming day.
    """
    with _reported_errors():
        demo = _optional("analytics.pipeline.demo", "pipeline")
        demo.run_demo(
            home, n_casinos=casinos, date_target=date_target, seed=seed, echo=typer.echo
        )


db_app = typer.Typer(
    help="Migrate the reporting database (Alembic).", no_args_is_help=True
)
app.add_typer(db_app, name="db")

ReportingUrl = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Reporting database URL [default: $CASINO_EXPLAIN_REPORTING_URL "
        "or $AIRFLOW_CONN_CASINO_REPORTING].",
    ),
]


@db_app.command("upgrade")
def db_upgrade_command(
    url: ReportingUrl = None,
    revision: Annotated[str, typer.Option("--revision")] = "head",
) -> None:
    """Apply the reporting-schema migrations up to REVISION (default: head)."""
    with _reported_errors():
        migrate = _optional("analytics.pipeline.migrate", "pipeline")
        target = migrate.reporting_url(url)
        migrate.upgrade(target, revision=revision)
        typer.echo(f"reporting schema at {migrate.current_revision(target)}")


@db_app.command("downgrade")
def db_downgrade_command(
    revision: Annotated[str, typer.Option("--revision", help="e.g. 0001 or base")],
    url: ReportingUrl = None,
) -> None:
    """Undo the reporting-schema migrations down to REVISION."""
    with _reported_errors():
        migrate = _optional("analytics.pipeline.migrate", "pipeline")
        target = migrate.reporting_url(url)
        migrate.downgrade(target, revision=revision)
        typer.echo(f"reporting schema at {migrate.current_revision(target)}")


@db_app.command("current")
def db_current_command(url: ReportingUrl = None) -> None:
    """Print the reporting schema's revision (none when not migrated)."""
    with _reported_errors():
        migrate = _optional("analytics.pipeline.migrate", "pipeline")
        typer.echo(migrate.current_revision(migrate.reporting_url(url)) or "none")


@app.command("backfill")
def backfill_command(
    date_from: Annotated[
        str, typer.Option("--from", help="First gaming day to explain (ISO date).")
    ],
    date_to: Annotated[
        str, typer.Option("--to", help="Last gaming day to explain (ISO date).")
    ],
    casino: Annotated[
        list[str] | None,
        typer.Option("--casino", help="Casino id (repeatable) [default: all]."),
    ] = None,
    source_url: Annotated[
        str | None,
        typer.Option(
            "--source-url",
            help="Source database URL [default: $CASINO_EXPLAIN_SOURCE_URL].",
        ),
    ] = None,
    reporting: ReportingUrl = None,
    config_path: Annotated[
        Path | None,
        typer.Option("--config", help="Pipeline YAML [default: config/pipeline.yaml]."),
    ] = None,
) -> None:
    """Explain every gaming day of a range with the bulk path, without Airflow.

    The same code as the casino_backfill_explanations DAG, in one process: per
    casino the source is read once and the answers are loaded in bulk. Reruns
    replace earlier answers.
    """
    import os

    with _reported_errors():
        config_module = _optional("analytics.pipeline.config", "pipeline")
        connections = _optional("analytics.pipeline.connections", "pipeline")
        migrate = _optional("analytics.pipeline.migrate", "pipeline")
        runner = _optional("analytics.pipeline.runner", "pipeline")
        first = parse_date(date_from, name="--from").date()
        last = parse_date(date_to, name="--to").date()
        source = source_url or os.environ.get("CASINO_EXPLAIN_SOURCE_URL")
        if not source:
            raise InputError(
                "no source database given; pass --source-url or set "
                "CASINO_EXPLAIN_SOURCE_URL"
            )
        config = config_module.load_config(config_path)
        source_engine = connections.engine_from_url(source)
        reporting_engine = connections.engine_from_url(migrate.reporting_url(reporting))
        casinos = list(casino or []) or runner.list_casinos(
            source_engine, config, date_target=last
        )
        outcome = runner.backfill_chunk(
            casinos,
            date_from=first,
            date_to=last,
            config=config,
            source=source_engine,
            reporting=reporting_engine,
        )
        typer.echo(
            f"backfill {first}..{last}: {len(casinos)} casino(s), "
            f"{outcome.succeeded} answers written, {outcome.failed} failed, "
            f"{outcome.skipped} skipped in {outcome.seconds:.1f} s"
        )
        for key, reason in outcome.failures.items():
            typer.echo(f"failed: {key}: {reason}", err=True)
        if outcome.failed:
            raise typer.Exit(code=1)


@app.command("serve")
def serve_command(
    host: Annotated[
        str | None, typer.Option("--host", help="[default: 127.0.0.1]")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="[default: 5000]")] = None,
) -> None:
    """Serve the three modules over HTTP (see docs/http-service.md)."""
    with _reported_errors():
        service = _optional("analytics.service", "service")
        service.serve(host, port)
