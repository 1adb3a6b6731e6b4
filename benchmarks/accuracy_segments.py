"""Measure the root-cause localization's F1 and speed; write docs/accuracy-segments.md.

Usage::

    .venv/bin/python benchmarks/accuracy_segments.py            # full run
    .venv/bin/python benchmarks/accuracy_segments.py --cases 5  # quick look

The run scores additive and ratio-KPI cases of about 20,000 leaves at every
difficulty (easy, standard, hard) and every setting (depth 1..3 x 1..3 root
causes), then the standard cases again without the size-aware noise model and
without the minimum share (what each part buys), then a few cases of about
200,000 leaves, and writes the tables, the seeds and the machine's facts.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy

from analytics.evaluation.segments import evaluate_segments, summarize
from analytics.synthetic.cube import DIFFICULTIES

logger = logging.getLogger("benchmarks.accuracy_segments")

OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "accuracy-segments.md"
KINDS = (("additive", False), ("ratio", True))
ABLATIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("one noise level for all leaves (`size_aware=False`)", {"size_aware": False}),
    ("no minimum share (`min_share=0`)", {"min_share": 0.0}),
)


def _markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    lines = [header, rule]
    for row in table.itertuples(index=False):
        cells = []
        for value in row:
            if isinstance(value, float):
                cells.append(f"{value:.3f}" if value < 10 else f"{value:.1f}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _load() -> str:
    if not hasattr(os, "getloadavg"):
        return "unknown"
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min)"


def _machine(load_at_start: str) -> list[str]:
    return [
        f"- platform: {platform.platform()}",
        f"- processor: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical cores",
        f"- load average at the start {load_at_start}; at the end {_load()}. "
        "Other jobs shared the machine: times are wall-clock seconds of one "
        "localization, so a busy machine inflates them.",
        f"- Python {platform.python_version()}, numpy {np.__version__}, "
        f"pandas {pd.__version__}, scipy {scipy.__version__}",
    ]


def _run(label: str, **options: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    started = time.perf_counter()
    per_case = evaluate_segments(**options)
    summary = summarize(per_case)
    overall = summary.iloc[-1]
    logger.info(
        "%s: %s cases, F1 %.4f, %.3f s per case, %.0f s in all",
        label,
        overall["cases"],
        overall["f1"],
        overall["seconds_mean"],
        time.perf_counter() - started,
    )
    return per_case, summary


def _overview_row(name: str, kind: str, summary: pd.DataFrame) -> dict[str, Any]:
    overall = summary.iloc[-1]
    return {
        "difficulty": name,
        "kpi": kind,
        "cases": int(overall["cases"]),
        "tp": int(overall["tp"]),
        "fp": int(overall["fp"]),
        "fn": int(overall["fn"]),
        "f1": float(overall["f1"]),
        "seconds_mean": float(overall["seconds_mean"]),
        "seconds_p95": float(overall["seconds_p95"]),
        "seconds_max": float(overall["seconds_max"]),
    }


def _misses(per_case: pd.DataFrame, limit: int = 40) -> str:
    wrong = per_case[(per_case["fp"] > 0) | (per_case["fn"] > 0)]
    if wrong.empty:
        return "No case missed a root cause or reported a false one.\n"
    lines = [
        "| seed | difficulty | kind | noise | truth | predicted |",
        "|---|---|---|---|---|---|",
    ]
    for row in wrong.head(limit).itertuples(index=False):
        lines.append(
            f"| {row.seed} | {row.difficulty} | {row.kind} | {row.noise_level:.3f} "
            f"| {row.truth} | {row.predicted} |"
        )
    shown = min(limit, len(wrong))
    return (
        f"{len(wrong)} cases with a miss or a false segment (first {shown}; "
        "noise = the case's relative noise at the median leaf):\n\n"
        + "\n".join(lines)
        + "\n"
    )


def _difficulty_table() -> str:
    rows = []
    for setting in DIFFICULTIES.values():
        plus = " + noise" if setting.magnitude_plus_noise else ""
        rows.append(
            {
                "difficulty": setting.name,
                "noise at the median leaf": "{:.0%} to {:.0%}".format(
                    *setting.noise_range
                ),
                "small leaves noisier": "yes" if setting.heteroscedastic else "no",
                "move of a root cause": "{:.0%} to {:.0%}".format(
                    *setting.magnitude_range
                )
                + plus,
                "zero leaves": "{:.0%} to {:.0%}".format(*setting.zero_rate_range),
            }
        )
    return _markdown(pd.DataFrame(rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=30, help="cases per setting")
    parser.add_argument("--big-cases", type=int, default=3, help="200k-leaf cases")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    load_at_start = _load()

    overview, details, all_cases = [], [], []
    for name in DIFFICULTIES:
        for kind, ratio in KINDS:
            per_case, summary = _run(
                f"{name} {kind} 20k",
                cases_per_setting=args.cases,
                n_leaves=20_000,
                ratio=ratio,
                seed=args.seed,
                difficulty=name,
            )
            all_cases.append(per_case)
            overview.append(_overview_row(name, kind, summary))
            details.append(f"### {name}, {kind} KPI, about 20,000 leaves\n")
            details.append(_markdown(summary) + "\n")

    ablation = []
    for label, options in ABLATIONS:
        for kind, ratio in KINDS:
            _, summary = _run(
                f"standard {kind} 20k, {label}",
                cases_per_setting=args.cases,
                n_leaves=20_000,
                ratio=ratio,
                seed=args.seed,
                difficulty="standard",
                options=options,
            )
            ablation.append(_overview_row(label, kind, summary))

    big = []
    for kind, ratio in KINDS:
        per_case, summary = _run(
            f"standard {kind} 200k",
            cases_per_setting=args.big_cases,
            n_leaves=200_000,
            ratio=ratio,
            seed=args.seed + 1,
            settings=[(3, 3)],
            difficulty="standard",
        )
        all_cases.append(per_case)
        big.append(_overview_row("standard", kind, summary))

    combined = pd.concat(all_cases, ignore_index=True)
    text = "\n".join(
        [
            "# Accuracy of rank_segments' root-cause localization\n",
            "Written by `benchmarks/accuracy_segments.py` "
            f"(`--cases {args.cases} --big-cases {args.big_cases} "
            f"--seed {args.seed}`); do not edit by hand. How the cases are built "
            "and how the search works: `docs/method-segments.md`.\n",
            "F1 = 2 TP / (2 TP + FP + FN), counts summed over the cases of a row, "
            "segments compared as exact strings. `seconds_*` time the "
            "localization of one case (not its generation): mean, 95th "
            "percentile and maximum. Case seeds: `seed * 1,000,000 + setting * "
            "10,000 + index`, settings numbered 0..8 in the order of the "
            f"detailed tables (20k rows use seed {args.seed}, 200k rows seed "
            f"{args.seed + 1}, setting 0 = depth 3, 3 root causes). The same "
            "seeds give the same cube at every difficulty up to the noise and "
            "the moves.\n",
            "## Difficulties\n",
            _difficulty_table() + "\n",
            "Every case: 4 or 5 dimensions of 5 to 40 members, about 20,000 "
            "leaves, Weibull base values (shape 0.5 to 1), 1 to 3 disjoint root "
            "causes at depth 1 to 3 whose leaves move by one relative amount. "
            "The public RiskLoc synthetic sets draw 0 to 25 % noise, equal on "
            "every leaf, and moves of 20 to 100 % plus the noise: `standard` is "
            "at least as hard, `hard` harder.\n",
            "## Overview, about 20,000 leaves\n",
            _markdown(pd.DataFrame(overview)) + "\n",
            "## What each part buys (standard cases)\n",
            _markdown(pd.DataFrame(ablation)) + "\n",
            "## About 200,000 leaves (standard, depth 3, 3 root causes)\n",
            _markdown(pd.DataFrame(big)) + "\n",
            "## By depth and number of root causes\n",
            *details,
            "## Misses\n",
            _misses(combined),
            "## Machine\n",
            *_machine(load_at_start),
            "",
        ]
    )
    args.output.write_text(text, encoding="utf-8")
    logger.info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
