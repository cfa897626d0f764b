"""ASGI middleware that refuses oversized request bodies with 413 before they reach JSON parsing.

BentoML reads the whole body into memory before validating it; without a cap, one huge request can stall or
kill a worker that every other client depends on.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    """Raised inside ``receive`` when a body without Content-Length grows past the cap."""


async def send_error(send: Send, status: int, error: str, detail: str | None = None) -> None:
    """A complete JSON error response in the service's declared shape, ``{"error": ..., "detail": ...}``."""
    body = json.dumps({"error": error} | ({"detail": detail} if detail else {})).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})


async def _reject(send: Send, max_bytes: int) -> None:
    await send_error(send, 413, f"request body exceeds {max_bytes} bytes")


class RequestSizeLimit:
    """Answer 413 to bodies over ``max_bytes``, by Content-Length up front or by counting streamed chunks."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _reject(send, self.max_bytes)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await _reject(send, self.max_bytes)
