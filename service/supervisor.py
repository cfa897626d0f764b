"""How often BentoML's process supervisor looks for dead workers, so that a killed worker is replaced in about a
second rather than up to ten.

BentoML 1.4 builds its circus ``Arbiter`` with ``check_delay=10`` and no setting reaches it; circus respawns
workers only on that tick. A shorter delay can make a tick collide with another arbiter command (BentoML's
comment: "ConflictError"): that tick is refused and logged, and the next one runs. 1 s is circus' own default.

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
