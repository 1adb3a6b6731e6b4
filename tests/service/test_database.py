"""casino_id requests (source database) and stored explanations (reporting database).

Both databases are SQLite files here; the pipeline's reader and schema are the
same on PostgreSQL, where the pipeline's own tests exercise them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from analytics.pipeline.migrate import upgrade
from analytics.pipeline.schema import daily_summary, metric_rankings, schema_options
from analytics.service import ServiceSettings, create_app

TARGET = "2019-07-17"
FILE_CALL = {
    "path": "data/assetdata.csv",
    "metric_col": "coinIn",
    "date_col": "day",
    "date_target": TARGET,
    "method": "bestranks",
}
CASINO_CALL = {
    "casino_id": "C1",
    "metric_col": "coinIn",
    "date_target": TARGET,
    "method": "bestranks",
}


@pytest.fixture(scope="module")
def source_url(
    tmp_path_factory: pytest.TempPathFactory, asset_frame: pd.DataFrame
) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('source') / 'source.db'}"
    engine = sa.create_engine(url)
    other = asset_frame.assign(coinIn=asset_frame["coinIn"] * 2)
    rows = pd.concat([asset_frame.assign(casino_id="C1"), other.assign(casino_id="C2")])
    rows.to_sql("casino_daily", engine, index=False)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def reporting_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('reporting') / 'reporting.db'}"
    upgrade(url)
    engine = sa.create_engine(url)
    key = {
        "casino_id": "C1",
        "date_target": dt.date(2019, 7, 17),
        "kpi": "coin_in",
        "date_base": dt.date(2019, 7, 10),
        "run_id": "run-1",
    }
    with engine.execution_options(**schema_options(engine)).begin() as conn:
        conn.execute(
            sa.insert(daily_summary),
            [
                {
                    **key,
                    "delta": 1000.0,
                    "explanation": "coin_in rose 8%, mostly games played",
                    "created_at": dt.datetime(2019, 7, 18, 6, tzinfo=dt.UTC),
                }
            ],
        )
        conn.execute(
            sa.insert(metric_rankings),
            [
                {**key, "metric": "games_played", "method": "linkranks", "rank": 1},
                {**key, "metric": "avg_bet", "method": "linkranks", "rank": 2},
            ],
        )
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def db_client(
    data_root: Path, source_url: str, reporting_url: str
) -> Iterator[TestClient]:
    settings = ServiceSettings(
        data_root=data_root, source_url=source_url, reporting_url=reporting_url
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_casino_id_reads_the_same_table_as_the_file(db_client: TestClient) -> None:
    from_file = db_client.post("/singlerankmetrics", json=FILE_CALL)
    from_source = db_client.post("/singlerankmetrics", json=CASINO_CALL)
    assert from_source.status_code == 200, from_source.text
    assert from_source.json()["rows"] == from_file.json()["rows"]


def test_casino_id_picks_the_casino(db_client: TestClient) -> None:
    call = {k: v for k, v in CASINO_CALL.items() if k != "method"}
    one = db_client.post("/assesschange", json=call)
    two = db_client.post("/assesschange", json={**call, "casino_id": "C2"})
    assert one.status_code == two.status_code == 200, one.text
    assert one.json()["kpi"]["delta"] * 2 == pytest.approx(two.json()["kpi"]["delta"])


def test_unknown_casino(db_client: TestClient) -> None:
    response = db_client.post(
        "/singlerankmetrics", json={**CASINO_CALL, "casino_id": "C9"}
    )
    assert response.status_code == 404
    assert response.json()["parameter"] == "casino_id"


def test_path_and_casino_id_together(db_client: TestClient) -> None:
    response = db_client.post(
        "/singlerankmetrics", json={**FILE_CALL, "casino_id": "C1"}
    )
    assert response.status_code == 422
    assert "exactly one of path" in response.json()["detail"]


def test_casino_id_without_a_source_database(client: TestClient) -> None:
    response = client.post("/singlerankmetrics", json=CASINO_CALL)
    assert response.status_code == 404
    assert response.json()["error"] == "not_configured"


def test_stored_explanation(db_client: TestClient) -> None:
    response = db_client.get(f"/explanations/C1/{TARGET}")
    assert response.status_code == 200, response.text
    (entry,) = response.json()["explanations"]
    assert entry["kpi"] == "coin_in"
    assert entry["summary"]["explanation"] == "coin_in rose 8%, mostly games played"
    assert [row["metric"] for row in entry["rank_metrics"]] == [
        "avg_bet",
        "games_played",
    ]
    assert entry["assess_change"] == []


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        pytest.param("/explanations/C2/2019-07-17", 404, "no_explanation", id="casino"),
        pytest.param("/explanations/C1/2019-07-10", 404, "no_explanation", id="date"),
        pytest.param(
            "/explanations/C1/2019-07-17?kpi=theo_win", 404, "no_explanation", id="kpi"
        ),
        pytest.param("/explanations/C1/someday", 422, "bad_date", id="bad-date"),
    ],
)
def test_stored_explanation_errors(
    url: str, status: int, code: str, db_client: TestClient
) -> None:
    response = db_client.get(url)
    assert (response.status_code, response.json()["error"]) == (status, code)
