"""A bound on the wait BentoML's adaptive batching dispatcher learns, so that one burst does not slow every
quiet request after it.

Evidence (BentoML 1.4, ``bentoml/_internal/marshal/dispatcher.py``): ``Optimizer.wait`` is the mean, over the
last 50 batches, of how long each batch's first request waited before dispatch. ``CorkDispatcher.controller``
holds a lone request until ``n * (its age + 1 ms + o_a)`` exceeds ``0.95 * wait``. Under saturation requests
queue behind the busy worker, so their waits, and the learned ``wait``, grow to hundreds of ms; afterwards each
lone request is held for about that ``wait``, logs that same wait, and keeps the mean where it is: the cliff never
decays (``limits`` reports lone requests' p50 after saturation beside the one before). BentoML exposes no
setting for it. This module caps ``wait`` at ``serve.<service>.batching.max_wait_ms`` after every refresh of the
optimizer's parameters: queueing under load still fills batches (requests accumulate while the worker is busy),
and a quiet request waits at most the cap.
"""

from __future__ import annotations

from bentoml._internal.marshal import dispatcher

_learned_refresh = dispatcher.Optimizer.trigger_refresh


def bound_learned_wait(max_wait_ms: float) -> None:
    """Cap every dispatcher's learned wait at ``max_wait_ms`` (once per process; the last call's cap holds)."""
    cap_s = max_wait_ms / 1000.0

    def bounded_refresh(optimizer: dispatcher.Optimizer) -> None:
        _learned_refresh(optimizer)
        optimizer.wait = min(optimizer.wait, cap_s)  # type: ignore[assignment]  # BentoML annotates seconds as int

    dispatcher.Optimizer.trigger_refresh = bounded_refresh  # type: ignore[method-assign]
