"""Schema-driven requests: whatever the OpenAPI schema allows, no server error."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

OPERATIONS = [
    pytest.param(method, path, id=f"{method} {path}")
    for path in ("/singlerankmetrics", "/assesschange", "/ranksegments", "/health")
    for method in ("GET", "POST")
    if not (path == "/health" and method == "POST")
] + [pytest.param("GET", "/explanations/{casino_id}/{date}", id="GET /explanations")]


@pytest.fixture(scope="module")
def api_schema(app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_server_errors(method: str, path: str, api_schema: Any) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    def check(case: Any) -> None:
        case.call_and_validate(checks=[not_a_server_error])

    check()


# Schema-generated paths almost never name a real file, so the analytics are
# reached only here: a real file, random parameter values.
_text = st.text(max_size=12)
_value = st.one_of(st.none(), _text, st.integers(-5, 60), st.floats(allow_nan=True))


@given(
    extra=st.fixed_dictionaries(
        {},
        optional={
            "metric_col": st.sampled_from(["coinIn", "gamesPlayed", "day", ""]) | _text,
            "date_col": st.sampled_from(["day", "coinIn"]) | _text,
            "date_target": st.sampled_from(["2019-07-17", "2019-07-10", "2018-01-01"])
            | _text,
            "date_base": _value,
            "method": st.sampled_from(["linkranks", "absranks", "BESTRANKS"]) | _value,
            "history_weeks": _value,
            "metrics": st.lists(_text, max_size=3) | _value,
            "format": st.sampled_from(["json", "png", "jpeg"]),
        },
    )
)
@settings(max_examples=60, deadline=None, derandomize=True)
def test_random_parameters_on_real_data(extra: dict[str, Any], app: FastAPI) -> None:
    from fastapi.testclient import TestClient

    call = {
        "path": "data/assetdata.csv",
        "metric_col": "coinIn",
        "date_col": "day",
        "date_target": "2019-07-17",
        **extra,
    }
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/singlerankmetrics", json=call)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["detail"]
