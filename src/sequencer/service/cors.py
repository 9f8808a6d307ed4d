"""CORS for browser-based CDS clients, off by default: Starlette's CORSMiddleware for
requests from the allowed origins only (``sequencer serve --allow-origin URL``)."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["OriginGate"]


class OriginGate:
    """CORS for the allowed ``origins``, nothing for anyone else.

    A request whose ``Origin`` is allowed goes through Starlette's CORSMiddleware: a
    preflight is answered (methods GET and POST, headers Authorization and Content-Type)
    and the answer carries ``Access-Control-Allow-Origin`` naming that origin, never
    ``*``, and no ``Access-Control-Allow-Credentials`` (a browser client sends its bearer
    token itself). Any other request goes straight to the application, so it gets no CORS
    header at all (a preflight meets the route's 405, as with CORS off).
    """

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        self.origins = {o.encode("latin-1") for o in origins}
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_credentials=False,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI call, through CORS when it comes from an allowed origin."""
        headers = dict(scope.get("headers") or []) if scope["type"] == "http" else {}
        if headers.get(b"origin") in self.origins:
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
