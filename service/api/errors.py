"""One error body for every 4xx/5xx: ``{"error": {"code", "message", "details"}}``.

Handlers never echo request values back: a validation error names the field
and the rule, not what was sent (the body may be a sample event with PII, or
a token). FastAPI's own 422 carries pydantic's ``input`` and may quote it;
here every validation error goes through :func:`service.validation.describe_errors`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.validation import describe_errors

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    """What went wrong, and where (a field path such as ``body.params.delta``)."""

    field: str | None = None
    message: str


class ErrorInfo(BaseModel):
    code: str = Field(examples=["validation_failed"])
    message: str = Field(examples=["params.delta: Input should be less than 1"])
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "validation_failed",
                        "message": "1 invalid field",
                        "details": [
                            {"field": "params.delta", "message": "Input should be less than 1"}
                        ],
                    }
                }
            ]
        }
    )

    error: ErrorInfo


class ApiError(Exception):
    """An error with an HTTP status, a stable code and optional details."""

    def __init__(
        self,
        status: int,
        message: str,
        details: list[ErrorDetail] | None = None,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.details = details or []
        self.headers = headers or {}


def invalid(problems: list[str], field_prefix: str | None = None) -> ApiError:
    """422 from a list of ``"<field>: <message>"`` lines (the policies' own messages)."""
    details = []
    for line in problems:
        field, sep, message = line.partition(": ")
        if sep and " " not in field:
            path = f"{field_prefix}.{field}" if field_prefix else field
            details.append(ErrorDetail(field=path, message=message))
        else:
            details.append(ErrorDetail(field=field_prefix, message=line))
    return ApiError(422, "; ".join(problems) or "invalid", details)


def error_response(
    status: int,
    message: str,
    details: list[ErrorDetail] | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(
        error=ErrorInfo(
            code=code or _CODES.get(status, "error"), message=message, details=details or []
        )
    )
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting error statuses with :class:`ErrorBody`."""
    text = {
        401: "No valid bearer token",
        403: "The token's role is too low",
        404: "No such object",
        409: "Conflict",
        413: "The body is larger than allowed",
        422: "Validation failed; details name each field",
        429: "Rate limited (failed authentications, or this token's dry runs); see Retry-After",
        503: "Kafka unavailable; nothing was changed",
    }
    return {s: {"model": ErrorBody, "description": text.get(s, "Error")} for s in statuses}


def install_error_handlers(app: FastAPI) -> None:
    """Make every error, including FastAPI's own 404/405/422, use :class:`ErrorBody`."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.details, exc.code, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        message = exc.detail if isinstance(exc.detail, str) else "error"
        return error_response(exc.status_code, message, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            ErrorDetail(field=where or None, message=message)
            for where, message in describe_errors(exc.errors())
        ]
        n = len(details)
        return error_response(422, f"{n} invalid field{'s' if n != 1 else ''}", details)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The exception type only: messages may carry request data.
        log.error(
            "control plane: unhandled %s on %s %s",
            type(exc).__name__,
            request.method,
            getattr(request.scope.get("route"), "path", "?"),
        )
        log.debug("control plane: traceback", exc_info=exc)
        return error_response(500, "internal error")
