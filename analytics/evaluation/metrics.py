"""Accuracy of rank_metrics and assess_change on generated cases with known causes.

Every figure is computed on cases from :mod:`analytics.synthetic.metric_cases`,
case i using seed ``seed + i``, so a run is reproducible from its seed and count.
``benchmarks/accuracy_metrics.py`` runs these with 500 cases and writes
``docs/accuracy-metrics.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analytics._metrics import DEFAULT_METHOD, rank_metrics
from analytics._significance import DEFAULT_THRESHOLD, assess_change
from analytics.synthetic.metric_cases import (
    CAUSES,
    KPI,
    SdKind,
    make_change_case,
    make_rank_case,
)

__all__ = ["change_detection_rates", "change_z_scores", "rank_hit_rates"]


def rank_hit_rates(
    *,
    cases: int = 500,
    seed: int = 0,
    methods: Sequence[str] = ("bestranks", DEFAULT_METHOD),
) -> pd.DataFrame:
    """Top-1 and top-3 hit rates of the true metric, by method, setting and cause.

    Each seed gives a pair of cases, identical but for the distractor: ``clean``
    (a planted cause only) and ``distractor`` (the same plus an unrelated metric
    jumping on D in the KPI's direction).

    Returns
    -------
    pandas.DataFrame
        Columns ``method``, ``setting``, ``cause`` (``"all"`` or one of the
        causes), ``cases``, ``top1``, ``top3`` (rates in [0, 1]).
    """
    rows = []
    for i in range(cases):
        for setting in ("clean", "distractor"):
            case = make_rank_case(seed=seed + i, distractor=setting == "distractor")
            for method in methods:
                top = rank_metrics(
                    case.frame,
                    metric_col=KPI,
                    date_target=case.date_target,
                    method=method,
                ).top(3)
                rows.append(
                    {
                        "method": method,
                        "setting": setting,
                        "cause": case.cause,
                        "top1": top[:1] == [case.true_metric],
                        "top3": case.true_metric in top,
                    }
                )
    hits = pd.DataFrame(rows)
    overall = hits.assign(cause="all")
    summary = (
        pd.concat([overall, hits])
        .groupby(["method", "setting", "cause"], sort=False)
        .agg(cases=("top3", "size"), top1=("top1", "mean"), top3=("top3", "mean"))
        .reset_index()
    )
    order = {name: i for i, name in enumerate(["all", *CAUSES])}
    return summary.sort_values(
        ["method", "setting", "cause"],
        key=lambda c: c.map(order) if c.name == "cause" else c,
        ignore_index=True,
    )


def change_z_scores(
    *,
    cases: int = 500,
    seed: int = 0,
    shift_sd: float,
    sd_kind: SdKind = "delta",
) -> np.ndarray:
    """The KPI's robust_z on ``cases`` generated days with a cause of ``shift_sd``.

    ``shift_sd=0`` gives no-cause days. NaN where the z is undefined.
    """
    scores = np.empty(cases)
    for i in range(cases):
        case = make_change_case(seed=seed + i, shift_sd=shift_sd, sd_kind=sd_kind)
        result = assess_change(
            case.frame,
            metric_col=KPI,
            date_target=case.date_target,
            metrics=[],
        )
        scores[i] = result.kpi["robust_z"]
    return scores


def change_detection_rates(
    *,
    cases: int = 500,
    seed: int = 0,
    shifts: Sequence[float] = (0.0, 2.0, 3.0, 4.0),
    sd_kinds: Sequence[SdKind] = ("delta", "level"),
    thresholds: Sequence[float] = (DEFAULT_THRESHOLD,),
) -> pd.DataFrame:
    """Share of days flagged significant, by natural-sd kind, shift and threshold.

    The row with ``shift_sd == 0`` is the false-positive rate (no planted cause);
    the others are detection rates.

    Returns
    -------
    pandas.DataFrame
        Columns ``sd_kind``, ``shift_sd``, ``threshold``, ``cases``,
        ``flagged`` (a rate in [0, 1]).
    """
    rows = []
    for kind in sd_kinds:
        for shift in shifts:
            z = change_z_scores(cases=cases, seed=seed, shift_sd=shift, sd_kind=kind)
            for threshold in thresholds:
                flagged = np.abs(np.nan_to_num(z, nan=0.0)) >= threshold
                rows.append(
                    {
                        "sd_kind": kind,
                        "shift_sd": float(shift),
                        "threshold": float(threshold),
                        "cases": cases,
                        "flagged": float(flagged.mean()),
                    }
                )
    return pd.DataFrame(rows)
