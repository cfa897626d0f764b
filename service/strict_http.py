"""ASGI middleware that refuses request bodies the API does not speak, before BentoML parses them.

BentoML 1.4 parses a JSON API's body whatever its ``Content-Type``: ``text/plain`` and a bogus
``Content-Encoding: gzip`` were answered 200 as if they were JSON, and ``multipart/form-data`` without a boundary
raised inside the framework and came back as a 500. Here a POST must say ``application/json`` (any parameters,
e.g. ``charset=utf-8``) and carry no content coding but ``identity``; anything else gets a 415 in the declared
error shape, which ``/docs.json`` lists (:mod:`service.error_contract`). Only the API's own POST routes are
checked: a POST anywhere else goes on to the router, which answers 405 with ``Allow`` (or 404), as the OpenAPI
document implies; checked first, it read 415 on ``/healthz``.
"""

from __future__ import annotations

from service.body_limit import ASGIApp, Receive, Scope, Send, send_error

JSON_TYPE = b"application/json"


def unsupported(headers: dict[bytes, bytes]) -> str | None:
    """Why a POST's headers cannot be served, or None."""
    media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if media_type != JSON_TYPE:
        shown = media_type.decode("latin-1") or "none"
        return f"Content-Type {shown} is not supported; send application/json"
    coding = headers.get(b"content-encoding", b"identity").strip().lower()
    if coding != b"identity":
        return f"Content-Encoding {coding.decode('latin-1')} is not supported; send the body uncompressed"
    return None


class StrictContentType:
    """Answer 415 to a POST to one of ``routes`` whose Content-Type is not JSON or whose body is encoded."""

    def __init__(self, app: ASGIApp, routes: frozenset[str]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "POST" and scope.get("path") in self.routes:
            reason = unsupported(dict(scope.get("headers") or []))
            if reason is not None:
                await send_error(send, 415, "Unsupported Media Type", reason)
                return
        await self.app(scope, receive, send)
