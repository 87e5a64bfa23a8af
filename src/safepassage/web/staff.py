"""The staff pages: the dashboard, the route map, the registration desk, boarding, the
liaison officers' page and the log's entries, each declared with who may open it.

* ``/dashboard``, ``/dashboard/live``: coordinator, facilitator;
* ``/map``: coordinator, facilitator, party-liaison, observer (no person on it);
* ``/register``, ``/registrations/{ref}`` (and its ``receipt.pdf``), ``/boarding``: coordinator,
  facilitator, registrar;
* ``/liaison``: party-liaison, observer (only a party-liaison posts its forms, as in the API);
* ``/entries/{index}``: every account, as the API's ``/log/entries``.
"""

from __future__ import annotations

from safepassage.web.boarding import install_boarding
from safepassage.web.dashboard import install_dashboard
from safepassage.web.liaison import install_liaison
from safepassage.web.pages import Web
from safepassage.web.registrar import install_registration

__all__ = ["install_staff"]


def install_staff(web: Web) -> None:
    """Declare every staff page on ``web``."""
    install_dashboard(web)
    install_registration(web)
    install_boarding(web)
    install_liaison(web)
