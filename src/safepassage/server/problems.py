"""Errors as RFC 9457 problem details: one JSON shape, naming the field at fault and why.

Every error the API answers is ``application/problem+json``: ``type`` (a stable URI per kind of
problem), ``title``, ``status``, ``detail`` (the reason, in words a user can act on), ``field``
(where it is wrong: ``body.site``, ``query.size``, ``Authorization``) and, for a request with
several faults, ``errors`` (each a field and its reason). Nothing else of the request is
echoed back: a problem never quotes a value the client sent (it may be personal data).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from safepassage.errors import (
    FormatError,
    ProofError,
    RuleError,
    SafepassageError,
    SignatureError,
    StoreError,
)
from safepassage.server.writer import WriterStoppedError

__all__ = [
    "PROBLEM_TYPES",
    "ApiProblem",
    "FieldError",
    "Problem",
    "install",
    "problem",
    "problem_response",
]

MEDIA_TYPE = "application/problem+json"
_BASE = "https://safepassage.example/problems/"

PROBLEM_TYPES: dict[int, tuple[str, str]] = {
    400: ("bad-request", "The request could not be read"),
    401: ("unauthenticated", "A valid bearer token is required"),
    403: ("forbidden", "This account may not do this"),
    404: ("not-found", "No such resource"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("rule", "The operation's rules refuse this"),
    413: ("too-large", "The request is too large"),
    415: ("unsupported-media-type", "Send JSON (application/json)"),
    422: ("invalid", "A field is missing or malformed"),
    500: ("internal", "Internal error"),
    503: ("unavailable", "Not available on this server now"),
}


class FieldError(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem details object, with the field at fault."""

    model_config = ConfigDict(extra="forbid", title="Problem")
    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[FieldError] | None = None


class ApiProblem(Exception):  # noqa: N818 - it is a problem, answered as one
    """Raised by a handler to answer with a problem of this status."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field
        self.headers = headers


def problem(
    status: int, detail: str, *, field: str | None = None, errors: list[FieldError] | None = None
) -> Problem:
    """The problem of this status, with its type and title."""
    slug, title = PROBLEM_TYPES.get(status, ("error", "Error"))
    return Problem(
        type=_BASE + slug, title=title, status=status, detail=detail, field=field, errors=errors
    )


def problem_response(
    status: int,
    detail: str,
    *,
    field: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = problem(status, detail, field=field, errors=errors)
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def status_of(exc: SafepassageError) -> int:
    """The HTTP status of one of safepassage's own errors."""
    if isinstance(exc, WriterStoppedError):
        return 503
    if isinstance(exc, RuleError):
        return 409
    if isinstance(exc, (FormatError, SignatureError, ProofError, StoreError)):
        return 422
    return 400


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as a problem."""

    @app.exception_handler(ApiProblem)
    async def _api(_request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(exc.status, exc.detail, field=exc.field, headers=exc.headers)

    @app.exception_handler(SafepassageError)
    async def _ours(_request: Request, exc: SafepassageError) -> JSONResponse:
        return problem_response(status_of(exc), exc.reason, field=exc.field)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldError(
                field=_location(tuple(e["loc"])), reason=str(e["msg"]).removeprefix("Value error, ")
            )
            for e in exc.errors()
        ]
        first = errors[0] if errors else FieldError(field="request", reason="is not valid")
        return problem_response(422, first.reason, field=first.field, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = (
            exc.detail
            if isinstance(exc.detail, str)
            else PROBLEM_TYPES.get(exc.status_code, ("", "Error"))[1]
        )
        return problem_response(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(_request: Request, _exc: Exception) -> JSONResponse:
        # the cause goes to the server's log (uvicorn prints it), never to the client
        return problem_response(500, "the server failed while answering; its log says why")
