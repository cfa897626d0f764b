"""The half of the fake cluster whose objects really run: a Deployment is one local server process (the command
state["images"] maps its image to, ``{port}`` filled with a free port); a Service maps its in-cluster URL to that
port; a ConfigMap is a directory; an Indexed Job is ``parallelism`` local processes running the container's command
with ``JOB_COMPLETION_INDEX`` set, the ConfigMap's directory where the volume is mounted, the Service's URL
rewritten to 127.0.0.1 and ``python`` as state["python"] (the image's interpreter: the tests' environment).
NetworkPolicies are recorded, not enforced. Pod logs are files; a pod's phase comes from its exit status (a pod
killed by a signal reads Failed). The API server's Service proxy (``get --raw .../proxy/metrics``) is a GET to the
local server."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import yaml
from fake_api import Call, Cluster

INDEX = "batch.kubernetes.io/job-completion-index"
KINDS = ("deployments", "services", "configmaps", "jobs", "policies")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
        return True
    except ProcessLookupError:
        return False


def stop(pid: int) -> None:
    if alive(pid):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)


class Workloads:
    """The objects applied to the fake cluster, each a process, a directory or a record."""

    def __init__(self, cluster: Cluster) -> None:
        self.root = cluster.root
        self.state = cluster.state
        for kind in KINDS:
            self.state.setdefault(kind, [] if kind == "policies" else {})

    def launch(self, command: list[str], name: str, env: dict[str, str]) -> int:
        """In its own process group; the exit status lands in ``name``.rc (a killed group leaves none)."""
        wrapper = ["bash", "-c", '"$@" >"$FAKE_LOG" 2>&1; echo $? >"$FAKE_RC"', "pod", *command]
        files = {"FAKE_LOG": str(self.root / f"{name}.log"), "FAKE_RC": str(self.root / f"{name}.rc")}
        process = subprocess.Popen(wrapper, env=os.environ | env | files, start_new_session=True,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # kubectl's pipes: not held
        return process.pid

    def apply_deployment(self, doc: dict[str, Any]) -> None:
        name, container = doc["metadata"]["name"], doc["spec"]["template"]["spec"]["containers"][0]
        port = free_port()
        command = [part.replace("{port}", str(port)) for part in self.state["images"][container["image"]]]
        self.state["deployments"][name] = {"port": port, "pid": self.launch(command, f"deployment-{name}", {}),
                                           "labels": doc["spec"]["template"]["metadata"]["labels"]}

    def apply_job(self, doc: dict[str, Any]) -> None:
        name, spec = doc["metadata"]["name"], doc["spec"]["template"]["spec"]
        container = spec["containers"][0]
        volumes = {volume["name"]: self.state["configmaps"][volume["configMap"]["name"]] for volume in spec["volumes"]}
        mounts = {mount["mountPath"]: volumes[mount["name"]] for mount in container.get("volumeMounts", [])}
        pods = {}
        for index in range(doc["spec"]["parallelism"]):
            pod = f"{name}-{index}-{secrets.token_hex(2)}"
            fields = {"spec.nodeName": "fake-node", "metadata.name": pod}
            env = {"JOB_COMPLETION_INDEX": str(index)}
            for item in container.get("env", []):
                value = item.get("value") or fields[item["valueFrom"]["fieldRef"]["fieldPath"]]
                for service, entry in self.state["services"].items():
                    port = self.state["deployments"][entry["deployment"]]["port"]
                    value = value.replace(f"http://{service}.{doc['metadata']['namespace']}.svc:{entry['port']}",
                                          f"http://127.0.0.1:{port}")
                env[item["name"]] = mounts.get(value, value)
            command = [self.state["python"] if part == "python" else part for part in container["command"]]
            pods[pod] = {"index": index, "pid": self.launch(command, f"pod-{pod}", env)}
        self.state["jobs"][name] = {"pods": pods}

    def apply(self, documents: str) -> None:
        for doc in yaml.safe_load_all(documents):
            kind, name = doc["kind"], doc["metadata"]["name"]
            if kind == "Deployment":
                self.apply_deployment(doc)
            elif kind == "Service":
                selector = doc["spec"]["selector"]
                target = next(deployment for deployment, entry in self.state["deployments"].items()
                              if selector.items() <= entry["labels"].items())
                self.state["services"][name] = {"deployment": target, "port": doc["spec"]["ports"][0]["port"]}
            elif kind == "ConfigMap":
                folder = self.root / f"configmap-{name}"
                folder.mkdir()
                for file, text in doc.get("data", {}).items():
                    (folder / file).write_text(text)
                for file, blob in doc.get("binaryData", {}).items():
                    (folder / file).write_bytes(base64.b64decode(blob))
                self.state["configmaps"][name] = str(folder)
            elif kind == "Job":
                self.apply_job(doc)
            elif kind == "NetworkPolicy":  # recorded, not enforced: loopback has no policy
                self.state["policies"].append(name)
            else:
                sys.exit(f"fake kubectl: cannot apply {kind}")
            print(f"{kind.lower()}/{name} created")

    def pod_status(self, pod: str, pid: int) -> dict[str, Any]:
        rc = self.root / f"pod-{pod}.rc"
        if rc.is_file():
            code = int(rc.read_text())
            end = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}}
            return {"phase": "Succeeded" if code == 0 else "Failed", "containerStatuses": [{"state": end}]}
        if alive(pid):
            return {"phase": "Running", "containerStatuses": [{"state": {"running": {}}}]}
        killed = {"terminated": {"exitCode": 137, "reason": "Killed"}}
        return {"phase": "Failed", "containerStatuses": [{"state": killed}]}

    def proxy_metrics(self, path: str) -> None:
        service = path.split("/services/")[1].split(":")[0]
        port = self.state["deployments"][self.state["services"][service]["deployment"]]["port"]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                print(response.read().decode())
        except OSError as exc:
            sys.exit(f"Error from server: {exc}")

    def job_status(self, name: str) -> None:
        pods = self.state["jobs"][name]["pods"]
        phases = [self.pod_status(pod, entry["pid"])["phase"] for pod, entry in pods.items()]
        print(json.dumps({"status": {"succeeded": phases.count("Succeeded"), "failed": phases.count("Failed"),
                                     "active": phases.count("Running")}}))

    def job_pods(self, name: str) -> None:
        pods = self.state["jobs"].get(name, {"pods": {}})["pods"]
        print(json.dumps({"items": [
            {"metadata": {"name": pod, "annotations": {INDEX: str(entry["index"])}},
             "status": self.pod_status(pod, entry["pid"])} for pod, entry in pods.items()]}))

    def rollout_status(self, name: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        port = self.state["deployments"][name]["port"]
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except urllib.error.HTTPError:  # the server answers (a null server has no /readyz): ready
                break
            except OSError:
                time.sleep(0.2)
        else:
            sys.exit(f"error: timed out waiting for deployment {name!r} rollout to finish")
        print(f'deployment "{name}" successfully rolled out')

    def delete(self, targets: list[str]) -> None:
        for target in targets:
            kind, name = target.split("/", 1)
            if kind == "deployment" and name in self.state["deployments"]:
                stop(self.state["deployments"].pop(name)["pid"])
            elif kind == "job" and name in self.state["jobs"]:
                for entry in self.state["jobs"].pop(name)["pods"].values():
                    stop(entry["pid"])
            elif kind in ("service", "configmap") and name in self.state[f"{kind}s"]:
                self.state[f"{kind}s"].pop(name)
            elif kind == "networkpolicy" and name in self.state["policies"]:
                self.state["policies"].remove(name)
            else:
                continue
            print(f"{target} deleted")


def handle(call: Call, cluster: Cluster) -> bool:
    """Carry out a call on the running objects; False when it is the simulated Deployment's."""
    workloads, words = Workloads(cluster), call.words
    verb, target = words[0], (words[1:] or [""])[0]
    if verb == "apply":
        workloads.apply(sys.stdin.read())
    elif verb == "logs":
        print((cluster.root / f"pod-{target}.log").read_text(), end="")
    elif verb == "delete" and "/" in target:
        workloads.delete([word for word in words[1:] if "/" in word])
    elif verb == "get" and call.option("--raw"):
        workloads.proxy_metrics(str(call.option("--raw")))
    elif verb == "get" and target.startswith("job/"):
        workloads.job_status(target.removeprefix("job/"))
    elif verb == "get" and target == "pods" and (call.option("-l") or "").startswith("job-name="):
        workloads.job_pods(str(call.option("-l")).split("=", 1)[1])
    elif words[:2] == ["rollout", "status"] and words[2].removeprefix("deployment/") in workloads.state["deployments"]:
        workloads.rollout_status(words[2].removeprefix("deployment/"), float(call.prefixed("--timeout=").rstrip("s")))
    else:
        return False
    return True
