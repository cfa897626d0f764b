"""Client errors as one log line, server errors with their traceback.

BentoML logs every failed request through ``log_exception``: ``ERROR Exception on /classify [POST]`` and the
full traceback, whether the client sent a malformed body (a 4xx) or the service broke (a 5xx). A client could
flood the log with tracebacks that say nothing about the server. This filter rewrites the record of a client
error (pydantic's ValidationError, a BentoML exception with a 4xx code, or starlette's ClientDisconnect: the
client hung up before sending the body its Content-Length announced) into one WARNING line naming the error, and
leaves everything else untouched.
"""

from __future__ import annotations

import logging

BENTOML_REQUEST_LOGGER = "bentoml._internal.server.http_app"


def client_error(exc: BaseException | None) -> bool:
    """True for errors a client caused: request validation, a body cut short, or a BentoML exception with a 4xx
    status."""
    if exc is None:
        return False
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError
    from starlette.requests import ClientDisconnect

    if isinstance(exc, ValidationError | ClientDisconnect):
        return True
    return isinstance(exc, BentoMLException) and 400 <= exc.error_code.value < 500


class ClientErrorsAsWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if record.levelno >= logging.ERROR and client_error(exc):
            summary = " ".join(str(exc).split())[:300]
            record.msg = f"{record.getMessage()}: client error {type(exc).__name__}: {summary}"
            record.args = None
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def install() -> None:
    """Attach the filter to BentoML's request logger (idempotent)."""
    logger = logging.getLogger(BENTOML_REQUEST_LOGGER)
    if not any(isinstance(existing, ClientErrorsAsWarnings) for existing in logger.filters):
        logger.addFilter(ClientErrorsAsWarnings())
