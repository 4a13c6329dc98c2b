"""The one place HTTP status codes are chosen, from Tethra's error tiers.

Every error leaves the API as ``{"error": {"type", "message", "details"?}}`` so a client
needs a single parser, and a bad request is always a 4xx that says what to fix: only a
broken installation (``ConfigError``) or a bug is a 500, and a bug's body never leaks
internals.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from foundation.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TethraError,
    UserError,
)
from foundation.logging import get_logger

log = get_logger(__name__)


class Unauthenticated(UserError):
    """No API key, or one that matches no active user (HTTP 401).

    An API concern, so it lives here rather than among the domain tiers.
    """


# Most specific first: the first matching class decides the status.
_STATUS: tuple[tuple[type[TethraError], int], ...] = (
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (ConfigError, 500),
    (UserError, 400),
)


class ErrorDetail(BaseModel):
    type: str
    message: str
    details: Any | None = None


class ErrorBody(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"error": {"type": "NotFound", "message": "no approval request 'apr_x'"}}]
        }
    )

    error: ErrorDetail


def status_for(exc: TethraError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def readiness_status(ready: bool) -> int:
    """``/readyz``: 503 takes the instance out of a load balancer's rotation until ready."""
    return 200 if ready else 503


def error_response(
    status: int,
    type_: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(type=type_, message=message, details=details))
    return JSONResponse(
        jsonable_encoder(body, exclude_none=True), status_code=status, headers=headers
    )


def _tethra_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TethraError)
    status = status_for(exc)
    if status == 500:
        log.error("server-side error", error=str(exc), error_type=type(exc).__name__)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_response(status, type(exc).__name__, str(exc), headers=headers)


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc) or "(request)"


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]
    if any(e["type"] == "json_invalid" for e in errors):
        message = "the request body is not valid JSON"
    else:
        message = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in errors)
    return error_response(422, "ValidationError", message or "invalid request", details)


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    message = exc.detail if isinstance(exc.detail, str) else phrase
    return error_response(
        exc.status_code, phrase.replace(" ", ""), message, headers=dict(exc.headers or {})
    )


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", error_type=type(exc).__name__, exc_info=exc)
    return error_response(
        500, "InternalError", "an unexpected error occurred; it has been logged for the operators"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TethraError, _tethra_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


_EXAMPLES: dict[int, tuple[str, str]] = {
    401: ("Unauthenticated", "missing API key: send 'Authorization: Bearer <key>'"),
    403: ("Forbidden", "this needs the approver role; aria is an auditor"),
    404: ("NotFound", "no approval request 'apr_0000000000000000ffffffff'"),
    409: ("Conflict", "request apr_… is already approved by adam"),
    422: ("ValidationError", "query.limit: Input should be less than or equal to 200"),
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting the error body for each status."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        type_, message = _EXAMPLES[status]
        out[status] = {
            "model": ErrorBody,
            "description": HTTPStatus(status).phrase,
            "content": {
                "application/json": {"example": {"error": {"type": type_, "message": message}}}
            },
        }
    return out
