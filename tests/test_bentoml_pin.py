"""The service patches two BentoML internals (service/dispatcher_wait.py, service/supervisor.py): the Bento pins
the BentoML they were written against, and the code they patch is checked here against what it was then, so that
an upgrade fails this test, naming the patch to review, instead of silently changing what the service does."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import circus.arbiter
import pytest
from bentoml._internal.marshal import dispatcher
from bentoml._internal.utils import circus as bentoml_circus

SERVICE = Path(__file__).resolve().parent.parent / "service"
PINNED = "1.4.40"

# sha256 (first 16 hex digits) of each patched or relied-on function's source in BentoML 1.4.40 / circus 0.18.3.
PATCHED: dict[str, tuple[Callable[..., Any], str, str]] = {
    "Optimizer.trigger_refresh": (dispatcher.Optimizer.trigger_refresh, "f87e72c1c3570482",
                                  "service/dispatcher_wait.py wraps it to cap the learned wait"),
    "CorkDispatcher.controller": (dispatcher.CorkDispatcher.controller, "dafc788663463402",
                                  "service/dispatcher_wait.py relies on how it holds a lone request"),
    "bentoml Arbiter.__init__": (bentoml_circus.Arbiter.__init__, "b1b0770e8dc4eb4d",
                                 "service/supervisor.py wraps it to shorten check_delay"),
    "circus Arbiter.__init__": (circus.arbiter.Arbiter.__init__, "cb10d2fc3c727afe",
                                "service/supervisor.py passes check_delay through to it"),
}


def source_hash(function: Callable[..., Any]) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


@pytest.mark.parametrize("requirements", ["requirements-onnx.txt", "requirements-pytorch.txt"])
def test_each_bento_pins_the_bentoml_it_patches(requirements: str) -> None:
    pins = [line.split("#")[0].strip() for line in (SERVICE / requirements).read_text().splitlines()
            if line.startswith("bentoml")]
    assert pins == [f"bentoml=={PINNED}"]
    assert metadata.version("bentoml") == PINNED, "the environment runs another BentoML than the Bento pins"


@pytest.mark.parametrize("name", sorted(PATCHED))
def test_the_patched_internals_are_the_code_the_patches_were_written_for(name: str) -> None:
    function, expected, why = PATCHED[name]
    assert source_hash(function) == expected, (
        f"BentoML's {name} changed ({why}): review that patch against the new code, then record its hash here")


def test_the_hash_check_fails_on_changed_code() -> None:
    def trigger_refresh(self: object) -> None:  # a stand-in with another body
        return None

    assert source_hash(trigger_refresh) != PATCHED["Optimizer.trigger_refresh"][1]
