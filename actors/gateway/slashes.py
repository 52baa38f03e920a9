"""The trailing-slash redirect, with a relative ``Location``.

Starlette redirects ``/v1/orders/`` to ``/v1/orders`` with an absolute URL built from the request's
``Host`` header, which the sender controls: behind a proxy or cache that keys on the path alone, a
forged ``Host`` gets a redirect to any host served to others, and a marketplace (or admin client)
that follows it sends a signed body or a token there. A relative ``Location`` keeps the redirect on
whatever host the client reached.
"""

from __future__ import annotations

from starlette.responses import RedirectResponse
from starlette.routing import Match, Router
from starlette.types import Receive, Scope, Send


def relative_slash_redirects(router: Router) -> None:
    """Answer a path that matches a route only with (or without) a trailing slash with 307 and a
    relative ``Location``; every other unmatched path keeps the router's default answer (404)."""
    router.redirect_slashes = False
    fallback = router.default

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        target = _other_spelling(router, scope)
        if target is None:
            await fallback(scope, receive, send)
            return
        await RedirectResponse(target)(scope, receive, send)

    router.default = default


def _other_spelling(router: Router, scope: Scope) -> str | None:
    if scope["type"] != "http":
        return None
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    route_path = path[len(root) :] if root and path.startswith(root) else path
    if route_path in ("", "/"):
        return None
    other = dict(scope)
    other["path"] = path.rstrip("/") if route_path.endswith("/") else path + "/"
    # "//host" and "/\host" are read as another host by browsers and some HTTP clients
    if other["path"][1:2] in ("/", "\\"):
        return None
    if not any(route.matches(other)[0] is not Match.NONE for route in router.routes):
        return None
    query = scope.get("query_string", b"").decode("latin-1")
    return other["path"] + (f"?{query}" if query else "")
