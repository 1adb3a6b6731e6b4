"""Accuracy of the root-cause localization, scored as the literature scores it.

Per case the predicted segments are compared as exact strings with the injected
ones: a true positive is a predicted segment that is injected, a false positive
one that is not, a false negative an injected segment not predicted. The F1 of a
group of cases is ``2 TP / (2 TP + FP + FN)`` with the counts summed over its
cases (METHOD.md section 3), as in the Squeeze and RiskLoc papers.

Cases come from :func:`analytics.synthetic.cube.generate_cube_case`, one group
per *setting* (depth of the injected segments 1..3 x number of them 1..3), at
one named difficulty (``"easy"``, ``"standard"``, ``"hard"``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from analytics._segments import localize_root_causes, ratio_leaf_values
from analytics.errors import ParameterError
from analytics.synthetic.cube import CubeCase, CubeDifficulty, generate_cube_case

__all__ = [
    "SETTINGS",
    "CaseScore",
    "count_matches",
    "evaluate_segments",
    "f1_score",
    "localize_case",
    "summarize",
]

SETTINGS: tuple[tuple[int, int], ...] = tuple(
    (depth, count) for depth in (1, 2, 3) for count in (1, 2, 3)
)
RATIO_COLUMNS = (
    "numerator_base",
    "denominator_base",
    "numerator_target",
    "denominator_target",
)


@dataclass(frozen=True)
class CaseScore:
    """The outcome of one case."""

    seed: int
    kind: str
    difficulty: str
    noise_level: float
    depth: int
    n_root_causes: int
    n_leaves: int
    truth: str
    predicted: str
    tp: int
    fp: int
    fn: int
    seconds: float


def count_matches(
    predicted: Iterable[str], truth: Iterable[str]
) -> tuple[int, int, int]:
    """Return ``(tp, fp, fn)`` comparing segment strings exactly.

    Examples
    --------
    >>> count_matches(["a=a1", "b=b2&c=c1"], ["a=a1", "c=c3"])
    (1, 1, 1)
    """
    predicted_set, true_set = set(predicted), set(truth)
    return (
        len(predicted_set & true_set),
        len(predicted_set - true_set),
        len(true_set - predicted_set),
    )


def f1_score(tp: int, fp: int, fn: int) -> float:
    """F1 = 2 TP / (2 TP + FP + FN); NaN when all three counts are 0.

    Examples
    --------
    >>> round(f1_score(9, 1, 2), 4)
    0.8571
    """
    denominator = 2 * tp + fp + fn
    return 2 * tp / denominator if denominator else math.nan


def localize_case(
    case: CubeCase, *, max_depth: int = 3, **options: Any
) -> tuple[str, ...]:
    """Run the localization on one generated case and return its segments.

    A ratio case goes through :func:`analytics._segments.ratio_leaf_values`,
    the conversion :func:`analytics.rank_segments` uses. ``options`` go to
    :func:`analytics._segments.localize_root_causes` (e.g. ``min_share``).
    """
    leaves = case.leaves
    dimensions = list(case.dimensions)
    if case.kind == "ratio":
        real, predict = ratio_leaf_values(
            *(leaves[c].to_numpy(dtype=np.float64) for c in RATIO_COLUMNS)
        )
        leaves = leaves[dimensions].assign(real=real, predict=predict)
    found = localize_root_causes(leaves, dimensions, max_depth=max_depth, **options)
    return found.root_causes


def _case_seed(seed: int, setting: int, index: int) -> int:
    return seed * 1_000_000 + setting * 10_000 + index


def evaluate_segments(
    *,
    cases_per_setting: int = 50,
    n_leaves: int = 20_000,
    ratio: bool = False,
    seed: int = 0,
    settings: Sequence[tuple[int, int]] = SETTINGS,
    difficulty: str | CubeDifficulty = "standard",
    options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Generate and score cases, one row per case.

    Parameters
    ----------
    cases_per_setting : int
        Cases per (depth, number of root causes) setting.
    n_leaves : int
        Approximate leaves per case.
    ratio : bool
        Score ratio-KPI cases instead of additive ones.
    seed : int
        Base seed; case seeds are derived from it, the setting and the index.
    settings : sequence of (depth, n_root_causes)
        The settings to run; default depth 1..3 x 1..3 root causes.
    difficulty : str or CubeDifficulty
        How hard the cases are (see :data:`analytics.synthetic.cube.DIFFICULTIES`).
    options : mapping, optional
        Keyword options for the localizer (e.g. ``{"min_share": 0.0}``).

    Returns
    -------
    pandas.DataFrame
        The fields of :class:`CaseScore` per case; ``seconds`` times the
        localization only (not the generation).
    """
    if isinstance(cases_per_setting, bool) or cases_per_setting < 1:
        raise ParameterError(
            f"cases_per_setting must be at least 1, got {cases_per_setting!r}"
        )
    rows = []
    for number, (depth, count) in enumerate(settings):
        for index in range(cases_per_setting):
            case_seed = _case_seed(seed, number, index)
            case = generate_cube_case(
                case_seed,
                n_leaves=n_leaves,
                n_root_causes=count,
                depth=depth,
                ratio=ratio,
                difficulty=difficulty,
            )
            started = time.perf_counter()
            predicted = localize_case(case, **dict(options or {}))
            seconds = time.perf_counter() - started
            tp, fp, fn = count_matches(predicted, case.root_causes)
            score = CaseScore(
                seed=case_seed,
                kind=case.kind,
                difficulty=case.difficulty,
                noise_level=case.noise_level,
                depth=depth,
                n_root_causes=count,
                n_leaves=len(case.leaves),
                truth=case.label,
                predicted=";".join(predicted),
                tp=tp,
                fp=fp,
                fn=fn,
                seconds=seconds,
            )
            rows.append(asdict(score))
    return pd.DataFrame(rows)


def summarize(per_case: pd.DataFrame) -> pd.DataFrame:
    """F1 and seconds per case for each setting, plus an ``all`` row.

    Returns
    -------
    pandas.DataFrame
        ``depth``, ``n_root_causes``, ``cases``, ``tp``, ``fp``, ``fn``, ``f1``,
        ``seconds_mean``, ``seconds_p95``, ``seconds_max``.
    """
    keys = ["depth", "n_root_causes"]
    grouped = per_case.groupby(keys, sort=True)
    table = grouped.agg(
        cases=("seed", "size"),
        tp=("tp", "sum"),
        fp=("fp", "sum"),
        fn=("fn", "sum"),
        seconds_mean=("seconds", "mean"),
        seconds_p95=("seconds", lambda seconds: float(np.quantile(seconds, 0.95))),
        seconds_max=("seconds", "max"),
    ).reset_index()
    overall = pd.DataFrame(
        [
            {
                "depth": "all",
                "n_root_causes": "all",
                "cases": len(per_case),
                "tp": int(per_case["tp"].sum()),
                "fp": int(per_case["fp"].sum()),
                "fn": int(per_case["fn"].sum()),
                "seconds_mean": float(per_case["seconds"].mean()),
                "seconds_p95": float(np.quantile(per_case["seconds"], 0.95)),
                "seconds_max": float(per_case["seconds"].max()),
            }
        ]
    )
    table = pd.concat(
        [table.astype({"depth": object, "n_root_causes": object}), overall]
    )
    table["f1"] = [
        f1_score(int(tp), int(fp), int(fn))
        for tp, fp, fn in zip(table["tp"], table["fp"], table["fn"], strict=True)
    ]
    columns = [
        *keys,
        "cases",
        "tp",
        "fp",
        "fn",
        "f1",
        "seconds_mean",
        "seconds_p95",
        "seconds_max",
    ]
    return table[columns].reset_index(drop=True)
