"""The Airflow plugin mounts the same app, and the standalone entry points exist."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "casino_explain_http.py"


@pytest.mark.airflow
def test_plugin_exposes_the_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CASINO_EXPLAIN_DATA_ROOT", str(tmp_path))
    spec = importlib.util.spec_from_file_location("casino_explain_http", PLUGIN)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    (entry,) = module.CasinoExplainHttpPlugin.fastapi_apps
    assert entry["url_prefix"] == "/casino-explain"
    assert isinstance(entry["app"], FastAPI)
    assert entry["app"].state.settings.data_root == tmp_path.resolve()

    # Mounted under the prefix, as Airflow's API server does.
    host = FastAPI()
    host.mount(entry["url_prefix"], entry["app"])
    with TestClient(host) as client:
        assert client.get("/casino-explain/health").json()["status"] == "ok"
        missing = client.post(
            "/casino-explain/singlerankmetrics",
            json={
                "path": "none.csv",
                "metric_col": "coinIn",
                "date_target": "2019-07-17",
            },
        )
    assert missing.status_code == 404


def test_module_entry_point_parses_host_and_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import analytics.service.__main__ as entry

    seen: dict[str, object] = {}

    def fake_serve(host: str | None, port: int | None, *, log_level: str) -> None:
        seen.update(host=host, port=port, log_level=log_level)

    monkeypatch.setattr(entry, "serve", fake_serve)
    entry.main(["--host", "0.0.0.0", "--port", "5055", "--log-level", "warning"])
    assert seen == {"host": "0.0.0.0", "port": 5055, "log_level": "warning"}
