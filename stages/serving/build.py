"""Bentos of the baseline and optimized variants, built offline into the workspace's BentoML store."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from pydantic import model_validator

from stages.common.artifacts import (
    MODEL_INFO,
    SERVICES,
    model_info,
)
from stages.common.io import write_result
from stages.model.variants import parse_variant
from stages.params.base import StageParams
from stages.params.convert import ConvertParams
from stages.params.runtime import RuntimeParams
from stages.params.servable import check_servable
from stages.params.serve import ServeParams, ServiceParams
from stages.params.tokenizer import TokenizerParams
from stages.records.bentos import Bentos, BuiltService
from stages.records.validation import Validation
from stages.serving.bentos import BuildError, bentoml_env, check_gate, cuda_available, resolve_variant
from stages.serving.config import ServingConfig
from stages.serving.imports import REPO_ROOT, import_closure, with_packages

logger = logging.getLogger(__name__)

BENTOFILE = REPO_ROOT / "service" / "bentofile.yaml"
SERVICE_MODULE = "service.service"
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", MODEL_INFO)


class BuildSettings(StageParams):
    """The sections the build stage reads; ``convert`` says which variants exist to be served."""

    serve: ServeParams = ServeParams()
    tokenizer: TokenizerParams = TokenizerParams()
    runtime: RuntimeParams = RuntimeParams()
    convert: ConvertParams = ConvertParams()

    @model_validator(mode="after")
    def _servable(self) -> BuildSettings:
        check_servable(self.serve, self.convert, self.runtime)
        return self


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


def bento_files() -> list[str]:
    """What a Bento ships: the files its service imports (and their packages' ``__init__``), and its config."""
    files = with_packages(import_closure([SERVICE_MODULE]))
    return [*sorted(str(path.relative_to(REPO_ROOT)) for path in files), "service/serving.json"]


def build_bento(context: Path, name: str, serving: ServingConfig, runtime: str, home: Path) -> str:
    """Lay out a build context with the service code and ``serving.json``, run ``bentoml build`` on it. The
    Bento's requirements are those of ``runtime`` (an ONNX variant's leave torch and transformers out)."""
    for package in ("service", "stages"):
        shutil.copytree(REPO_ROOT / package, context / package, ignore=shutil.ignore_patterns("__pycache__"))
    write_result(context / "service" / "serving.json", serving)
    bentofile = yaml.safe_load(BENTOFILE.read_text())
    bentofile |= {
        "name": name,
        "labels": {"servebench.variant": serving.variant},
        "include": bento_files(),
        "python": bentofile["python"] | {"requirements_txt": f"service/requirements-{runtime}.txt"},
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


def serving_config(name: str, variant: str, model_tag: str, service: ServiceParams, params: BuildSettings,
                   standin: bool
                   ) -> ServingConfig:
    return ServingConfig(name=name, variant=variant, model_tag=model_tag, standin=standin,
                         runtime=params.runtime.model_copy(update={"threads": service.threads}),
                         max_request_bytes=params.serve.max_request_bytes, access_log=params.serve.access_log,
                         respawn_check_s=params.serve.respawn_check_s, server_timing=params.serve.server_timing,
                         service=service, tokenizer=params.tokenizer)


def build_services(params: BuildSettings, model_dir: Path, variants_dir: Path, validation: Validation, home: Path
                   ) -> Bentos:
    """Import and build both services; return the content of ``results/bentos.json``."""
    os.environ.update(bentoml_env(home))
    standin = model_info(model_dir).standin
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
            runtime = parse_variant(variant, model_dir, variants_dir).runtime
            bento_tag = build_bento(Path(context), name, serving, runtime, home)
        built[service_name] = BuiltService(bento=bento_tag, model=model_tag, variant=variant,
                                           batching=service.batching.model_dump(), workers=service.workers,
                                           threads=service.threads)
        logger.info(f"build: {service_name}: {bento_tag} ({variant})")
    return Bentos(bentoml_home=str(home), cuda=cuda, standin=standin, services=built)
