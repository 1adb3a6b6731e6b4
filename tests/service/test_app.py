"""The HTTP endpoints through FastAPI's test client: answers, errors, auth, limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import analytics
from analytics.io.files import read_table
from analytics.service import ServiceSettings, create_app

TARGET = "2019-07-17"

# The call the old notebooks make, unchanged.
SEED_CALL = {
    "path": "data/assetdata.csv",
    "metric_col": "coinIn",
    "date_col": "day",
    "date_target": TARGET,
    "method": "bestranks",
}
METRICS_CALL = dict(SEED_CALL)
SIGNIFICANCE_CALL = {
    "path": "data/assetdata.csv",
    "metric_col": "coinIn",
    "date_col": "day",
    "date_target": TARGET,
}
SEGMENTS_CALL = {
    "path": "data/segments.csv",
    "metric_col": "coinIn",
    "date_col": "day",
    "date_target": TARGET,
    "dimensions": ["zone", "denomination"],
}

ENDPOINTS = [
    pytest.param("/singlerankmetrics", METRICS_CALL, "rank_metrics", id="metrics"),
    pytest.param(
        "/assesschange", SIGNIFICANCE_CALL, "assess_change", id="significance"
    ),
    pytest.param("/ranksegments", SEGMENTS_CALL, "rank_segments", id="segments"),
]


def _direct(function: str, call: dict[str, Any], data_root: Path) -> dict[str, Any]:
    """What the analytics function itself answers, through a JSON round trip."""
    frame = read_table(data_root / call["path"])
    kwargs = {k: v for k, v in call.items() if k != "path"}
    result = getattr(analytics, function)(frame, **kwargs)
    text = json.dumps(result.to_dict(), default=str)
    expected: dict[str, Any] = json.loads(text)
    return expected


def _same_as_direct(answer: dict[str, Any], expected: dict[str, Any]) -> None:
    # Same computation on the same file: equal to the last bit.
    for key, value in expected.items():
        assert answer[key] == value, key


def test_seed_notebook_call_still_works(client: TestClient, data_root: Path) -> None:
    # Exactly what the old notebooks send: a GET with a JSON body.
    response = client.request("GET", "/singlerankmetrics", json=SEED_CALL)
    assert response.status_code == 200, response.text
    table = pd.DataFrame(response.json()["rows"])
    assert {"metric", "rank", "score", "norm_delta"} <= set(table.columns)
    assert table["rank"].tolist() == list(range(1, len(table) + 1))
    assert table["metric"].iloc[0] == "gamesPlayed"
    _same_as_direct(response.json(), _direct("rank_metrics", SEED_CALL, data_root))


@pytest.mark.parametrize(("path", "call", "function"), ENDPOINTS)
def test_each_module_answers_like_the_function(
    path: str, call: dict[str, Any], function: str, client: TestClient, data_root: Path
) -> None:
    response = client.post(path, json=call)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["module"] == function
    assert answer["dates"]["date_target"] == TARGET
    assert isinstance(answer["rows"], list)
    assert answer["rows"]
    _same_as_direct(answer, _direct(function, call, data_root))


@pytest.mark.parametrize(("path", "call", "function"), ENDPOINTS)
def test_get_body_query_and_post_agree(
    path: str, call: dict[str, Any], function: str, client: TestClient
) -> None:
    from_body = client.request("GET", path, json=call)
    from_query = client.get(path, params=call)
    from_post = client.post(path, json=call)
    assert from_body.status_code == from_query.status_code == from_post.status_code
    assert from_body.json() == from_query.json() == from_post.json()


@pytest.mark.parametrize(
    ("alias", "primary"),
    [
        pytest.param("/rank-metrics", "/singlerankmetrics", id="rank-metrics"),
        pytest.param("/assess_change", "/assesschange", id="assess_change"),
        pytest.param("/rank-segments", "/ranksegments", id="rank-segments"),
    ],
)
def test_readable_aliases(alias: str, primary: str, client: TestClient) -> None:
    call = {c.values[0]: c.values[1] for c in ENDPOINTS}[primary]
    assert (
        client.post(alias, json=call).json() == client.post(primary, json=call).json()
    )


def test_comma_separated_lists_in_the_query(client: TestClient) -> None:
    query = {**SEGMENTS_CALL, "dimensions": "zone,denomination"}
    response = client.get("/ranksegments", params=query)
    assert response.status_code == 200, response.text
    assert response.json() == client.post("/ranksegments", json=SEGMENTS_CALL).json()


def test_format_from_query_with_json_body(client: TestClient) -> None:
    response = client.request("GET", "/singlerankmetrics?format=png", json=SEED_CALL)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")


@pytest.mark.parametrize(("path", "call", "function"), ENDPOINTS)
def test_png_by_accept_header(
    path: str, call: dict[str, Any], function: str, client: TestClient
) -> None:
    response = client.post(path, json=call, headers={"Accept": "image/png"})
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\x89PNG")


def test_waterfall_chart(client: TestClient) -> None:
    call = {**SEED_CALL, "format": "png", "chart": "waterfall"}
    response = client.post("/singlerankmetrics", json=call)
    assert response.status_code == 200
    assert response.content.startswith(b"\x89PNG")


def _error(response: Any, status: int, code: str, parameter: str | None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code
    assert body["parameter"] == parameter
    assert "Traceback" not in body["detail"]
    detail: str = body["detail"]
    return detail


@pytest.mark.parametrize(
    ("change", "status", "code", "parameter", "words"),
    [
        pytest.param(
            {"metric_col": "coin"},
            422,
            "unknown_column",
            "metric_col",
            "'coin'",
            id="unknown-kpi",
        ),
        pytest.param(
            {"date_col": "date"},
            422,
            "unknown_column",
            "date_col",
            "'date'",
            id="unknown-date-column",
        ),
        pytest.param(
            {"date_target": "2030-01-01"},
            422,
            "bad_date",
            "date_target",
            "not in the data",
            id="date-not-in-data",
        ),
        pytest.param(
            {"date_target": "yesterday-ish"},
            422,
            "bad_date",
            "date_target",
            "not a date",
            id="unparseable-date",
        ),
        pytest.param(
            {"method": "magicranks"},
            422,
            "bad_parameter",
            "method",
            "magicranks",
            id="unknown-method",
        ),
        pytest.param(
            {"history_weeks": 0},
            422,
            "invalid_parameter",
            "history_weeks",
            "greater than or equal to 1",
            id="history-weeks",
        ),
        pytest.param(
            {"path": "data/nope.csv"},
            404,
            "missing_file",
            "path",
            "no such file",
            id="missing-file",
        ),
        pytest.param(
            {"path": "data/assetdata.xlsx"},
            422,
            "unsupported_format",
            "path",
            "'.xlsx'",
            id="unsupported-format",
        ),
        pytest.param(
            {"path": "data/assetdata.pkl"},
            422,
            "refused_format",
            "path",
            "arbitrary code",
            id="pickle",
        ),
        pytest.param(
            {"path": "../secret.csv"}, 403, "refused_path", "path", "'..'", id="dotdot"
        ),
        pytest.param(
            {"path": "/etc/hosts.csv"},
            403,
            "refused_path",
            "path",
            "absolute",
            id="absolute",
        ),
        pytest.param(
            {"path": "data/escape.csv"},
            403,
            "refused_path",
            "path",
            "outside",
            id="symlink-out",
        ),
        pytest.param(
            {"path": "data/broken.csv"},
            422,
            "unreadable_file",
            "path",
            "could not be read",
            id="unreadable",
        ),
        pytest.param(
            {"surprise": 1},
            422,
            "invalid_parameter",
            "surprise",
            "unknown parameter",
            id="unknown-parameter",
        ),
        pytest.param(
            {"metrics": 5},
            422,
            "invalid_parameter",
            "metrics",
            "valid list",
            id="wrong-type",
        ),
    ],
)
def test_bad_requests_name_the_parameter(
    change: dict[str, Any],
    status: int,
    code: str,
    parameter: str,
    words: str,
    client: TestClient,
) -> None:
    response = client.request("GET", "/singlerankmetrics", json={**SEED_CALL, **change})
    assert words in _error(response, status, code, parameter)


def test_missing_required_parameter(client: TestClient) -> None:
    call = {k: v for k, v in SEED_CALL.items() if k != "date_target"}
    response = client.post("/singlerankmetrics", json=call)
    assert "Field required" in _error(response, 422, "invalid_parameter", "date_target")


def test_server_paths_are_not_revealed(client: TestClient, data_root: Path) -> None:
    response = client.post(
        "/singlerankmetrics", json={**SEED_CALL, "path": "data/broken.csv"}
    )
    assert str(data_root) not in response.text


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param(
            b'{"path": "data/assetdata.csv",', "not valid JSON", id="truncated"
        ),
        pytest.param(b"[1, 2]", "JSON object", id="array"),
        pytest.param(b"\xff\xfe\x00garbage", "not valid JSON", id="binary"),
        pytest.param(b"[" * 50_000, "not valid JSON", id="deep-nesting"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_malformed_json(
    method: str, body: bytes, words: str, client: TestClient
) -> None:
    response = client.request(
        method,
        "/singlerankmetrics",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert words in _error(response, 400, "malformed_json", None)


def test_parameter_in_query_and_body(client: TestClient) -> None:
    response = client.request(
        "GET", "/singlerankmetrics?method=absranks", json=SEED_CALL
    )
    assert "both" in _error(response, 422, "invalid_parameter", "method")


def test_scalar_repeated_in_query(client: TestClient) -> None:
    query = [*SEED_CALL.items(), ("method", "absranks")]
    response = client.get("/singlerankmetrics", params=query)
    assert "more than once" in _error(response, 422, "invalid_parameter", "method")


def test_body_size_limit(data_root: Path) -> None:
    small = ServiceSettings(data_root=data_root, max_body_bytes=200)
    with TestClient(create_app(small), raise_server_exceptions=False) as tiny:
        fits = tiny.request("GET", "/singlerankmetrics", json=SEED_CALL)
        padded = {**SEED_CALL, "method": "x" * 500}
        too_big = tiny.request("GET", "/singlerankmetrics", json=padded)
    assert fits.status_code == 200
    assert "exceeds 200 bytes" in _error(too_big, 413, "body_too_large", None)


def test_file_size_limit(data_root: Path) -> None:
    small = ServiceSettings(data_root=data_root, max_file_bytes=1000)
    with TestClient(create_app(small), raise_server_exceptions=False) as tiny:
        response = tiny.post("/singlerankmetrics", json=SEED_CALL)
    assert "limit is 1000 bytes" in _error(response, 413, "file_too_large", "path")


class TestToken:
    def test_health_needs_no_token(self, token_client: TestClient) -> None:
        assert token_client.get("/health").json()["status"] == "ok"

    @pytest.mark.parametrize(
        "headers",
        [
            pytest.param({}, id="none"),
            pytest.param({"Authorization": "Bearer wrong"}, id="wrong"),
            pytest.param({"Authorization": "Basic s3cret-token"}, id="not-bearer"),
            pytest.param({"Authorization": "Bearer s3cret-tokenx"}, id="longer"),
        ],
    )
    def test_refused_without_the_token(
        self, headers: dict[str, str], token_client: TestClient
    ) -> None:
        response = token_client.post(
            "/singlerankmetrics", json=SEED_CALL, headers=headers
        )
        _error(response, 401, "unauthorized", "Authorization")
        assert response.headers["www-authenticate"] == "Bearer"

    def test_accepted_with_the_token(
        self, token_client: TestClient, api_token: str
    ) -> None:
        response = token_client.request(
            "GET",
            "/singlerankmetrics",
            json=SEED_CALL,
            headers={"Authorization": f"Bearer {api_token}"},
        )
        assert response.status_code == 200, response.text


def test_health(client: TestClient) -> None:
    answer = client.get("/health").json()
    assert answer == {
        "status": "ok",
        "version": analytics.__version__,
        "endpoints": ["/singlerankmetrics", "/assesschange", "/ranksegments"],
    }


def test_unknown_route_is_json(client: TestClient) -> None:
    _error(client.get("/nowhere"), 404, "not_found", None)


def test_unexpected_failure_is_a_bare_500(
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(analytics, "rank_metrics", broken)
    response = client.post("/singlerankmetrics", json=SEED_CALL)
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal_error",
        "parameter": None,
        "detail": "the service failed; see its log",
    }
    assert "internal detail" in caplog.text


def test_openapi_documents_every_module(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in ("/singlerankmetrics", "/assesschange", "/ranksegments"):
        assert set(schema["paths"][path]) == {"get", "post"}
        post = schema["paths"][path]["post"]
        body = post["requestBody"]["content"]["application/json"]["schema"]
        assert {"path", "metric_col", "date_target"} <= set(body["properties"])
        query = {p["name"] for p in schema["paths"][path]["get"]["parameters"]}
        assert query == set(body["properties"])
