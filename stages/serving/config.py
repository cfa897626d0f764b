"""The one schema of ``serving.json``: what the build stage bakes into a Bento and the service reads at import.

Both sides go through this model, so a renamed or mistyped key fails the build, not a served request.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from stages.params.runtime import RuntimeParams
from stages.params.serve import ServiceParams
from stages.params.tokenizer import TokenizerParams


class ServingConfig(BaseModel):
    """One service's variant, model, runtime and HTTP limits, as built."""

    model_config = ConfigDict(extra="forbid")

    name: str
    variant: str
    model_tag: str
    standin: bool
    runtime: RuntimeParams  # threads: the service's own (serve.<service>.threads)
    max_request_bytes: int
    access_log: bool
    respawn_check_s: float
    server_timing: bool = True  # the Server-Timing header on every answer (service/server_timing.py)
    service: ServiceParams
    tokenizer: TokenizerParams
