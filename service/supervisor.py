"""How often BentoML's process supervisor looks for dead workers, so that a killed worker is replaced in about a
second rather than up to ten.

Evidence (BentoML 1.4, ``bentoml/_internal/utils/circus/__init__.py``): ``create_standalone_arbiter`` builds its
circus ``Arbiter`` with ``check_delay=10`` and no setting reaches it. circus reaps and respawns workers only in
``Arbiter.manage_watchers``, which its ``Controller`` runs every ``check_delay`` seconds: a worker SIGKILLed under
load was replaced 2.1-9.1 s later, and the service answered again 3.6-10.7 s after the kill (resilience stage,
one worker). BentoML's comment says shorter delays "raise ConflictError": ``manage_watchers`` is ``@synchronized``,
so a tick that lands while another arbiter command runs (spawning the watchers at start, a few milliseconds) is
refused, logged by tornado as an error, and the next tick runs. 1 s is circus' own default; no such line appeared
in the server logs of a full repro (about 50 servers, 3 worker kills) or of the test that kills a worker.

``bentoml serve`` imports the service module (``load``) before it creates the arbiter, so patching the class here,
in the serving CLI process, takes effect for that server. In a container BentoML does not respawn workers at all
(``respawn=not running_inside_container()``): there the pod's liveness probe restarts the container.
"""

from __future__ import annotations

from typing import Any

from bentoml._internal.utils import circus as bentoml_circus

_bentoml_arbiter_init = bentoml_circus.Arbiter.__init__


def bound_respawn_check(check_s: float) -> None:
    """Make every arbiter BentoML creates from now on check its workers at least every ``check_s`` seconds."""

    def init(arbiter: bentoml_circus.Arbiter, *args: Any, check_delay: float = 1.0, **kwargs: Any) -> None:
        _bentoml_arbiter_init(arbiter, *args, check_delay=min(check_delay, check_s), **kwargs)

    bentoml_circus.Arbiter.__init__ = init  # type: ignore[assignment]  # a wider signature than circus's
