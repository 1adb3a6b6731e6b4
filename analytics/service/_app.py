"""The FastAPI application: one endpoint per analytics module.

Every explain endpoint takes its parameters in any of three ways, so that old
notebooks keep working and new clients can use ordinary HTTP:

* a GET with a JSON body (what the old service's clients send),
* a GET with query parameters (lists repeated or comma-separated),
* a POST with a JSON body.

Query and body may be combined (``GET /singlerankmetrics?format=png`` with a JSON
body), but one parameter may not be given in both.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import analytics
from analytics.errors import CasinoExplainError
from analytics.service._charts import render_png
from analytics.service._errors import (
    ServiceError,
    error_body,
    from_analytics_error,
    install_error_handlers,
)
from analytics.service._models import (
    AssessChangeRequest,
    ExplainRequest,
    RankMetricsRequest,
    RankSegmentsRequest,
)
from analytics.service._settings import ServiceSettings
from analytics.service._sources import load_path
from analytics.service._warnings import recorded_warnings

__all__ = ["create_app"]

logger = logging.getLogger("analytics.service")

_bearer = HTTPBearer(auto_error=False, description="CASINO_EXPLAIN_API_TOKEN")


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: str
    parameter: str | None
    detail: str


class ExplanationBody(BaseModel):
    """An explanation: ``to_dict()`` of the analytics result."""

    model_config = ConfigDict(extra="allow")

    module: str
    parameters: dict[str, Any]
    dates: dict[str, Any]
    kpi: dict[str, Any] | None = None
    rows: list[dict[str, Any]]
    skipped: dict[str, Any] = {}
    notes: list[str] = []


@dataclass(frozen=True)
class Endpoint:
    """One analytics module exposed over HTTP."""

    function_name: str
    path: str
    aliases: tuple[str, ...]
    model: type[ExplainRequest]
    summary: str

    def run(
        self, frame: pd.DataFrame, request: ExplainRequest, *, date_col: str | None
    ) -> Any:
        """Call the analytics function on ``frame`` with the request's parameters."""
        function = getattr(analytics, self.function_name)
        kwargs = request.analytics_kwargs()
        if date_col is not None:
            kwargs.setdefault("date_col", date_col)
        return function(frame, **kwargs)


ENDPOINTS = (
    Endpoint(
        "rank_metrics",
        "/singlerankmetrics",
        ("/rank-metrics", "/rank_metrics"),
        RankMetricsRequest,
        "Which metrics moved with the KPI (rank_metrics)",
    ),
    Endpoint(
        "assess_change",
        "/assesschange",
        ("/assess-change", "/assess_change"),
        AssessChangeRequest,
        "Is the change unusual against history (assess_change)",
    ),
    Endpoint(
        "rank_segments",
        "/ranksegments",
        ("/rank-segments", "/rank_segments"),
        RankSegmentsRequest,
        "Where on the floor the change happened (rank_segments)",
    ),
)


def _finite(value: Any) -> Any:
    """Replace NaN and infinities by None, recursively, so JSON stays strict."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _fallback(value: Any) -> Any:
    # Numpy scalars and timestamps that slipped through to_dict().
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return _finite(value.item())
    return str(value)


def _records(table: Any) -> list[dict[str, Any]]:
    if not isinstance(table, pd.DataFrame):
        return []
    cleaned = table.astype(object).where(table.notna(), None)
    return [
        {str(key): value for key, value in row.items()}
        for row in cleaned.to_dict(orient="records")
    ]


def _envelope(
    endpoint: Endpoint, params: ExplainRequest, result: Any
) -> dict[str, Any]:
    """Return ``result.to_dict()`` with the keys every client may rely on.

    ``module``, ``parameters``, ``dates``, ``rows``, ``skipped`` and ``notes``
    are filled from the result when its ``to_dict()`` leaves one out, so that
    ``pandas.DataFrame(answer["rows"])`` always gives the table.
    """
    payload: dict[str, Any] = dict(result.to_dict())
    payload.setdefault("module", endpoint.function_name)
    payload.setdefault("parameters", params.analytics_kwargs())
    window: Any = getattr(result, "window", None)
    if "dates" not in payload and hasattr(window, "as_dict"):
        payload["dates"] = window.as_dict()
    if "rows" not in payload:
        payload["rows"] = _records(getattr(result, "table", None))
    payload.setdefault("skipped", {})
    payload.setdefault("notes", [])
    finite: dict[str, Any] = _finite(payload)
    return finite


class StrictJSONResponse(JSONResponse):
    """JSON answer that never writes NaN (not JSON) and copes with numpy values."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(
            _finite(content), default=_fallback, allow_nan=False, ensure_ascii=False
        )
        return text.encode("utf-8")


class RequestGuard:
    """ASGI middleware: request body size limit and one log line per request."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 0}

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(logged_send)
        else:
            await self.app(scope, self._counting(receive), logged_send)
        logger.info(
            "%s %s -> %s in %.0f ms",
            scope.get("method"),
            scope.get("path"),
            status["code"],
            1000 * (time.perf_counter() - started),
        )

    def _counting(self, receive: Receive) -> Receive:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise _body_too_large(self.max_body_bytes)
            return message

        return counted

    async def _too_large(self, send: Send) -> None:
        err = _body_too_large(self.max_body_bytes)
        body = json.dumps(error_body(err.code, err.detail, err.parameter)).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _body_too_large(limit: int) -> ServiceError:
    return ServiceError(
        413,
        "body_too_large",
        f"the request body exceeds {limit} bytes (CASINO_EXPLAIN_MAX_BODY_BYTES)",
    )


def _settings(request: Request) -> ServiceSettings:
    settings: ServiceSettings = request.app.state.settings
    return settings


def require_token(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
) -> None:
    """Check the bearer token when the service has one configured."""
    expected = _settings(request).api_token
    if expected is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(
        given.encode("utf-8"), expected.get_secret_value().encode("utf-8")
    ):
        raise ServiceError(
            401,
            "unauthorized",
            "a valid 'Authorization: Bearer <token>' header is required",
            "Authorization",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _parse_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise ServiceError(
            400, "malformed_json", f"the request body is not valid JSON: {err}"
        ) from err
    if not isinstance(data, dict):
        raise ServiceError(
            400,
            "malformed_json",
            f"the request body must be a JSON object of parameters, "
            f"got a JSON {type(data).__name__}",
        )
    return data


def _parse_query(request: Request, model: type[ExplainRequest]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name in dict.fromkeys(request.query_params.keys()):
        values = request.query_params.getlist(name)
        if name in model.list_fields:
            params[name] = values
        elif len(values) > 1:
            raise ServiceError(
                422, "invalid_parameter", f"{name} is given more than once", name
            )
        else:
            params[name] = values[0]
    return params


def _wants_png(request: Request, params: ExplainRequest) -> bool:
    if params.format is not None:
        return params.format == "png"
    accept = request.headers.get("accept", "")
    return "image/png" in accept and "application/json" not in accept


async def read_parameters(
    request: Request, model: type[ExplainRequest]
) -> ExplainRequest:
    """Merge the query string and the JSON body of ``request`` into ``model``."""
    from_body = _parse_body(await request.body())
    from_query = _parse_query(request, model)
    both = sorted(set(from_body) & set(from_query))
    if both:
        raise ServiceError(
            422,
            "invalid_parameter",
            f"{both[0]} is given both in the query string and in the body; "
            "give it once",
            both[0],
        )
    return model.model_validate({**from_query, **from_body})


def _load(
    params: ExplainRequest, settings: ServiceSettings
) -> tuple[pd.DataFrame, str | None]:
    if params.path is not None:
        return load_path(params.path, settings), None
    # Imported here: the database side needs the pipeline extra, files do not.
    from analytics.service._database import load_casino

    return load_casino(str(params.casino_id), params, settings)


def _explain(
    endpoint: Endpoint,
    params: ExplainRequest,
    settings: ServiceSettings,
    *,
    png: bool,
) -> Response:
    frame, date_col = _load(params, settings)
    context = f"{endpoint.function_name} on {params.path or params.casino_id}"
    with recorded_warnings(context) as remarks:
        try:
            result = endpoint.run(frame, params, date_col=date_col)
        except CasinoExplainError as err:
            raise from_analytics_error(err, params.model_dump()) from err
        payload = _envelope(endpoint, params, result)
    image = b""
    if png:
        with recorded_warnings(f"chart of {context}"):
            image = render_png(payload, chart=getattr(params, "chart", "bars"))
    if image:
        return Response(content=image, media_type="image/png")
    if remarks:
        payload["warnings"] = remarks
    return StrictJSONResponse(payload)


def _handler(
    endpoint: Endpoint,
) -> Callable[[Request], Awaitable[Response]]:
    async def explain(request: Request) -> Response:
        params = await read_parameters(request, endpoint.model)
        png = _wants_png(request, params)
        return await run_in_threadpool(
            _explain, endpoint, params, _settings(request), png=png
        )

    explain.__name__ = endpoint.function_name
    return explain


def _query_parameter(name: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    parameter: dict[str, Any] = {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {k: v for k, v in schema.items() if k not in ("title", "default")},
    }
    if "description" in schema:
        parameter["description"] = schema["description"]
    return parameter


def _openapi_extra(model: type[ExplainRequest], *, method: str) -> dict[str, Any]:
    schema = model.model_json_schema()
    body = {
        "required": method == "POST",
        "content": {"application/json": {"schema": schema}},
    }
    properties: dict[str, Any] = schema["properties"]
    names = properties if method == "GET" else ["format"]
    return {
        "parameters": [_query_parameter(n, properties[n]) for n in names],
        "requestBody": body,
    }


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": meaning}
    for status, meaning in (
        (400, "Malformed JSON or bad input"),
        (401, "Missing or wrong bearer token"),
        (403, "Path or host refused"),
        (404, "Data file not found"),
        (413, "Request body or data file too large"),
        (422, "A parameter is invalid, or the data cannot answer it"),
    )
}

_OK_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ExplanationBody,
        "description": "The explanation, or a PNG chart with format=png",
        "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _add_endpoint(app: FastAPI, endpoint: Endpoint) -> None:
    handler = _handler(endpoint)
    aliases = ", ".join(endpoint.aliases)
    for method in ("GET", "POST"):
        for path in (endpoint.path, *endpoint.aliases):
            primary = path == endpoint.path
            app.add_api_route(
                path,
                handler,
                methods=[method],
                summary=endpoint.summary,
                description=(
                    f"Parameters as a JSON body or (GET) query string. "
                    f"Also served at {aliases}."
                ),
                operation_id=f"{endpoint.function_name}_{method.lower()}",
                response_class=StrictJSONResponse,
                responses={**_OK_RESPONSE, **_ERROR_RESPONSES},
                dependencies=[Depends(require_token)],
                openapi_extra=_openapi_extra(endpoint.model, method=method),
                include_in_schema=primary,
                tags=["explain"],
            )


def stored_explanation(
    request: Request, casino_id: str, date: str, kpi: str | None = None
) -> Response:
    """Return the explanation the pipeline stored for a casino and gaming day.

    ``date`` is the gaming day explained (ISO); ``kpi`` narrows to one KPI.
    """
    from analytics.service._database import read_stored

    try:
        stored = read_stored(_settings(request), casino_id, date, kpi=kpi)
    except ServiceError:
        raise
    except CasinoExplainError as err:
        raise from_analytics_error(err, {"date": date}) from err
    return StrictJSONResponse(stored)


async def health() -> dict[str, Any]:
    """Tell a load balancer or Airflow the service is up (no token needed)."""
    return {
        "status": "ok",
        "version": analytics.__version__,
        "endpoints": [e.path for e in ENDPOINTS],
    }


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Build the HTTP application.

    Parameters
    ----------
    settings : ServiceSettings, optional
        Configuration; read from the ``CASINO_EXPLAIN_*`` environment when left
        out.

    Returns
    -------
    fastapi.FastAPI
        The application, served by :func:`analytics.service.serve` or mounted by
        the Airflow plugin ``plugins/casino_explain_http.py``.

    Examples
    --------
    >>> from fastapi.testclient import TestClient
    >>> client = TestClient(create_app(ServiceSettings()))
    >>> client.get("/health").json()["status"]
    'ok'
    """
    settings = settings if settings is not None else ServiceSettings()
    app = FastAPI(
        title="casino-explain",
        version=analytics.__version__,
        summary="Why did a casino's slot revenue move yesterday?",
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    app.add_api_route("/health", health, methods=["GET"], tags=["service"])
    for endpoint in ENDPOINTS:
        _add_endpoint(app, endpoint)
    app.add_api_route(
        "/explanations/{casino_id}/{date}",
        stored_explanation,
        methods=["GET"],
        summary="The explanation stored by the daily pipeline",
        response_class=StrictJSONResponse,
        responses={200: {"description": "Stored answer tables"}, **_ERROR_RESPONSES},
        dependencies=[Depends(require_token)],
        tags=["explain"],
    )
    return app
