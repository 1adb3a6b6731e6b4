"""A short load test of the HTTP service (the full one: benchmarks/load_http.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "load_http.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("load_http", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["load_http"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_concurrent_clients_get_no_errors_and_memory_plateaus() -> None:
    figures = _load_script().measure(clients=20, seconds=9)
    assert figures["requests"] >= 20
    assert figures["errors"] == 0
    assert set(figures["statuses"]) == {"200"}
    # No timing assertions (the machine is shared); memory must level off: the
    # second round adds far less than the first round's working set.
    first_growth = figures["rss_after_mib"] - figures["rss_before_mib"]
    second_growth = figures["rss_after_second_round_mib"] - figures["rss_after_mib"]
    assert second_growth < max(64.0, 0.5 * first_growth)
