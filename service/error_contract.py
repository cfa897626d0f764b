"""ASGI middleware that makes error responses match the service's own OpenAPI document (``/docs.json``).

BentoML declares every 4xx/5xx body as ``{"error": string, "detail": string}``, but answers a request that fails
validation with ``detail`` as a list of pydantic error objects, and other 4xx errors as a one-element JSON list;
a client generated from the document breaks on both. This middleware rewrites those bodies into the declared
shape (the validation errors joined into one readable string), and adds the statuses the service really sends
but BentoML leaves out of the document: 413 (body over ``serve.max_request_bytes``), 415 (not JSON, or an
encoded body: :mod:`service.strict_http`) and 503 (shed by the adaptive batching dispatcher, or not ready).
"""

from __future__ import annotations

import json
from typing import Any

from service.body_limit import ASGIApp, Message, Receive, Scope, Send
from stages.common.server_timing import HEADER

ERROR_SCHEMA = "ServebenchError"
TIMING_HEADER_DOC = {
    "description": "W3C Server Timing, in ms: app (the request in the service's app), wait (in the adaptive "
                   "batcher's queue), compute (the model call that served it; a whole batch's), and batch (desc: its "
                   "size). Off with serve.server_timing: false.",
    "schema": {"type": "string", "example": 'app;dur=12.301, wait;dur=1.020, compute;dur=9.870, batch;desc="3"'}}
EXTRA_STATUSES = {"413": "Request body too large", "415": "Content-Type not application/json, or an encoded body",
                  "503": "Service unavailable: shed under load or not ready"}


def error_text(detail: Any) -> str:
    """pydantic's error list as one line: ``texts.0: String should have at least 1 character; ...``."""
    if isinstance(detail, list):
        parts = []
        for error in detail:
            if isinstance(error, dict):
                where = ".".join(str(part) for part in error.get("loc", ()))
                parts.append(f"{where}: {error.get('msg', '')}" if where else str(error.get("msg", "")))
            else:
                parts.append(str(error))
        return "; ".join(parts)
    return str(detail)


def conform_error(body: Any) -> dict[str, str]:
    """An error body in the declared shape: an object with a string ``error`` and, if any, a string ``detail``."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, dict):
        return {"error": str(body)}
    shaped = {"error": str(body.get("error", "request failed"))}
    if "detail" in body:
        shaped["detail"] = error_text(body["detail"])
    return shaped


def complete_document(document: dict[str, Any], server_timing: bool = False) -> dict[str, Any]:
    """Declare 413, 415 and 503 on every POST route, with an ``{"error": string}`` body, and its request body
    required: BentoML leaves it optional, yet a POST without one is refused (415, no JSON Content-Type). With
    ``server_timing``, every response of a POST route declares the ``Server-Timing`` header
    (:mod:`service.server_timing`)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = {"title": ERROR_SCHEMA, "type": "object", "required": ["error"],
                             "properties": {"error": {"title": "Message", "type": "string"}}}
    reference = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
    for item in document.get("paths", {}).values():
        post = item.get("post", {})
        if "requestBody" in post:
            post["requestBody"]["required"] = True
        responses = post.get("responses")
        if responses is not None:
            for status, description in EXTRA_STATUSES.items():
                responses.setdefault(status, {"description": description,
                                              "content": {"application/json": {"schema": reference}}})
            if server_timing:
                for response in responses.values():
                    response.setdefault("headers", {})[HEADER] = TIMING_HEADER_DOC
    return document


class ErrorContract:
    """Buffer JSON error responses and the OpenAPI document, and send them in the documented shape."""

    def __init__(self, app: ASGIApp, server_timing: bool = False) -> None:
        self.app = app
        self.server_timing = server_timing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_document = scope.get("path") == "/docs.json"
        started: Message | None = None
        chunks: list[bytes] = []

        async def rewriting_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                status = message["status"]
                if is_document or 400 <= status < 600:
                    started = message  # hold it until the body is complete
                    return
                await send(message)
            elif started is not None:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._send_rewritten(send, started, b"".join(chunks), is_document, self.server_timing)
            else:
                await send(message)

        await self.app(scope, receive, rewriting_send)

    @staticmethod
    async def _send_rewritten(send: Send, start: Message, body: bytes, is_document: bool, server_timing: bool
                              ) -> None:
        try:
            parsed = json.loads(body)
            body = json.dumps(complete_document(parsed, server_timing) if is_document
                              else conform_error(parsed)).encode()
        except (ValueError, UnicodeDecodeError):
            pass  # not JSON: pass it on untouched
        headers = [(key, value) for key, value in start.get("headers", []) if key.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})
