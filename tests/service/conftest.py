"""Fixtures for the HTTP service: data under a data root, clients, live servers."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from analytics.service import ServiceSettings, create_app

TARGET = "2019-07-17"
TOKEN = "s3cret-token"


def make_asset_frame(seed: int = 7) -> pd.DataFrame:
    """Daily camelCase data with a planted cause on TARGET: more games played.

    20 weeks up to and including TARGET (a Wednesday); coinIn is exactly
    gamesPlayed x avgBet, so the planted jump in games drives the KPI.
    """
    rng = np.random.default_rng(seed)
    days = pd.date_range(end=TARGET, periods=140, freq="D")
    weekday = np.array([0.85, 0.86, 0.90, 0.95, 1.18, 1.38, 1.05])[days.day_of_week]
    games = np.round(3_000_000 * weekday * rng.normal(1.0, 0.03, len(days)))
    avg_bet = rng.normal(1.30, 0.02, len(days))
    free_play = rng.normal(40_000, 2_000, len(days))
    games[-1] *= 1.25
    free_play[-1] *= 1.6
    return pd.DataFrame(
        {
            "day": days.strftime("%Y-%m-%d"),
            "coinIn": np.round(games * avg_bet, 2),
            "gamesPlayed": games,
            "avgBet": avg_bet,
            "freePlay": free_play,
            "weatherIndex": rng.normal(0.0, 1.0, len(days)),
        }
    )


def make_segment_frame(seed: int = 11) -> pd.DataFrame:
    """Long table (day x zone x denomination) with zone Z2 up 40% on TARGET."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(end=TARGET, periods=63, freq="D")
    rows = []
    for day in days:
        for zone in ("Z1", "Z2", "Z3"):
            for denomination in ("0.01", "0.25", "1.00"):
                coin_in = 100_000 * rng.lognormal(0.0, 0.05)
                if day == days[-1] and zone == "Z2":
                    coin_in *= 1.4
                rows.append((day.strftime("%Y-%m-%d"), zone, denomination, coin_in))
    return pd.DataFrame(rows, columns=["day", "zone", "denomination", "coinIn"])


@pytest.fixture(scope="session")
def asset_frame() -> pd.DataFrame:
    """The daily table of data/assetdata.csv."""
    return make_asset_frame()


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding the seed CSV, the same table as Parquet and JSON,
    a segment table, a pickle and a symbolic link leading out of the root."""
    root = tmp_path_factory.mktemp("data-root")
    (root / "data").mkdir()
    assets = make_asset_frame()
    assets.to_csv(root / "data" / "assetdata.csv", index=False)
    assets.to_parquet(root / "data" / "assetdata.parquet", index=False)
    assets.to_json(root / "data" / "assetdata.json", orient="records")
    assets.to_pickle(root / "data" / "assetdata.pkl")
    make_segment_frame().to_csv(root / "data" / "segments.csv", index=False)
    (root / "data" / "broken.csv").write_text('day,coinIn\n"unterminated,1\n')
    outside = tmp_path_factory.mktemp("outside")
    assets.to_csv(outside / "secret.csv", index=False)
    (root / "data" / "escape.csv").symlink_to(outside / "secret.csv")
    (root / "data" / "inside-link.csv").symlink_to(root / "data" / "assetdata.csv")
    return root


@pytest.fixture(scope="session")
def settings(data_root: Path) -> ServiceSettings:
    return ServiceSettings(data_root=data_root, allowed_hosts=["127.0.0.1"])


@pytest.fixture(scope="session")
def app(settings: ServiceSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    # raise_server_exceptions=False: a 500 must show up as an answer, not an error.
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def api_token() -> str:
    return TOKEN


@pytest.fixture(scope="session")
def token_client(settings: ServiceSettings) -> Iterator[TestClient]:
    guarded = settings.model_copy(update={"api_token": TOKEN})
    guarded = ServiceSettings.model_validate(guarded.model_dump())
    with TestClient(create_app(guarded), raise_server_exceptions=False) as test_client:
        yield test_client


def _serve_in_thread(app: ASGIApp) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start within 10 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session")
def live_server(app: FastAPI) -> Iterator[str]:
    """Base URL of the service run by a real uvicorn on a free local port."""
    yield from _serve_in_thread(app)


def _file_host(folder: Path) -> Starlette:
    """Static files plus the misbehaviours a remote host can show."""

    async def slow(request: Request) -> Response:
        await asyncio.sleep(2.0)
        return PlainTextResponse("day,coinIn\n", media_type="text/csv")

    async def redirect(request: Request) -> Response:
        return RedirectResponse("http://example.com/assetdata.csv", status_code=302)

    async def endless(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10_000):
                yield b"2019-07-17,1.0\n" * 1000

        return StreamingResponse(chunks(), media_type="text/csv")

    async def typed(request: Request) -> Response:
        body = (folder / "assetdata.csv").read_bytes()
        return Response(body, media_type="text/csv; charset=utf-8")

    return Starlette(
        routes=[
            Route("/slow.csv", slow),
            Route("/redirect.csv", redirect),
            Route("/endless.csv", endless),
            Route("/export", typed),
            Mount("/files", app=StaticFiles(directory=folder)),
        ]
    )


@pytest.fixture(scope="session")
def file_server(data_root: Path) -> Iterator[str]:
    """Base URL of a file host on 127.0.0.1 (an allowed host) serving data/."""
    yield from _serve_in_thread(_file_host(data_root / "data"))
