"""Turning every failure into a JSON answer that names the parameter at fault.

The body of every error answer has the same three keys::

    {"error": "unknown_column", "parameter": "metric_col",
     "detail": "metric column(s) 'coin' not in the data; available columns: ..."}

``error`` is a stable machine-readable code, ``parameter`` the request parameter
the client should fix (``null`` when none applies) and ``detail`` a sentence for
the reader. No answer ever carries a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from analytics.errors import (
    CasinoExplainError,
    ColumnError,
    DateError,
    DuplicateKeyError,
    InsufficientHistoryError,
    ParameterError,
)

__all__ = ["ServiceError", "error_body", "install_error_handlers"]

logger = logging.getLogger("analytics.service")


class ServiceError(CasinoExplainError):
    """A request the service refuses, with the HTTP status to answer it with.

    Parameters
    ----------
    status : int
        HTTP status code (4xx for the client's faults).
    code : str
        Stable machine-readable error code, e.g. ``"refused_path"``.
    detail : str
        A sentence for the reader naming the value and what is allowed.
    parameter : str or None
        The request parameter at fault.
    headers : dict of str to str, optional
        HTTP headers to add to the answer (e.g. ``WWW-Authenticate``).
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        parameter: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.parameter = parameter
        self.headers = headers or {}


def error_body(code: str, detail: str, parameter: str | None) -> dict[str, Any]:
    """Return the JSON body shared by every error answer."""
    return {"error": code, "parameter": parameter, "detail": detail}


def _respond(
    status: int, code: str, detail: str, parameter: str | None
) -> JSONResponse:
    return JSONResponse(error_body(code, detail, parameter), status_code=status)


# Order matters: the first matching class wins, so subclasses come first.
_ANALYTICS_ERRORS: tuple[tuple[type[CasinoExplainError], int, str], ...] = (
    (ColumnError, 422, "unknown_column"),
    (DuplicateKeyError, 422, "duplicate_key"),
    (InsufficientHistoryError, 422, "insufficient_history"),
    (DateError, 422, "bad_date"),
    (ParameterError, 422, "bad_parameter"),
)

# Which request parameter an analytics message most likely concerns, by the
# words the core puts in it; checked in order, first hit wins.
_PARAMETER_HINTS: tuple[tuple[str, str], ...] = (
    ("date_target", "date_target"),
    ("date_base", "date_base"),
    ("history_weeks", "history_weeks"),
    ("date column", "date_col"),
    ("metric_col", "metric_col"),
    ("dimension", "dimensions"),
    ("numerator", "numerator"),
    ("denominator", "denominator"),
    ("method", "method"),
    ("threshold", "threshold"),
    ("max_depth", "max_depth"),
    ("metrics", "metrics"),
)


def guess_parameter(message: str, values: Mapping[str, object]) -> str | None:
    """Name the request parameter an analytics error message is about.

    A parameter whose value the message quotes wins (``'coin' not in the data``
    is about the parameter set to ``'coin'``); otherwise the parameter names and
    phrases the analytics use decide.
    """
    for name, value in values.items():
        if isinstance(value, str) and repr(value) in message:
            return name
    for needle, parameter in _PARAMETER_HINTS:
        if needle in message:
            return parameter
    return None


def from_analytics_error(
    err: CasinoExplainError, values: Mapping[str, object]
) -> ServiceError:
    """Translate an error of :mod:`analytics` into a 4xx :class:`ServiceError`.

    Parameters
    ----------
    err : CasinoExplainError
        Raised by an analytics function on the request's data.
    values : mapping
        The request's parameters, to tell which one the message is about.
    """
    message = str(err)
    for cls, status, code in _ANALYTICS_ERRORS:
        if isinstance(err, cls):
            return ServiceError(status, code, message, guess_parameter(message, values))
    return ServiceError(400, "bad_input", message, guess_parameter(message, values))


def validation_error_response(errors: Sequence[Any]) -> JSONResponse:
    """Answer a pydantic validation failure, naming the first bad parameter."""
    first = dict(errors[0]) if errors else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body",)]
    if location and location[0] in ("query", "path", "header"):
        location = location[1:]
    parameter = ".".join(location) or None
    if first.get("type") == "json_invalid":
        return _respond(400, "malformed_json", _json_detail(first), None)
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "extra_forbidden":
        message = "unknown parameter; see the OpenAPI schema at /docs for the names"
    elif "input" in first and first.get("type") != "missing" and parameter:
        message = f"{message} (got {_short_repr(first['input'])})"
    detail = f"{parameter}: {message}" if parameter else message
    return _respond(422, "invalid_parameter", detail, parameter)


def _short_repr(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_detail(error: dict[str, Any]) -> str:
    reason = (error.get("ctx") or {}).get("error", "not valid JSON")
    return f"the request body is not valid JSON: {reason}"


async def _on_service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    logger.info("%s %s refused: %s", request.method, request.url.path, exc.code)
    response = _respond(exc.status, exc.code, exc.detail, exc.parameter)
    response.headers.update(exc.headers)
    return response


async def _on_analytics_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CasinoExplainError)
    logger.info("%s %s input error: %s", request.method, request.url.path, exc)
    mapped = from_analytics_error(exc, {})
    return _respond(mapped.status, mapped.code, mapped.detail, mapped.parameter)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError | ValidationError)
    return validation_error_response(exc.errors())


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
    response = _respond(
        exc.status_code, code.get(exc.status_code, "http_error"), str(exc.detail), None
    )
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The last resort: log everything for the operator, tell the client nothing
    # about the internals.
    logger.error(
        "unexpected error answering %s %s",
        request.method,
        request.url.path,
        exc_info=exc,
    )
    return _respond(500, "internal_error", "the service failed; see its log", None)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that shape every error answer of ``app``."""
    app.add_exception_handler(ServiceError, _on_service_error)
    app.add_exception_handler(CasinoExplainError, _on_analytics_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
