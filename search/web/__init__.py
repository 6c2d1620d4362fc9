"""The analysts' web page, served by the API process.

    GET /                         search page (query, filters, sorting; the state is in the address)
    GET /stories/{id}             story page (timeline, articles, sources, related, absorbed)
    GET /now                      "Now" wall screen (?hours=6&refresh=10)
    GET /web/{asset}              the pages' CSS and JavaScript
    GET /api/web/stories/{id}/related | /absorbed, /api/web/timelines, /api/web/now

Layout: ``routes`` (FastAPI) over the search service's public calls (``SearchService.related``,
``absorbed``, ``timelines``, ``now``; their pure bodies in ``search.views``), ``assets`` (HTML, CSS,
vanilla JavaScript; no build step). Errors are the read side's own (``search.errors``), mapped
from Elasticsearch's in the service alone and answered by the handlers ``search.api.create_app``
installs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI
    from pydantic import SecretStr

    from search.service import SearchService
    from search.web.routes import Clock


def mount_web(app: FastAPI, search: SearchService, token: SecretStr | None = None, clock: Clock | None = None) -> None:
    """Add the pages and ``/api/web/*`` to ``app`` (made by ``search.api.create_app``).

    Pass the API's token too, so ``/api/web/*`` is guarded like ``/api/*``; the pages
    themselves carry no data and stay open (they ask for the token when the API wants one).
    """
    from search.web.routes import data_router, load_assets, pages_router, utcnow

    app.include_router(pages_router(load_assets()))
    app.include_router(data_router(search, token, clock or utcnow))  # its 401s: create_app's handler
