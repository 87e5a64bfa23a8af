"""Signing in and out: ``/login`` takes an account's token once and keeps it in a cookie."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from safepassage.server.accounts import Role
from safepassage.web.pages import COOKIE, PUBLIC, Web, home_of

__all__ = ["install_session"]

EVERYONE = frozenset(Role)
_TOKEN_FIELD = "token"  # noqa: S105 - the form field's name, not a secret


def _next(target: str | None, default: str) -> str:
    """Where to go after signing in: a path on this site only (never another host)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def install_session(web: Web) -> None:
    @web.page("GET", "/", PUBLIC)
    async def home(request: Request) -> Response:
        viewer = await web.viewer(request)
        target = home_of(viewer.account) if viewer.account else "/public"
        return RedirectResponse(target, status_code=303)

    @web.page("GET", "/login", PUBLIC)
    async def login_form(request: Request, next: str | None = None) -> Response:
        viewer = await web.viewer(request)
        return web.render(request, "login.html", title="Sign in", next=next or "",
                          signed_in=viewer.account)  # fmt: skip

    @web.page("POST", "/login", PUBLIC)
    async def login(request: Request) -> Response:
        form = await request.form()
        token = str(form.get(_TOKEN_FIELD) or "").strip()
        target = str(form.get("next") or "")
        error = None
        account = None
        if not token:
            error = "Paste the access token you were given (it starts with spt_)."
        else:
            account = await run_in_threadpool(web.service.accounts.authenticate, token)
            if account is None:
                error = "This token is unknown or has been revoked."
        if account is None:
            return web.render(request, "login.html", status=401, title="Sign in", next=target,
                              error=error, signed_in=None)  # fmt: skip
        response = RedirectResponse(_next(target, home_of(account)), status_code=303)
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    @web.page("POST", "/logout", EVERYONE)
    async def logout(_request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response
