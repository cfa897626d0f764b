"""kubectl aimed at one context and namespace, never another.

Every command carries an explicit ``--context`` and ``--namespace`` (a changed current context in the kubeconfig
cannot redirect it), and the context must exist in the kubeconfig under exactly the configured name.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from stages.common.errors import ServebenchError


class KubectlError(ServebenchError):
    """A kubectl command failed, or was aimed at a target that params.yaml does not configure."""


DEFAULT_TIMEOUT_S = 300.0  # no command of the pipeline waits longer unless its caller says so


def run_command(command: list[str], stdin: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """Run one command (kubectl, or a node's own tool); its stdout, or a :class:`KubectlError` with its stderr or
    the timeout it overran: a hung API server must not hang the stage."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, input=stdin, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise KubectlError(f"{' '.join(command)} did not finish within {timeout_s:g} s") from exc
    except FileNotFoundError as exc:
        raise KubectlError(f"{command[0]} is not installed (cluster mode runs it)") from exc
    if result.returncode != 0:
        raise KubectlError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result.stdout


class Kubectl:
    """Commands for the one ``context`` / ``namespace`` that params section ``what`` configures; refusals raise
    ``error`` (a :class:`KubectlError`), so each caller's users see the error family they know."""

    def __init__(self, context: str | None, namespace: str, what: str,
                 error: type[KubectlError] = KubectlError) -> None:
        if not context:
            raise error(f"{what}.context is not set: cluster mode runs only in a configured kubectl context "
                        "(see k3s/README.md)")
        self.context, self.namespace, self.what, self.error = context, namespace, what, error

    def command(self, *args: str) -> list[str]:
        return ["kubectl", "--context", self.context, "--namespace", self.namespace, *args]

    def run(self, *args: str, stdin: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
        """Run one command; its stdout, or a :class:`KubectlError` with its stderr."""
        return run_command(self.command(*args), stdin, timeout_s)

    def json(self, *args: str) -> dict[str, Any]:
        return json.loads(self.run(*args, "-o", "json") or "{}")

    def require_context(self) -> None:
        """Refuse a context the kubeconfig does not have under exactly this name."""
        contexts = run_command(["kubectl", "config", "get-contexts", "-o", "name"]).split()
        if self.context not in contexts:
            raise self.error(f"context {self.context!r} is not in the kubeconfig (it has {contexts}): "
                             f"{self.what}.context must name it exactly")
