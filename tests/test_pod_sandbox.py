"""The optimized Bento run the way the K3s pod runs it, without a cluster: bubblewrap (Debian's ``bubblewrap``)
gives it a read-only root filesystem, a non-root UID (the pod's ``runAsUser``), and writable ``BENTOML_HOME``
and ``/tmp`` only (the pod's two emptyDir volumes). The Bento is laid out as in its container image: the Bento
directory with its models inside, which BentoML then serves from (not from a model store)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import classify

from stages.manifests.render import TMP
from stages.params.k3s import K3sParams
from stages.serving.server import BentoServer

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="needs bubblewrap (apt-get install bubblewrap; .ci/run installs it)")


def image_layout(home: Path, tag: str, into: Path) -> Path:
    """The Bento as `bentoml containerize` lays it out: its directory, with the models it serves inside."""
    name, version = tag.split(":")
    bento = into / "bento"
    shutil.copytree(home / "bentos" / name / version, bento)
    info = yaml.safe_load((bento / "bento.yaml").read_text())
    for model in (entry["tag"] for service in info["services"] for entry in service["models"]):
        model_name, model_version = model.split(":")
        shutil.copytree(home / "models" / model_name / model_version, bento / "models" / model_name / model_version)
        (bento / "models" / model_name / "latest").write_text(model_version)
    for path in [into, *into.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o555 if path.is_dir() else path.stat().st_mode | 0o444)
    return bento


@pytest.fixture
def scratch() -> Iterator[Path]:
    """Outside /tmp, which the sandbox replaces with an empty tmpfs (the pod's /tmp emptyDir)."""
    path = Path(tempfile.mkdtemp(prefix="servebench-pod-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_bento_serves_read_only_as_non_root_with_only_the_pod_s_empty_dirs_writable(built: dict[str, Any],
                                                                                        scratch: Path) -> None:
    uid = K3sParams().run_as_user
    bento = image_layout(Path(built["home"]), built["bentos"]["services"]["optimized"]["bento"], scratch / "image")
    writable_home = scratch / "bentoml-home"  # the emptyDir at BENTOML_HOME (bound at its own path here)
    writable_home.mkdir(mode=0o777)
    writable_home.chmod(0o777)
    sandbox = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", TMP,
               "--bind", str(writable_home), str(writable_home), "--unshare-user", "--uid", str(uid), "--gid",
               str(uid), "--die-with-parent", "--new-session"]
    # The sandbox is what the pod is: this UID, the Bento read-only, the two scratch paths writable.
    check = ("import os, sys; print(os.getuid()); open(sys.argv[2] + '/w', 'w').close(); "
             "open(sys.argv[3] + '/w', 'w').close(); open(sys.argv[1] + '/w', 'w')")
    probed = subprocess.run([*sandbox, sys.executable, "-c", check, str(bento), str(writable_home), TMP],
                            capture_output=True, text=True, timeout=60, check=False)
    assert probed.stdout.strip() == str(uid) and "Read-only file system" in probed.stderr, probed.stderr
    with BentoServer(str(bento), writable_home, scratch / "server.log", ready_timeout_s=120,
                     launcher=sandbox) as server:
        results = classify(server.url, ["what a great day", "this is awful"])
        assert len(results) == 2 and {"label", "score", "probabilities"} <= set(results[0])
    log = (scratch / "server.log").read_text()
    assert "Read-only file system" not in log and "Permission denied" not in log, log[-2000:]
    # What BentoML wrote lies in the emptyDir: the store layout it creates at start, and its metrics directory.
    assert {"bentos", "models", "envs", "tmp", "prometheus_multiproc_dir"} <= {p.name for p in writable_home.iterdir()}
    assert not (bento / "w").exists()
