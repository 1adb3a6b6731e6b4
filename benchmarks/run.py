"""Run the speed benchmarks, print a table and write benchmarks/results.md.

Usage::

    .venv/bin/python -m benchmarks                 # every scenario, full sizes
    .venv/bin/python -m benchmarks --quick         # small sizes, a minute or two
    .venv/bin/python -m benchmarks --only explain_one backfill_compute

Each scenario runs in its own child process, so that its peak resident memory
(scenario 6) is its own and a failing scenario does not stop the others.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("benchmarks.run")

RESULTS = Path(__file__).resolve().parent / "results.md"
_MARKER = "BENCHMARK-JSON "


def _child(name: str, *, quick: bool) -> None:
    from benchmarks.scenarios import SCENARIOS

    figures = SCENARIOS[name](quick=quick)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    payload = {"figures": [f.as_dict() for f in figures], "peak_rss_mb": peak}
    print(_MARKER + json.dumps(payload), flush=True)


def run_scenario(name: str, *, quick: bool) -> dict[str, Any]:
    """Run one scenario in a child process and return its figures and peak RSS."""
    command = [sys.executable, "-m", "benchmarks.run", "--child", name]
    if quick:
        command.append("--quick")
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    for line in done.stdout.splitlines():
        if line.startswith(_MARKER):
            payload: dict[str, Any] = json.loads(line[len(_MARKER) :])
            payload["seconds"] = took
            return payload
    tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
    log.error("scenario %s failed:\n%s", name, "\n".join(tail))
    return {"figures": [], "peak_rss_mb": None, "seconds": took, "error": tail[-1:]}


def machine() -> list[str]:
    """Facts about the machine and the software, for results.md."""
    import numpy as np
    import pandas as pd

    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return [
        f"- CPU: {model}, {os.cpu_count()} logical cores; memory {memory:.0f} GiB",
        f"- {platform.platform()}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, "
        f"pandas {pd.__version__}, PostgreSQL {_postgres_version()}",
    ]


def _postgres_version() -> str:
    try:
        import sqlalchemy as sa

        from benchmarks.scenarios import POSTGRES_ADMIN_URL

        engine = sa.create_engine(POSTGRES_ADMIN_URL)
        with engine.connect() as conn:
            version = str(conn.exec_driver_sql("SHOW server_version").scalar())
        engine.dispose()
        return version
    except Exception as err:  # the figures still stand without the version
        return f"unknown ({type(err).__name__})"


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    """The markdown table of every figure, then peak memory per scenario."""
    lines = [
        "| scenario | measure | value | unit | baseline | ratio | target | met "
        "| note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, payload in results.items():
        if payload.get("error"):
            lines.append(f"| {name} | failed: {payload['error']} | | | | | | | |")
        for f in payload["figures"]:
            cells = [
                f["scenario"],
                f["measure"],
                _cell(f["value"]),
                f["unit"],
                _cell(f["baseline"]),
                _cell(f["ratio"]),
                f["target"],
                _cell(f["met"]),
                f["note"],
            ]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "| scenario | peak resident memory (MiB) | wall time (s) |",
        "|---|---|---|",
    ]
    for name, payload in results.items():
        lines.append(
            f"| {name} | {_cell(payload.get('peak_rss_mb'), 4)} | "
            f"{payload['seconds']:.0f} |"
        )
    return lines


ANALYSIS_HEADING = "## Reading the figures"
MEMORY_HEADER = "| scenario | peak resident memory (MiB) | wall time (s) |"


def _first_cell(line: str) -> str:
    return line.split("|")[1].strip() if line.startswith("| ") else ""


def _order_key(line: str) -> int:
    # Figure rows start with the scenario's number ("2 backfill compute").
    head = _first_cell(line).split(" ")[0]
    return int(head) if head.isdigit() else 99


def merged(new_lines: list[str], output: Path) -> list[str]:
    """``new_lines`` plus the rows of ``output`` for scenarios not run this time.

    A run with ``--only`` then updates its own rows and keeps the others'.
    """
    if not output.exists():
        return new_lines
    old = output.read_text().split(ANALYSIS_HEADING)[0].splitlines()
    cut = new_lines.index(MEMORY_HEADER)
    new_figures, new_memory = new_lines[: cut - 1], new_lines[cut:]
    labels = {_first_cell(line) for line in new_figures[2:]}
    names = {_first_cell(line) for line in new_memory[2:]}
    at = old.index(MEMORY_HEADER) if MEMORY_HEADER in old else len(old)
    old_figures = [
        line
        for line in old[:at]
        if line.startswith("| ") and not line.startswith("| scenario |")
    ]
    old_memory = [line for line in old[at + 2 :] if line.startswith("| ")]
    figures = new_figures[2:] + [
        line for line in old_figures if _first_cell(line) not in labels
    ]
    memory = new_memory[2:] + [
        line for line in old_memory if _first_cell(line) not in names
    ]
    figures.sort(key=_order_key)
    return [*new_figures[:2], *figures, "", *new_memory[:2], *memory]


def _kept(output: Path) -> str:
    """The hand-written analysis below ANALYSIS_HEADING, kept across runs."""
    if not output.exists():
        return ""
    text = output.read_text()
    at = text.find(ANALYSIS_HEADING)
    return "\n" + text[at:] if at >= 0 else ""


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    from benchmarks.scenarios import SCENARIOS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), default=None)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--child", choices=list(SCENARIOS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, quick=args.quick)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    load_before = os.getloadavg()
    results = {}
    for name in args.only or list(SCENARIOS):
        log.info("running %s%s", name, " (quick)" if args.quick else "")
        results[name] = run_scenario(name, quick=args.quick)
    load_after = os.getloadavg()
    lines = table(results)
    print("\n".join(lines))
    if args.only and not args.no_write:
        lines = merged(lines, args.output)
        rerun = ", ".join(args.only)
        lines.insert(0, f"Rows of {rerun} from this run; the others kept from before.")
        lines.insert(1, "")
    if not args.no_write:
        header = [
            "# Speed benchmarks: measured figures",
            "",
            f"Written by `python -m benchmarks{' --quick' if args.quick else ''}` "
            f"on {time.strftime('%Y-%m-%d %H:%M')}. Load average (1/5/15 min) "
            f"before: {load_before[0]:.1f} / {load_before[1]:.1f} / "
            f"{load_before[2]:.1f}; after: {load_after[0]:.1f} / "
            f"{load_after[1]:.1f} / {load_after[2]:.1f}.",
            "",
            *machine(),
            "",
        ]
        args.output.write_text("\n".join([*header, *lines, ""]) + _kept(args.output))
        log.info("wrote %s", args.output)
    failed = [n for n, p in results.items() if p.get("error")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
