"""BentoML service that serves one servebench model variant behind ``POST /classify``.

One class serves every variant. What it serves and how (variant, threads, limits, adaptive batching, workers,
traffic) is read from ``serving.json`` beside this file, which the build stage writes into each Bento's build
context from ``params.yaml``; the BentoML decorators need those values at import time, hence a module-level
read. Inference goes through the same :class:`SentimentClassifier` that the validate stage scored.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import bentoml
from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from service import client_errors, startup
from service.body_limit import RequestSizeLimit
from service.dispatcher_wait import bound_learned_wait
from service.error_contract import ErrorContract
from service.server_timing import ServerTiming, time_the_dispatcher, timed_compute
from service.strict_http import StrictContentType
from service.supervisor import bound_respawn_check
from stages.common.artifacts import WORKERS_ENV
from stages.model.classifier import SentimentClassifier
from stages.model.variants import parse_variant
from stages.serving.config import ServingConfig

IMPORTED_AT = time.time()  # this worker's imports are done (service/startup.py)
SERVING_FILE = Path(__file__).with_name("serving.json")
WARMUP_TEXT = "servebench warm-up request"

if not SERVING_FILE.is_file():
    raise RuntimeError(
        f"{SERVING_FILE} is missing: serve a Bento built by the pipeline (`dvc repro build`), not the source tree"
    )
SERVING = ServingConfig.model_validate_json(SERVING_FILE.read_text())
PARAMS = SERVING.service
if os.environ.get(WORKERS_ENV):  # one server with another worker count (resilience.multi_worker), same Bento
    PARAMS = PARAMS.model_copy(update={"workers": int(os.environ[WORKERS_ENV])})

bound_respawn_check(SERVING.respawn_check_s)
if PARAMS.batching.enabled and PARAMS.batching.max_wait_ms is not None:
    bound_learned_wait(PARAMS.batching.max_wait_ms)
if SERVING.server_timing:
    time_the_dispatcher()

# The documented limits hold for the text as sent (a length checked after stripping let a text one character over
# maxLength through, against /docs.json); at least one non-blank character, then stripped for the model.
Text = Annotated[str, StringConstraints(min_length=1, max_length=PARAMS.max_text_chars, pattern=r"\S"),
                 AfterValidator(str.strip)]


class Classification(BaseModel):
    label: str
    score: float
    probabilities: dict[str, float]


@bentoml.service(
    name=SERVING.name,
    workers=PARAMS.workers,
    traffic={"timeout": PARAMS.timeout_s, "max_concurrency": PARAMS.max_concurrency},
    logging={"access": {"enabled": SERVING.access_log}},
    labels={"servebench.variant": SERVING.variant, "servebench.standin": str(SERVING.standin).lower()},
)
class SentimentService:
    """Sentiment classification of short texts; one result per text, in order."""

    model = bentoml.models.BentoModel(SERVING.model_tag)

    def __init__(self) -> None:
        init_at = time.time()
        root = Path(self.model.path)
        variant = parse_variant(SERVING.variant, root / "model", root / "variants")
        self.classifier = SentimentClassifier.load(variant, root / "model", SERVING.tokenizer, SERVING.runtime)
        loaded_at = time.time()
        # Ready only once a real inference has run: the first call pays for lazy allocations.
        self.classifier.classify([WARMUP_TEXT])
        startup.report(IMPORTED_AT, init_at, loaded_at, time.time())
        self.ready = True

    def __is_ready__(self) -> bool:
        return getattr(self, "ready", False)

    @bentoml.api(
        route="/classify",
        batchable=PARAMS.batching.enabled,
        max_batch_size=PARAMS.batching.max_batch_size,
        max_latency_ms=PARAMS.batching.max_latency_ms,
    )
    def classify(self, texts: Annotated[list[Text], Field(min_length=1, max_length=PARAMS.max_texts)]
                 ) -> list[Classification]:
        with timed_compute():
            predictions = self.classifier.classify(texts)
        return [Classification(**vars(prediction)) for prediction in predictions]


SERVICE: Any = SentimentService  # a bentoml.Service at run time; its stubs type the decorated class as the class

# The first added is the outermost (Starlette order): every error body, the 413 and 415 included, leaves in one
# shape, and the Server-Timing header (serve.server_timing) times all of them.
# BentoML derives a root model's response media type from its JSON schema, which it regenerates for every response
# unless the type is set: event-loop CPU that inference lacks at saturation. The type is what BentoML would derive.
SERVICE.apis["classify"].output_spec.media_type = "application/json"
if SERVING.server_timing:  # outermost: its "app" time covers every other middleware
    SERVICE.add_asgi_middleware(ServerTiming)
SERVICE.add_asgi_middleware(ErrorContract, server_timing=SERVING.server_timing)
SERVICE.add_asgi_middleware(RequestSizeLimit, max_bytes=SERVING.max_request_bytes)
SERVICE.add_asgi_middleware(StrictContentType,
                            routes=frozenset(api.route for api in SERVICE.apis.values()))
client_errors.install()
