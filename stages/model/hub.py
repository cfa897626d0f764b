"""Fetching from the Hugging Face Hub, with a fast and explicit failure when it cannot be reached.

``huggingface_hub`` retries a dead network for about half a minute and then raises a generic "check your
internet connection". Users deserve to hear within seconds that the Hub is unreachable and which offline options
they have. A revision that is already in the local cache is used without touching the network at all.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from functools import partial
from pathlib import Path
from urllib.parse import urlparse

from huggingface_hub import constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

from stages.common.errors import ServebenchError

PROBE_TIMEOUT_S = 5.0


class HubUnavailableError(ServebenchError):
    """The Hub cannot be reached and the requested revision is not cached locally."""


def hub_reachable(timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """One TCP connect to the configured endpoint (``HF_ENDPOINT``): DNS failure or refusal means no."""
    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _unavailable(what: str, offline_options: str) -> HubUnavailableError:
    mode = "HF_HUB_OFFLINE=1 is set" if constants.HF_HUB_OFFLINE else f"{constants.ENDPOINT} is unreachable"
    return HubUnavailableError(
        f"cannot fetch {what}: {mode} and it is not in the local Hugging Face cache "
        f"({constants.HF_HUB_CACHE}). Offline options: {offline_options}"
    )


def cache_first(what: str, fetch: Callable[..., str], offline_options: str,
                errors: tuple[type[Exception], ...]) -> Path:
    """``fetch(local_files_only=True)`` from the cache; else, when the Hub is allowed and reachable, ``fetch()``;
    else a :class:`HubUnavailableError` naming the offline options."""
    try:
        return Path(fetch(local_files_only=True))
    except LocalEntryNotFoundError:
        pass
    if constants.HF_HUB_OFFLINE or not hub_reachable():
        raise _unavailable(what, offline_options)
    try:
        return Path(fetch())
    except errors as exc:
        raise HubUnavailableError(f"cannot fetch {what}: {exc}") from exc


def fetch_snapshot(
    repo_id: str, revision: str, repo_type: str, allow_patterns: list[str] | None, offline_options: str
) -> Path:
    """Return a local folder holding ``repo_id`` at ``revision``, from the cache if possible."""
    return cache_first(f"{repo_type} '{repo_id}' at revision '{revision}'",
                       partial(snapshot_download, repo_id, revision=revision, repo_type=repo_type,
                               allow_patterns=allow_patterns),
                       offline_options, (LocalEntryNotFoundError, HfHubHTTPError))


def fetch_file(repo_id: str, revision: str, repo_type: str, filename: str, offline_options: str) -> Path:
    """Return the local path of one file of a Hub repository, from the cache if possible."""
    return cache_first(f"'{filename}' of {repo_type} '{repo_id}' at revision '{revision}'",
                       partial(hf_hub_download, repo_id, filename, revision=revision, repo_type=repo_type),
                       offline_options, (LocalEntryNotFoundError, EntryNotFoundError, HfHubHTTPError))


def snapshot_commit(path: Path) -> str:
    """The commit hash of a cached snapshot: its folder name in the cache layout ``snapshots/<commit>/``."""
    parts = path.absolute().parts
    return parts[parts.index("snapshots") + 1] if "snapshots" in parts else "unknown"
