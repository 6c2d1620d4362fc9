"""What every HTTP route of the read side shares: the security headers of the pages (a
Content-Security-Policy that allows scripts and styles from this origin only), the error
body models, and ``responses``, the error answers a route documents in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretStr

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


class ErrorBody(BaseModel):
    """Every error the API answers."""

    error: str


class Problem(BaseModel):
    parameter: str
    message: str


class InvalidParameters(ErrorBody):
    """A 422: one problem per parameter out of range or of the wrong type."""

    problems: list[Problem]


def responses(*codes: int, token: SecretStr | None = None) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route: ``codes`` plus 401 when a token guards it, and 422."""
    what = {
        400: "Inconsistent parameters (e.g. from after to)",
        401: "No valid bearer token",
        404: "No story with that id",
        503: "Elasticsearch is unavailable",
    }
    out: dict[int | str, dict[str, Any]] = {c: {"model": ErrorBody, "description": what[c]} for c in codes}
    if token is not None:
        out[401] = {"model": ErrorBody, "description": what[401]}
    out[422] = {"model": InvalidParameters, "description": "A parameter out of range or of the wrong type"}
    return dict(sorted(out.items(), key=lambda kv: str(kv[0])))
