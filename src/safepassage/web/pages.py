"""What every page shares: templates, who is signed in, who may open what, forms' CSRF check.

Pages are server-rendered HTML (Jinja2, autoescaped) served by the same FastAPI application as
the API. Every page is declared with ``Web.page(method, path, roles)``, the only way to add one:
the roles are enforced before the handler runs and recorded in ``Web.pages`` (the tests check
every route against that table and the policy they hold).

Staff sign in by pasting their account's token once (``/login``): it is kept in an HttpOnly,
SameSite=Strict cookie and checked on every request exactly like a bearer token (a revoked
token stops working at once). Every form that changes something carries a CSRF token derived
from the session's token, checked before the handler runs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from safepassage import __version__
from safepassage.server.accounts import Account, Role
from safepassage.server.service import Service

__all__ = [
    "COOKIE",
    "PUBLIC",
    "PageProblem",
    "Viewer",
    "Web",
    "csrf_token",
    "home_of",
    "when",
]

HERE = Path(__file__).resolve().parent
COOKIE = "safepassage_session"
PUBLIC: frozenset[Role] = frozenset()
"""The roles of a page anyone may open, signed in or not."""

HTMX = "/static/vendor/htmx-2.0.11.min.js"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # not no-referrer: browsers would then send `Origin: null`
}

HOMES: dict[Role, str] = {
    Role.coordinator: "/dashboard",
    Role.facilitator: "/dashboard",
    Role.registrar: "/register",
    Role.party_liaison: "/liaison",
    Role.observer: "/liaison",
}


def when(value: datetime | str | None) -> str:
    """A time for people: ``2022-05-03 12:26 UTC``."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        parsed = value
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def home_of(account: Account) -> str:
    """The page an account lands on after signing in."""
    return HOMES[account.role]


def csrf_token(token: str) -> str:
    """The CSRF token of a session: derived from its secret token, so nothing is stored."""
    return hmac.new(token.encode(), b"safepassage csrf", hashlib.sha256).hexdigest()[:40]


@dataclass(frozen=True)
class Viewer:
    """Who is looking at a page: an account (and its form token), or nobody signed in."""

    account: Account | None = None
    csrf: str = ""

    @property
    def role(self) -> Role | None:
        return self.account.role if self.account else None


class PageProblem(Exception):  # noqa: N818 - answered as a page, like ApiProblem as a problem
    """Stop a page with an HTML answer: a message page (403, 404, 409...)."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


class _SignIn(Exception):  # noqa: N818 - control flow: answered with a redirect to /login
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class Web:
    """The pages of one served operation."""

    def __init__(self, app: FastAPI, service: Service, *, public_url: str | None = None) -> None:
        self.app = app
        self.service = service
        self.public_url = public_url.rstrip("/") if public_url else None
        """Where the public reaches this server (``serve --public-url``), if said."""
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals.update(version=__version__, htmx=HTMX, when=when)
        self.pages: dict[tuple[str, str], frozenset[Role]] = {}
        app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

        @app.exception_handler(PageProblem)
        async def _problem(request: Request, exc: PageProblem) -> Response:
            return self.render(
                request,
                "message.html",
                status=exc.status,
                title=exc.title,
                detail=exc.detail,
            )

        @app.exception_handler(_SignIn)
        async def _sign_in(request: Request, exc: _SignIn) -> Response:
            if request.headers.get("hx-request") == "true":
                # a fragment polled by htmx (the live dashboard): the whole page goes to the
                # sign-in, not the sign-in page into the fragment's place
                page = urlsplit(request.headers.get("hx-current-url", "")).path or exc.path
                target = "/login?next=" + quote(page, safe="/")
                return Response(status_code=401, headers={"HX-Redirect": target})
            return RedirectResponse("/login?next=" + quote(exc.path, safe="/"), status_code=303)

    # --- who is looking --------------------------------------------------------------------

    async def viewer(self, request: Request) -> Viewer:
        """The signed-in account of this request, if its session cookie holds a live token."""
        cached = getattr(request.state, "viewer", None)
        if isinstance(cached, Viewer):
            return cached
        token = request.cookies.get(COOKIE)
        account = None
        if token:
            known, account = self.service.accounts.remembered(token)
            if not known:
                account = await run_in_threadpool(self.service.accounts.authenticate, token)
        viewer = Viewer(account, csrf_token(token) if account and token else "")
        request.state.viewer = viewer
        return viewer

    def same_origin(self, request: Request) -> bool:
        """Whether a form was sent from this site's own pages, as far as the browser says
        (``Origin``, ``Sec-Fetch-Site``): a page elsewhere cannot post to ours, not even to
        ``/login`` (which would sign the victim's browser into the attacker's account)."""
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return False
        origin = request.headers.get("origin")
        if origin is None:  # not a browser, or an old one: the CSRF token decides
            return True
        ours = {request.url.netloc}
        if self.public_url:
            ours.add(urlsplit(self.public_url).netloc)
        return urlsplit(origin).netloc in ours

    def allowed(self, roles: frozenset[Role], method: str) -> Callable[..., Awaitable[Viewer]]:
        async def check(request: Request) -> Viewer:
            viewer = await self.viewer(request)
            if method != "GET" and not self.same_origin(request):
                raise PageProblem(
                    403, "Sent from another site", "This form was not sent from this site's pages."
                )
            if not roles:
                return viewer
            if viewer.account is None:
                if method != "GET":
                    raise PageProblem(401, "Signed out", "Your session has ended: sign in again.")
                raise _SignIn(request.url.path)
            if viewer.account.role not in roles:
                raise PageProblem(
                    403,
                    "Not for your role",
                    f"A {viewer.account.role.value} account may not open this page.",
                )
            if method != "GET":
                await self.check_csrf(request, viewer)
            return viewer

        return check

    async def check_csrf(self, request: Request, viewer: Viewer) -> None:
        given = request.headers.get("X-CSRF-Token")
        if given is None:
            form = await request.form()
            value = form.get("csrf")
            given = value if isinstance(value, str) else None
        if not given or not hmac.compare_digest(given.encode(), viewer.csrf.encode()):
            raise PageProblem(
                403,
                "Form expired",
                "This form was not sent from this session's page: reload the page and try again.",
            )

    # --- declaring and rendering pages ---------------------------------------------------------

    def page(
        self, method: str, path: str, roles: frozenset[Role]
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare a page with who may open it; there is no other way to add one."""

        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            self.pages[(method, path)] = roles
            self.app.add_api_route(
                path,
                handler,
                methods=[method],
                include_in_schema=False,
                response_class=HTMLResponse,
                dependencies=[Depends(self.allowed(roles, method))],
            )
            return handler

        return register

    def render(
        self,
        request: Request,
        template: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,  # noqa: ANN401 - what the template shows
    ) -> HTMLResponse:
        viewer = getattr(request.state, "viewer", None) or Viewer()
        state = self.service.op.state
        context.setdefault("operation_name", state.name or state.operation or "safepassage")
        context.setdefault("operation_id", state.operation or "")
        response = self.templates.TemplateResponse(
            request,
            template,
            {"viewer": viewer, "nav": _nav(viewer), **context},
            status_code=status,
            headers={**SECURITY_HEADERS, **(headers or {})},
        )
        if viewer.account is not None:  # a signed-in page is never cached
            response.headers["Cache-Control"] = "no-store"
        return response


def _nav(viewer: Viewer) -> list[tuple[str, str]]:
    """The main navigation for this viewer: (path, label)."""
    role = viewer.role
    links: list[tuple[str, str]] = []
    if role in (Role.coordinator, Role.facilitator):
        links += [("/dashboard", "Dashboard"), ("/map", "Route map"), ("/register", "Register"),
                  ("/boarding", "Boarding")]  # fmt: skip
    elif role is Role.registrar:
        links += [("/register", "Register"), ("/boarding", "Boarding")]
    elif role in (Role.party_liaison, Role.observer):
        links += [("/liaison", "Notifications and figures"), ("/map", "Route map")]
    links.append(("/public", "Public report"))
    return links
