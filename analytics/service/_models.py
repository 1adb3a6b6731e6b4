"""The parameters each endpoint accepts, one pydantic model per module.

The names are those of the analytics functions (and of the old service, so
existing notebooks keep working): ``path``, ``metric_col``, ``date_col``,
``date_target``, ``method`` and so on. A parameter left out takes the analytics
function's own default.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "AssessChangeRequest",
    "ExplainRequest",
    "RankMetricsRequest",
    "RankSegmentsRequest",
]

OutputFormat = Literal["json", "png"]

_PATH_HELP = (
    "Data file to explain: a path relative to the service's data root "
    "(CSV, Parquet or JSON; pickle is refused), or an http(s) URL on a host the "
    "service allows."
)


def split_list(value: object) -> object:
    """Accept ``"a,b"`` and ``["a,b", "c"]`` as well as ``["a", "b", "c"]``.

    Query strings carry lists either as repeated parameters or comma-separated.
    """
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        parts: list[object] = []
        for item in value:
            if isinstance(item, str):
                parts.extend(p.strip() for p in item.split(",") if p.strip())
            else:
                parts.append(item)
        return parts
    return value


class ExplainRequest(BaseModel):
    """Parameters shared by the three endpoints: where the data is and which day."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # Parameters whose values form a list; a query string may repeat them.
    list_fields: ClassVar[frozenset[str]] = frozenset()
    # Parameters that only steer the service, never passed to the analytics.
    service_fields: ClassVar[frozenset[str]] = frozenset(
        {"path", "casino_id", "format", "chart"}
    )

    path: str | None = Field(
        default=None, min_length=1, max_length=2048, description=_PATH_HELP
    )
    casino_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Instead of path: read this casino's window from the source "
        "database the service is configured with.",
    )
    metric_col: str = Field(
        min_length=1,
        max_length=256,
        description="The KPI column whose change is explained, e.g. coin_in or coinIn.",
    )
    date_col: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="The date column of the data (left out: the analytics default).",
    )
    date_target: str = Field(
        min_length=1,
        max_length=64,
        description="The day being explained, ISO format such as 2019-07-17.",
    )
    format: OutputFormat | None = Field(
        default=None,
        description="json (the default) or png for a chart; "
        "'Accept: image/png' also asks for the chart.",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _split_lists(cls, value: object, info: ValidationInfo) -> object:
        if info.field_name in cls.list_fields:
            return split_list(value)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ExplainRequest:
        if (self.path is None) == (self.casino_id is None):
            raise ValueError("give exactly one of path (a file) and casino_id")
        return self

    def analytics_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments for the analytics function.

        Parameters the client left out are omitted, so the function's own
        defaults apply.
        """
        return self.model_dump(exclude_none=True, exclude=set(self.service_fields))


class RankMetricsRequest(ExplainRequest):
    """Which metrics moved with the KPI (``rank_metrics``, once SingleRankMetrics)."""

    list_fields: ClassVar[frozenset[str]] = frozenset({"metrics"})

    method: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Ranking method: bestranks, worstranks, absranks or the "
        "project's default method (left out: the default).",
    )
    date_base: str | None = Field(
        default=None,
        max_length=64,
        description="The day compared with; left out: date_target minus 7 days.",
    )
    history_weeks: int | None = Field(
        default=None, ge=1, le=520, description="Weeks of same-weekday history."
    )
    metrics: list[str] | None = Field(
        default=None,
        description="Metrics to rank; left out: every numeric column but the KPI.",
    )
    chart: Literal["bars", "waterfall"] = Field(
        default="bars",
        description="With format=png: horizontal bars of the ranking score, or a "
        "waterfall of the metrics' contributions to the KPI's change.",
    )


class AssessChangeRequest(ExplainRequest):
    """Whether the change is unusual against history (``assess_change``)."""

    list_fields: ClassVar[frozenset[str]] = frozenset({"holidays"})

    history_weeks: int | None = Field(
        default=None, ge=1, le=520, description="Weeks of same-weekday history."
    )
    threshold: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="|robust_z| at or above which a change is significant.",
    )
    holidays: list[str] | None = Field(
        default=None,
        description="Holiday dates (ISO) to flag when the target or base date is one.",
    )


class RankSegmentsRequest(ExplainRequest):
    """Where on the floor the change happened (``rank_segments``)."""

    list_fields: ClassVar[frozenset[str]] = frozenset({"dimensions"})

    dimensions: list[str] = Field(
        min_length=1,
        max_length=10,
        description="Dimension columns of the long table, e.g. zone, denomination.",
    )
    date_base: str | None = Field(
        default=None,
        max_length=64,
        description="The day compared with; left out: date_target minus 7 days.",
    )
    max_depth: int | None = Field(
        default=None, ge=1, le=10, description="Deepest segment searched."
    )
    numerator: str | None = Field(
        default=None,
        max_length=256,
        description="Numerator column of a ratio KPI (with denominator).",
    )
    denominator: str | None = Field(
        default=None,
        max_length=256,
        description="Denominator column of a ratio KPI (with numerator).",
    )

    @model_validator(mode="after")
    def _ratio_needs_both(self) -> RankSegmentsRequest:
        if (self.numerator is None) != (self.denominator is None):
            raise ValueError("numerator and denominator must be given together")
        return self
