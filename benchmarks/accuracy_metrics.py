"""Measure rank_metrics and assess_change on generated cases; write the figures.

    python benchmarks/accuracy_metrics.py    # 500 cases into docs/accuracy-metrics.md
    python benchmarks/accuracy_metrics.py --cases 50 --out -    # a quick look

The cases come from analytics.synthetic.metric_cases; the definitions of a case,
a planted cause, a distractor and a natural standard deviation are in that module
and in docs/method-metrics.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from analytics._metrics import DEFAULT_METHOD
from analytics._significance import DEFAULT_THRESHOLD
from analytics.evaluation.metrics import change_detection_rates, rank_hit_rates
from analytics.synthetic.metric_cases import (
    DISTRACTOR_JUMP_SD,
    RANK_EFFECT_SD,
)

RANK_SEED = 20_000
CHANGE_SEED = 40_000
THRESHOLDS = (DEFAULT_THRESHOLD, 3.0, 2.5)


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _rank_section(rates: pd.DataFrame, cases: int) -> list[str]:
    overall = rates[rates["cause"] == "all"].set_index(["method", "setting"])
    lines = [
        "## rank_metrics: is the planted cause among the first three?",
        "",
        f"{cases} seeds, each giving a clean case and the same case with a "
        f"distractor (seeds {RANK_SEED} to {RANK_SEED + cases - 1}). The cause moves "
        f"coin_in on D by U{RANK_EFFECT_SD} natural sd (kind `delta`); the "
        f"distractor jumps by U{DISTRACTOR_JUMP_SD} of its own natural sd, in the "
        "KPI's direction.",
        "",
        "| method | clean top-1 | clean top-3 | distractor top-1 | distractor top-3 |",
        "|---|---|---|---|---|",
    ]
    for method in overall.index.get_level_values("method").unique():
        clean, noisy = (
            overall.loc[(method, "clean")],
            overall.loc[(method, "distractor")],
        )
        name = f"`{method}`" + (" (default)" if method == DEFAULT_METHOD else "")
        lines.append(
            f"| {name} | {_percent(clean['top1'])} | {_percent(clean['top3'])} | "
            f"{_percent(noisy['top1'])} | {_percent(noisy['top3'])} |"
        )
    lines += ["", "By planted cause (top-3, clean / distractor):", ""]
    causes = [c for c in rates["cause"].unique() if c != "all"]
    lines.append("| method | " + " | ".join(f"{c}" for c in causes) + " |")
    lines.append("|---" * (len(causes) + 1) + "|")
    by_cause = {
        (row["method"], row["setting"], row["cause"]): row
        for row in rates.to_dict(orient="records")
    }
    for method in overall.index.get_level_values("method").unique():
        cells = []
        for cause in causes:
            clean = by_cause[(method, "clean", cause)]
            noisy = by_cause[(method, "distractor", cause)]
            cells.append(
                f"{_percent(clean['top3'])} / {_percent(noisy['top3'])} "
                f"(n={int(clean['cases'])})"
            )
        lines.append(f"| `{method}` | " + " | ".join(cells) + " |")
    return lines


def _change_section(rates: pd.DataFrame, cases: int) -> list[str]:
    lines = [
        "## assess_change: how often is coin_in flagged?",
        "",
        f"{cases} generated days per row (seeds {CHANGE_SEED} to "
        f"{CHANGE_SEED + cases - 1}, the same days in every row); a shift of 0 is "
        "a day with no planted cause, so its row is the false-positive rate. D and "
        "B are never holidays. Default threshold "
        f"{DEFAULT_THRESHOLD}; the other thresholds are shown for context only.",
        "",
    ]
    for kind, title in (
        ("delta", "natural sd = sd of same-weekday week-over-week deltas"),
        ("level", "natural sd = sd of the day level around its weekday mean"),
    ):
        part = rates[rates["sd_kind"] == kind]
        if part.empty:
            continue
        table = part.pivot(index="shift_sd", columns="threshold", values="flagged")
        table = table[sorted(table.columns, reverse=True)]
        lines += [
            f"### {title} (`{kind}`)",
            "",
            "| shift (natural sd) | "
            + " | ".join(f"threshold {t:g}" for t in table.columns)
            + " |",
            "|---" * (len(table.columns) + 1) + "|",
        ]
        for shift, row in table.iterrows():
            label = "0 (no cause)" if shift == 0 else f"{shift:g}"
            lines.append(f"| {label} | " + " | ".join(_percent(v) for v in row) + " |")
        lines.append("")
    return lines


def _target_threshold(rates: pd.DataFrame) -> str:
    """Which tested thresholds meet METHOD.md's target on the `delta` definition."""
    part = rates[rates["sd_kind"] == "delta"].set_index(["threshold", "shift_sd"])
    thresholds = sorted(part.index.get_level_values("threshold").unique())
    meeting = [
        t
        for t in reversed(thresholds)
        if (t, 0.0) in part.index
        and (t, 4.0) in part.index
        and part.loc[(t, 0.0), "flagged"] <= 0.05
        and part.loc[(t, 4.0), "flagged"] >= 0.90
    ]
    if not meeting:
        return "None of the tested thresholds meets it on these cases."
    best = meeting[0]
    return (
        f"The highest tested threshold that meets it is {best:g}: "
        f"{_percent(part.loc[(best, 0.0), 'flagged'])} of no-cause days flagged, "
        f"{_percent(part.loc[(best, 4.0), 'flagged'])} of 4-sd days detected."
    )


def _reading(change: pd.DataFrame) -> list[str]:
    default = change[
        (change["sd_kind"] == "delta") & (change["threshold"] == DEFAULT_THRESHOLD)
    ].set_index("shift_sd")["flagged"]
    return [
        "## Reading the assess_change figures",
        "",
        "METHOD.md's target is at most about 1 in 20 no-cause days flagged and at "
        "least 9 in 10 detected at a shift of 4 natural sd. At the default threshold "
        f"{DEFAULT_THRESHOLD:g} the false flags are well inside it "
        f"({_percent(default.get(0.0, float('nan')))}) but detection at 4 sd is "
        f"{_percent(default.get(4.0, float('nan')))}"
        + (", short of 90%. " if default.get(4.0, 0.0) < 0.9 else ". ")
        + _target_threshold(change),
        "",
        "Why: today's delta carries the day's own noise as well as the shift, the "
        "same noise the historical deltas carry, so robust_z is roughly "
        "shift + N(0, 1) on the test's scale, and P(N(4, 1) >= 3.5) is about 69%. "
        "The measured rate is higher because the natural sd is a plain sd over two "
        "years, holiday weeks included, about 1.2 times the robust scale "
        "(1.4826 MAD) the test estimates from its 12 local deltas; the noise of that "
        "estimate from 12 values works the other way. The `level` definition gives "
        "lower rates: on this floor the weekly noise is nearly independent from week "
        "to week and the drift is small, so the level sd is smaller than the delta "
        "sd. The default threshold stays at METHOD.md's 3.5; a deployment that wants "
        "the target's balance can pass a lower `threshold`.",
    ]


def _report(
    cases: int, rank: pd.DataFrame, change: pd.DataFrame, seconds: float
) -> str:
    lines = [
        "# Accuracy of rank_metrics and assess_change",
        "",
        "Written by `python benchmarks/accuracy_metrics.py "
        f"--cases {cases}`; rerun it to reproduce every figure (the cases are "
        f"seeded). The run took {seconds:.0f} s. How the cases are built and what "
        "the methods do: `docs/method-metrics.md` and "
        "`analytics/synthetic/metric_cases.py`.",
        "",
        *_rank_section(rank, cases),
        "",
        *_change_section(change, cases),
        *_reading(change),
    ]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument(
        "--out", default="docs/accuracy-metrics.md", help="a path, or - for stdout"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    rank = rank_hit_rates(cases=args.cases, seed=RANK_SEED)
    change = change_detection_rates(
        cases=args.cases, seed=CHANGE_SEED, thresholds=THRESHOLDS
    )
    text = _report(args.cases, rank, change, time.perf_counter() - started)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
