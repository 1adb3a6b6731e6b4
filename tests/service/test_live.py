"""The service behind a real uvicorn server: the notebooks' calls, modules, refusals."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest
import requests

SEED_CALL = {
    "path": "data/assetdata.csv",
    "metric_col": "coinIn",
    "date_col": "day",
    "date_target": "2019-07-17",
    "method": "bestranks",
}


def test_requests_get_with_json_body(live_server: str) -> None:
    # Word for word what the notebooks do, only the port differs.
    response = requests.get(
        f"{live_server}/singlerankmetrics", json=SEED_CALL, timeout=30
    )
    assert response.status_code == 200, response.text
    table = pd.DataFrame(response.json()["rows"])
    assert table.loc[0, "metric"] == "gamesPlayed"
    assert table["rank"].is_monotonic_increasing


def test_httpx_get_with_json_body(live_server: str) -> None:
    response = httpx.request(
        "GET", f"{live_server}/singlerankmetrics", json=SEED_CALL, timeout=30
    )
    assert response.status_code == 200
    assert (
        response.json()
        == httpx.post(
            f"{live_server}/singlerankmetrics", json=SEED_CALL, timeout=30
        ).json()
    )


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(b"{not json", 400, id="malformed"),
        pytest.param(b'{"path": "../x.csv"}', 422, id="missing-fields"),
        pytest.param(b"x" * 2_000_000, 413, id="too-large"),
    ],
)
def test_bad_bodies_over_the_wire(live_server: str, body: bytes, status: int) -> None:
    response = httpx.request(
        "GET",
        f"{live_server}/singlerankmetrics",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]


def test_png_over_the_wire(live_server: str) -> None:
    response = httpx.request(
        "GET",
        f"{live_server}/singlerankmetrics",
        json=SEED_CALL,
        headers={"Accept": "image/png"},
        timeout=30,
    )
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")


def test_url_source_through_the_service(live_server: str, file_server: str) -> None:
    call = {**SEED_CALL, "path": f"{file_server}/files/assetdata.csv"}
    remote = httpx.post(f"{live_server}/singlerankmetrics", json=call, timeout=30)
    local = httpx.post(f"{live_server}/singlerankmetrics", json=SEED_CALL, timeout=30)
    assert remote.status_code == 200, remote.text
    assert remote.json()["rows"] == local.json()["rows"]


@pytest.mark.parametrize(
    ("endpoint", "call", "first_column"),
    [
        pytest.param(
            "/assesschange", {**SEED_CALL, "method": None}, "metric", id="significance"
        ),
        pytest.param(
            "/ranksegments",
            {
                "path": "data/segments.csv",
                "metric_col": "coinIn",
                "date_col": "day",
                "date_target": "2019-07-17",
                "dimensions": ["zone", "denomination"],
            },
            "segment",
            id="segments",
        ),
    ],
)
def test_each_module_over_the_wire(
    live_server: str, endpoint: str, call: dict[str, object], first_column: str
) -> None:
    body = {k: v for k, v in call.items() if v is not None}
    response = requests.get(f"{live_server}{endpoint}", json=body, timeout=30)
    assert response.status_code == 200, response.text
    table = pd.DataFrame(response.json()["rows"])
    assert first_column in table.columns
    assert len(table) > 0


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        pytest.param("../outside.csv", 403, "refused_path", id="dotdot"),
        pytest.param("/etc/passwd.csv", 403, "refused_path", id="absolute"),
        pytest.param("data/escape.csv", 403, "refused_path", id="symlink-out"),
        pytest.param("data/assetdata.pkl", 422, "refused_format", id="pickle"),
        pytest.param("data/missing.csv", 404, "missing_file", id="missing"),
    ],
)
def test_refusals_over_the_wire(
    live_server: str, path: str, status: int, code: str
) -> None:
    call = {**SEED_CALL, "path": path}
    response = requests.get(f"{live_server}/singlerankmetrics", json=call, timeout=30)
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["error"], body["parameter"]) == (code, "path")
    assert "Traceback" not in response.text
