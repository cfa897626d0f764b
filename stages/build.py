"""build stage: a BentoML model and a Bento for the baseline and the optimized service.

Each served variant (weights + tokenizer) is imported into a BentoML store kept inside the workspace
(``bentoml/``, a DVC output), then ``bentoml build`` runs offline (``lock_packages: false``: no uv install, no
index lookups) in a build context holding the service code and a ``serving.json`` baked from ``params.yaml``.
A variant that failed the accuracy gate is never built.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from stages.cli import run_stage
from stages.download import MODEL_INFO
from stages.errors import ServebenchError
from stages.params import Params, ServiceParams, load_params
from stages.variants import MODEL_DIR, VARIANTS_DIR, parse_variant

REPO_ROOT = Path(__file__).resolve().parent.parent
BENTOML_HOME = Path("bentoml")
SERVICES = ("baseline", "optimized")
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", MODEL_INFO)
# What the service imports at run time; recorded in the Bento for `bentoml containerize`.
RUNTIME_PACKAGES = ["bentoml>=1.4", "transformers>=5.0", "onnxruntime>=1.20", "numpy>=1.26", "pydantic>=2.7",
                    "torch==2.13.0"]


class BuildError(ServebenchError):
    """A service cannot be built as configured."""


def bentoml_env(home: Path) -> dict[str, str]:
    """Environment for any bentoml process of the pipeline: its own store, no usage tracking."""
    return {**os.environ, "BENTOML_HOME": str(home.resolve()), "BENTOML_DO_NOT_TRACK": "true"}


def cuda_available() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def resolve_variant(setting: str, cuda: bool) -> str:
    """``auto`` serves what the hardware favours: FP16 on a CUDA GPU, INT8 dynamic quantization on a CPU."""
    if setting != "auto":
        return setting
    return "onnx-fp16" if cuda else "onnx-int8"


def check_gate(variant: str, validation: dict) -> None:
    """Refuse to serve a variant that was not validated or failed the accuracy gate."""
    result = validation["variants"].get(variant)
    if result is None:
        raise BuildError(
            f"variant {variant!r} was not produced and validated in this run (validated: "
            f"{sorted(validation['variants'])}); enable its conversion or choose another serve.*.variant"
        )
    if not result["passed"]:
        raise BuildError(f"variant {variant!r} failed the accuracy gate: {'; '.join(result['failed_because'])}")


def import_model(name: str, variant: str, model_dir: Path, variants_dir: Path, labels: dict[str, str]) -> str:
    """Copy one variant and its tokenizer into the BentoML model store; return the model tag."""
    import bentoml

    source = parse_variant(variant, model_dir, variants_dir)
    with bentoml.models.create(name, labels=labels) as stored:
        target = Path(stored.path)
        (target / "model").mkdir()
        for file in MODEL_FILES:
            shutil.copy2(model_dir / file, target / "model" / file)
        if source.runtime == "pytorch":
            for weights in model_dir.glob("*.safetensors"):
                shutil.copy2(weights, target / "model" / weights.name)
        else:
            (target / "variants" / variant).mkdir(parents=True)
            shutil.copy2(source.path, target / "variants" / variant / source.path.name)
    return str(stored.tag)


def build_bento(context: Path, name: str, serving: dict, home: Path) -> str:
    """Lay out a build context with the service code and ``serving.json``, run ``bentoml build`` on it."""
    for package in ("service", "stages"):
        shutil.copytree(REPO_ROOT / package, context / package, ignore=shutil.ignore_patterns("__pycache__"))
    (context / "service" / "serving.json").write_text(json.dumps(serving, indent=2) + "\n")
    bentofile = {
        "service": "service.service:SentimentService",
        "name": name,
        "include": ["service/*.py", "service/serving.json", "stages/*.py"],
        "labels": {"servebench.variant": serving["variant"]},
        "python": {"packages": RUNTIME_PACKAGES, "lock_packages": False},
    }
    (context / "bentofile.yaml").write_text(yaml.safe_dump(bentofile))
    # A fresh process per Bento: the service module reads its config at import, so it must not be cached.
    result = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", ".", "--output", "tag", "--do-not-track"],
        cwd=context, env=bentoml_env(home), capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise BuildError(f"bentoml build of {name} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1].removeprefix("__tag__:")


def serving_config(name: str, variant: str, model_tag: str, service: ServiceParams, params: Params, standin: bool
                   ) -> dict:
    return {
        "name": name,
        "variant": variant,
        "model_tag": model_tag,
        "standin": standin,
        "runtime": params.runtime.model_dump(exclude={"threads"}),
        "max_request_bytes": params.serve.max_request_bytes,
        "access_log": params.serve.access_log,
        "service": service.model_dump(),
        "tokenizer": params.tokenizer.model_dump(),
    }


def build_services(params: Params, model_dir: Path, variants_dir: Path, validation: dict, home: Path) -> dict:
    """Import and build both services; return the content of ``results/bentos.json``."""
    os.environ.update(bentoml_env(home))
    standin = json.loads((model_dir / MODEL_INFO).read_text())["standin"]
    cuda = cuda_available()
    plans = {}
    for service_name in SERVICES:
        service: ServiceParams = getattr(params.serve, service_name)
        variant = resolve_variant(service.variant, cuda)
        check_gate(variant, validation)
        plans[service_name] = (service, variant)
    built = {}
    for service_name, (service, variant) in plans.items():
        name = f"servebench-{service_name}"
        model_tag = import_model(name, variant, model_dir, variants_dir, {"variant": variant})
        with tempfile.TemporaryDirectory() as context:
            serving = serving_config(name, variant, model_tag, service, params, standin)
            bento_tag = build_bento(Path(context), name, serving, home)
        built[service_name] = {
            "bento": bento_tag,
            "model": model_tag,
            "variant": variant,
            "batching": service.batching.model_dump(),
            "workers": service.workers,
            "threads": service.threads,
        }
        print(f"build: {service_name}: {bento_tag} ({variant})")
    return {"bentoml_home": str(home), "cuda": cuda, "standin": standin, "services": built}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--model", type=Path, default=MODEL_DIR)
    parser.add_argument("--variants", type=Path, default=VARIANTS_DIR)
    parser.add_argument("--validation", type=Path, default=Path("results/validation.json"))
    parser.add_argument("--bentoml-home", type=Path, default=BENTOML_HOME)
    parser.add_argument("--out", type=Path, default=Path("results/bentos.json"))
    args = parser.parse_args()
    validation = json.loads(args.validation.read_text())
    bentos = build_services(load_params(args.params), args.model, args.variants, validation, args.bentoml_home)
    args.out.write_text(json.dumps(bentos, indent=2) + "\n")
    print(f"build: {len(bentos['services'])} Bentos in {args.bentoml_home} -> {args.out}")


if __name__ == "__main__":
    run_stage("build", main)
