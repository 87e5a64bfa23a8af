"""The web interface: server-rendered pages for staff, liaison officers and the public.

``install(app, service)`` adds the pages to the API's FastAPI application (``safepassage
serve``); everything they need (htmx, styles) is served from the package, never a CDN.
"""

from __future__ import annotations

from fastapi import FastAPI

from safepassage.server.service import Service
from safepassage.web.pages import Web
from safepassage.web.public import install_public
from safepassage.web.session import install_session
from safepassage.web.staff import install_staff

__all__ = ["install"]


def install(app: FastAPI, service: Service, *, public_url: str | None = None) -> Web:
    """Add every page to ``app``; returns the pages' table (``Web.pages``)."""
    web = Web(app, service, public_url=public_url)
    app.state.web = web  # the pages' table, for the tests of who may open what
    install_session(web)
    install_staff(web)
    install_public(web)
    return web
