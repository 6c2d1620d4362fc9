"""The read side's one bearer-token rule, used by ``/api/*`` (``search.api``) and
``/api/web/*`` (``search.web.routes``).

With ``STORYWIRE_INDEX_API_TOKEN`` set, a request needs ``Authorization: Bearer <token>``;
the scheme's name is case-insensitive (``bearer`` works, RFC 7235), the token is compared
in constant time. Without a token the routes are open and the OpenAPI document declares
no security for them. The dependency is FastAPI's ``HTTPBearer``, so the document names
the scheme and Swagger UI shows its Authorize button. A refusal raises ``Unauthorized``,
answered 401 with ``WWW-Authenticate: Bearer`` by ``answer_unauthorized``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

SCHEME = HTTPBearer(
    scheme_name="bearer",
    description="The token set in STORYWIRE_INDEX_API_TOKEN, sent as `Authorization: Bearer <token>`.",
    auto_error=False,  # a missing or malformed header is refused by authorize(), with our body
)
MESSAGE = "a valid bearer token is required"


class Unauthorized(Exception):
    """No valid bearer token on a guarded route (answered 401)."""


def bearer(token: SecretStr | None) -> Callable[..., None]:
    """The dependency guarding a route: open when ``token`` is None, else a matching bearer token."""
    if token is None:

        def open_route() -> None:
            return None

        return open_route
    expected = token.get_secret_value().encode()

    def authorize(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(SCHEME)]) -> None:
        given = credentials.credentials.encode() if credentials is not None else b""
        if not secrets.compare_digest(given, expected):
            raise Unauthorized

    return authorize


def guard(token: SecretStr | None) -> list[Any]:
    """``dependencies=guard(token)`` for a route or router."""
    return [Depends(bearer(token))]


async def answer_unauthorized(request: Request, exc: Exception) -> JSONResponse:
    """The 401 every guarded route answers (installed once by ``search.api.create_app``)."""
    return JSONResponse({"error": MESSAGE}, status_code=401, headers={"WWW-Authenticate": "Bearer"})  # an ErrorBody
