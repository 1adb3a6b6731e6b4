"""Measure the root-cause localization's F1 and speed; write docs/accuracy-segments.md.

Usage::

    .venv/bin/python benchmarks/accuracy_segments.py            # full run
    .venv/bin/python benchmarks/accuracy_segments.py --cases 5  # quick look

The run scores additive and ratio-KPI cases of about 20,000 leaves for every
setting (depth 1..3 x 1..3 root causes), then a few cases of about 200,000
leaves, and writes the tables, the seeds and the machine's facts.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy

from analytics.evaluation.segments import evaluate_segments, summarize

logger = logging.getLogger("benchmarks.accuracy_segments")

OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "accuracy-segments.md"


def _markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    lines = [header, rule]
    for row in table.itertuples(index=False):
        cells = []
        for value in row:
            if isinstance(value, float):
                cells.append(f"{value:.4f}" if value < 10 else f"{value:.1f}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _machine() -> list[str]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?", "?", "?")
    return [
        f"- platform: {platform.platform()}",
        f"- processor: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical cores; load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min)",
        f"- Python {platform.python_version()}, numpy {np.__version__}, "
        f"pandas {pd.__version__}, scipy {scipy.__version__}",
    ]


def _run(label: str, **options: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    started = time.perf_counter()
    per_case = evaluate_segments(**options)  # type: ignore[arg-type]
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


def _misses(per_case: pd.DataFrame) -> str:
    wrong = per_case[(per_case["fp"] > 0) | (per_case["fn"] > 0)]
    if wrong.empty:
        return "No case missed a root cause or reported a false one.\n"
    lines = ["| seed | kind | truth | predicted |", "|---|---|---|---|"]
    for row in wrong.itertuples(index=False):
        lines.append(f"| {row.seed} | {row.kind} | {row.truth} | {row.predicted} |")
    return "Cases with a miss or a false segment:\n\n" + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=50, help="cases per setting")
    parser.add_argument("--big-cases", type=int, default=3, help="200k-leaf cases")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    sections = []
    all_cases = []
    for kind, ratio in (("additive", False), ("ratio", True)):
        per_case, summary = _run(
            f"{kind} 20k",
            cases_per_setting=args.cases,
            n_leaves=20_000,
            ratio=ratio,
            seed=args.seed,
        )
        all_cases.append(per_case)
        sections.append(f"### {kind.capitalize()} KPI, about 20,000 leaves\n")
        sections.append(_markdown(summary) + "\n")
    for kind, ratio in (("additive", False), ("ratio", True)):
        per_case, summary = _run(
            f"{kind} 200k",
            cases_per_setting=args.big_cases,
            n_leaves=200_000,
            ratio=ratio,
            seed=args.seed + 1,
            settings=[(3, 3)],
        )
        all_cases.append(per_case)
        sections.append(f"### {kind.capitalize()} KPI, about 200,000 leaves\n")
        sections.append(_markdown(summary.iloc[[-1]]) + "\n")

    combined = pd.concat(all_cases, ignore_index=True)
    text = "\n".join(
        [
            "# Accuracy of rank_segments' root-cause localization\n",
            "Written by `benchmarks/accuracy_segments.py` "
            f"(`--cases {args.cases} --big-cases {args.big_cases} "
            f"--seed {args.seed}`); do not edit by hand. How the cases are built "
            "and how the search works: `docs/method-segments.md`.\n",
            "F1 = 2 TP / (2 TP + FP + FN), counts summed over the cases of a row, "
            "segments compared as exact strings. `seconds_mean` and "
            "`seconds_max` time the localization of one case (not its "
            "generation). Case seeds: `seed * 1,000,000 + setting * 10,000 + "
            "index`, settings numbered 0..8 in the order of the table (20k rows "
            f"use seed {args.seed}, 200k rows seed {args.seed + 1}, setting 0 "
            "= depth 3, 3 root causes).\n",
            "## Results\n",
            *sections,
            "## Misses\n",
            _misses(combined),
            "## Machine\n",
            *_machine(),
            "",
        ]
    )
    args.output.write_text(text, encoding="utf-8")
    logger.info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
