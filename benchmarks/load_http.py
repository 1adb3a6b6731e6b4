"""Load test of the HTTP service: many concurrent clients against one local server.

Starts ``python -m analytics.service`` as a separate process on 127.0.0.1 (a free
port), with a data root holding one casino's daily and segment tables, then runs
N concurrent httpx clients for a fixed time, each sending the three explain
requests in turn. Prints (and with ``--markdown`` appends to a file) throughput,
latency percentiles, the error count and the server's resident memory before and
after. Loopback only; every loop is bounded by the duration and a request cap.

Usage::

    .venv/bin/python benchmarks/load_http.py --clients 50 --seconds 30
    .venv/bin/python benchmarks/load_http.py --clients 50 --seconds 30 \\
        --markdown benchmarks/load-results.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from analytics.synthetic.casino import generate_casinos

HOST = "127.0.0.1"
MAX_SECONDS = 600
MAX_REQUESTS = 2_000_000


@dataclass
class Tally:
    """What the clients saw."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: int = 0

    def add(self, name: str, seconds: float, status: str, *, ok: bool) -> None:
        self.latencies.setdefault(name, []).append(seconds)
        self.statuses[status] += 1
        if not ok:
            self.errors += 1

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.latencies.values())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def write_data(root: Path) -> dict[str, Any]:
    """One casino's daily and segment tables; returns the request bodies."""
    data = generate_casinos(n_casinos=1, start="2024-01-01", end="2024-07-31", seed=4)
    daily = data.daily_for("C01")
    # rank_segments compares D with B only: a client sends the last two weeks.
    segments = data.segments_for("C01")
    segments = segments.loc[segments["day"] >= "2024-07-05"]
    daily.to_csv(root / "daily.csv", index=False)
    segments.to_csv(root / "segments.csv", index=False)
    target = "2024-07-19"
    common = {"metric_col": "coin_in", "date_col": "day", "date_target": target}
    return {
        "rank-metrics": {"path": "daily.csv", **common},
        "assess-change": {"path": "daily.csv", **common},
        "rank-segments": {
            "path": "segments.csv",
            **common,
            "dimensions": list(data.dimensions),
        },
        "_leaves": int(len(segments) / segments["day"].nunique()),
    }


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


@contextmanager
def server(root: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "CASINO_EXPLAIN_DATA_ROOT": str(root)}
    command = [
        sys.executable,
        "-m",
        "analytics.service",
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://{HOST}:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the server did not answer /health within 60 s")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


async def client_loop(
    client: httpx.AsyncClient,
    bodies: dict[str, Any],
    deadline: float,
    tally: Tally,
    budget: list[int],
) -> None:
    names = [n for n in bodies if not n.startswith("_")]
    turn = 0
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 1
        name = names[turn % len(names)]
        turn += 1
        started = time.perf_counter()
        try:
            response = await client.post(f"/{name}", json=bodies[name])
            ok = response.status_code == 200 and bool(response.json().get("rows"))
            status = str(response.status_code)
        except httpx.HTTPError as err:
            ok, status = False, type(err).__name__
        tally.add(name, time.perf_counter() - started, status, ok=ok)


async def run_load(
    base_url: str, bodies: dict[str, Any], *, clients: int, seconds: float
) -> tuple[Tally, float]:
    tally = Tally()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    timeout = httpx.Timeout(60.0)
    budget = [MAX_REQUESTS]
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=timeout
    ) as client:
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(
            *(
                client_loop(client, bodies, deadline, tally, budget)
                for _ in range(clients)
            )
        )
        elapsed = time.monotonic() - started
    return tally, elapsed


def summarize(
    tally: Tally, elapsed: float, rss_before: int, rss_after: int
) -> dict[str, Any]:
    every = np.concatenate([np.asarray(v) for v in tally.latencies.values()])
    per_endpoint = {
        name: {
            "requests": len(values),
            "p50_ms": round(1000 * float(np.percentile(values, 50)), 1),
            "p99_ms": round(1000 * float(np.percentile(values, 99)), 1),
        }
        for name, values in sorted(tally.latencies.items())
    }
    return {
        "requests": tally.count,
        "seconds": round(elapsed, 1),
        "throughput_rps": round(tally.count / elapsed, 1),
        "p50_ms": round(1000 * float(np.percentile(every, 50)), 1),
        "p99_ms": round(1000 * float(np.percentile(every, 99)), 1),
        "max_ms": round(1000 * float(every.max()), 1),
        "errors": tally.errors,
        "statuses": dict(tally.statuses),
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_after_mib": round(rss_after / 1024, 1),
        "per_endpoint": per_endpoint,
    }


def measure(*, clients: int, seconds: float) -> dict[str, Any]:
    """Start a server, warm it up, load it, and return the figures."""
    if not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be in (0, {MAX_SECONDS}], got {seconds!r}")
    with tempfile.TemporaryDirectory(prefix="casino-explain-load-") as folder:
        root = Path(folder)
        bodies = write_data(root)
        port = free_port()
        with server(root, port) as process:
            base_url = f"http://{HOST}:{port}"
            # Warm-up: imports, first parse, matplotlib-free paths.
            asyncio.run(run_load(base_url, bodies, clients=3, seconds=2))
            rss_before = rss_kib(process.pid)
            load_before = os.getloadavg()[0]
            tally, elapsed = asyncio.run(
                run_load(base_url, bodies, clients=clients, seconds=seconds)
            )
            rss_after = rss_kib(process.pid)
            # A second, shorter round: memory that keeps growing would be a leak;
            # memory that plateaus is the thread pool's working set.
            again, _ = asyncio.run(
                run_load(base_url, bodies, clients=clients, seconds=seconds / 3)
            )
            rss_again = rss_kib(process.pid)
        figures = summarize(tally, elapsed, rss_before, rss_after)
        figures["rss_after_second_round_mib"] = round(rss_again / 1024, 1)
        figures["errors"] += again.errors
        figures.update(
            clients=clients,
            leaves_per_day=bodies["_leaves"],
            load_before=load_before,
        )
        return figures


def markdown(figures: dict[str, Any]) -> str:
    lines = [
        f"### {figures['clients']} clients for {figures['seconds']} s "
        f"({time.strftime('%Y-%m-%d')})",
        "",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        "one uvicorn worker (the default of `python -m analytics.service`); "
        f"load average {figures['load_before']:.1f} before the run (other work on "
        "the machine shares its cores).",
        "",
        "| requests | throughput | p50 | p99 | max | errors | RSS before | RSS after |",
        "|---|---|---|---|---|---|---|---|",
        f"| {figures['requests']} | {figures['throughput_rps']} req/s "
        f"| {figures['p50_ms']} ms | {figures['p99_ms']} ms | {figures['max_ms']} ms "
        f"| {figures['errors']} | {figures['rss_before_mib']} MiB "
        f"| {figures['rss_after_mib']} MiB |",
        "",
        "RSS after a second round of a third of the time: "
        f"{figures['rss_after_second_round_mib']} MiB (errors above include it).",
        "",
        "| endpoint | requests | p50 | p99 |",
        "|---|---|---|---|",
    ]
    for name, row in figures["per_endpoint"].items():
        lines.append(
            f"| {name} | {row['requests']} | {row['p50_ms']} ms | {row['p99_ms']} ms |"
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--markdown", type=Path, help="append the figures here")
    args = parser.parse_args(argv)
    figures = measure(clients=args.clients, seconds=args.seconds)
    print(json.dumps(figures, indent=2))
    if args.markdown:
        with args.markdown.open("a", encoding="utf-8") as sink:
            sink.write(markdown(figures))
    return 0 if figures["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
