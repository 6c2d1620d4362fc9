"""Swagger UI at ``/docs``, served from this origin: no CDN, no inline script, the pages' CSP.

The assets are Swagger UI's own build (``swagger-ui-bundle.js``, ``swagger-ui.css``) as the
PyPI package ``fastapi-offline`` ships them, pinned in pyproject.toml; nothing is fetched
from a third party at run time, so the page works offline and no unpinned script runs on
the origin that holds the API token. The initializer is a file of ours (``/docs/init.js``)
because the Content-Security-Policy allows scripts from this origin only. Swagger UI does
not keep the token it is given (``persistAuthorization`` stays off). ReDoc is not served.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response

from search.http import HEADERS

VENDOR = "fastapi_offline"
FILES = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8", "swagger-ui.css": "text/css; charset=utf-8"}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API documentation</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js" defer></script>
<script src="/docs/init.js" defer></script>
</body>
</html>
"""

INIT = """"use strict";
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
  });
});
"""


class DocsAssetsMissing(RuntimeError):
    """The pinned Swagger UI package is not installed."""


def vendor_dir() -> Path:
    spec = importlib.util.find_spec(VENDOR)
    if spec is None or not spec.submodule_search_locations:
        raise DocsAssetsMissing(f"{VENDOR} is not installed: pip install the project's dependencies")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def mount_docs(app: FastAPI) -> None:
    """``/docs`` (the page), ``/docs/init.js`` and Swagger UI's two files, read once, under the CSP."""
    folder = vendor_dir()
    assets = {name: ((folder / name).read_bytes(), media) for name, media in FILES.items()}
    assets["init.js"] = (INIT.encode(), "text/javascript; charset=utf-8")
    page = PAGE.format(title=app.title).encode()

    @app.get("/docs", include_in_schema=False)
    def docs_page() -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=HEADERS)

    @app.get("/docs/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        found = assets.get(name)  # names are looked up, never joined to a path
        if found is None:
            return Response("not found", status_code=404, media_type="text/plain", headers=HEADERS)
        return Response(found[0], media_type=found[1], headers=HEADERS)
