"""Real Bentos of the tiny stand-in, built by the build stage and served by ``bentoml serve`` on loopback."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import Timing
from helpers import SERVE, classify, post_many, run_module, write_params
from servers import SharedServers, log_mark, log_since, serve

from stages.common.errors import ServebenchError
from stages.common.io import ResultFileError, read_result
from stages.model.classifier import SentimentClassifier
from stages.model.variants import parse_variant
from stages.params.base import ParamsError, parse_params
from stages.params.file import Params
from stages.params.runtime import RuntimeParams
from stages.params.tokenizer import TokenizerParams
from stages.records.validation import Validation
from stages.serving.bentos import check_gate, resolve_variant
from stages.serving.server import BentoServer, ServerStartError, group_alive
from stages.serving.startup import PHASES
from stages.serving.startup import breakdown as startup_breakdown

TEXTS = ["I love this phone", "worst service ever", "the train leaves at 9", "not sure how I feel"]
def adaptive_batch_sizes(url: str) -> tuple[float, float]:
    """(sum, count) of BentoML's adaptive batch size histogram, summed over workers."""
    async def fetch() -> str:
        async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as response:
            return await response.text()

    metrics = asyncio.run(fetch())
    total = sum(float(v) for v in re.findall(r"^bentoml_service_adaptive_batch_size_sum\{.*\} (\S+)$", metrics, re.M))
    count = sum(float(v) for v in re.findall(r"^bentoml_service_adaptive_batch_size_count\{.*\} (\S+)$", metrics,
                                             re.M))
    return total, count


def test_bentos_json_names_both_services(built: dict[str, Any]) -> None:
    services = built["bentos"]["services"]
    assert services["baseline"]["variant"] == "pytorch-fp32" and services["optimized"]["variant"] == "onnx-fp32"
    assert services["baseline"]["bento"].startswith("servebench-baseline:")
    assert services["optimized"]["bento"].startswith("servebench-optimized:")
    assert built["bentos"]["standin"] is True


@pytest.mark.parametrize("name", ["baseline", "optimized"])
def test_served_labels_match_the_in_process_classifier(built: dict[str, Any], servers: SharedServers,
                                                       tiny_model: Path, tiny_variants: Path, name: str) -> None:
    variant = built["bentos"]["services"][name]["variant"]
    local = SentimentClassifier.load(parse_variant(variant, tiny_model, tiny_variants), tiny_model,
                                     TokenizerParams(), RuntimeParams(threads=1))
    expected = local.classify(TEXTS)
    results = classify(servers[name].url, TEXTS)
    assert [r["label"] for r in results] == [p.label for p in expected]
    for result, prediction in zip(results, expected, strict=True):
        assert result["score"] == pytest.approx(prediction.score, abs=1e-4)
        assert set(result["probabilities"]) == {"negative", "neutral", "positive"}


@pytest.mark.parametrize(("name", "batched"), [("optimized", True), ("baseline", False)])
def test_concurrent_requests_are_batched_only_when_batching_is_on(built: dict[str, Any], name: str,
                                                                  batched: bool) -> None:
    """A fresh server, its histogram read after its first burst: on the shared server, read before and after the
    burst, the histogram did not move (seen once on the 2-core VM; the cause is not traced)."""
    with serve(built, name) as server:
        bodies = [json.dumps({"texts": [text]}).encode() for text in TEXTS * 4]
        answers = asyncio.run(post_many(server.url, bodies))
        assert all(status == 200 for status, _ in answers)
        total, count = adaptive_batch_sizes(server.url)
    if batched:
        assert count >= 1 and total == 16 and total > count, (total, count)  # some batch held >1 request
    else:
        assert count == 0  # no dispatcher: every request ran on its own


BAD_INPUTS = {
    "invalid JSON": b'{"texts": [',
    "missing field": b"{}",
    "wrong type": b'{"texts": "just a string"}',
    "non-string item": b'{"texts": [42]}',
    "empty list": b'{"texts": []}',
    "empty string": b'{"texts": [""]}',
    "blank string": b'{"texts": ["   "]}',
    "text over the limit": json.dumps({"texts": ["x" * 201]}).encode(),
    "too many texts": json.dumps({"texts": ["hi"] * 9}).encode(),
    "non-UTF-8 bytes": b'{"texts": ["\xff\xfe\xfd"]}',
    "huge body": b'{"texts": ["' + b"a" * 100_000 + b'"]}',
}


def test_bad_inputs_get_4xx_and_the_server_stays_up(servers: SharedServers) -> None:
    server = servers["optimized"]
    answers = asyncio.run(post_many(server.url, list(BAD_INPUTS.values())))
    for (case, _), (status, text) in zip(BAD_INPUTS.items(), answers, strict=True):
        assert 400 <= status < 500, f"{case}: {status} {text}"
        assert text, f"{case}: no message"
    assert answers[-1][0] == 413
    assert "String should have at most 200 characters" in answers[7][1]
    assert len(classify(server.url, ["still answering"])) == 1
    assert server.process is not None and server.process.poll() is None


BAD_HEADERS = {
    "text/plain": {"Content-Type": "text/plain"},
    "form": {"Content-Type": "application/x-www-form-urlencoded"},
    "multipart without a boundary": {"Content-Type": "multipart/form-data"},
    "no Content-Type": {},
    "gzip that is not": {"Content-Type": "application/json", "Content-Encoding": "gzip"},
    "unknown coding": {"Content-Type": "application/json", "Content-Encoding": "br"},
}


async def post_with_headers(url: str, body: bytes, cases: dict[str, dict[str, str]]) -> dict[str, tuple[int, str]]:
    async with aiohttp.ClientSession() as session:
        async def one(headers: dict[str, str]) -> tuple[int, str]:
            async with session.post(f"{url}/classify", data=body, headers=headers,
                                    skip_auto_headers=["Content-Type"]) as response:
                return response.status, await response.text()

        answers = await asyncio.gather(*(one(headers) for headers in cases.values()))
        return dict(zip(cases, answers, strict=True))


def test_a_body_that_is_not_plain_json_gets_415_and_client_errors_log_one_line(servers: SharedServers) -> None:
    body = json.dumps({"texts": ["fine"]}).encode()
    server = servers["optimized"]
    mark = log_mark(server)
    answers = asyncio.run(post_with_headers(server.url, body, BAD_HEADERS))
    for case, (status, text) in answers.items():
        assert status == 415, f"{case}: {status} {text}"
        assert json.loads(text)["error"] == "Unsupported Media Type"
    charset = asyncio.run(post_with_headers(server.url, body, {"ok": {
        "Content-Type": "application/json; charset=utf-8", "Content-Encoding": "identity"}}))
    assert charset["ok"][0] == 200
    asyncio.run(post_many(server.url, [b'{"texts": []}', b'{"texts": [']))  # two client errors
    assert len(classify(server.url, ["still answering"])) == 1
    log = log_since(server, mark, r"WARNING.*client error ValidationError", at_least=2)
    assert "Traceback" not in log and "ERROR" not in log
    assert len(re.findall(r"WARNING.*client error ValidationError", log)) == 2, log[-3000:]


def test_the_onnx_bento_needs_neither_torch_nor_transformers(built: dict[str, Any], tmp_path: Path) -> None:
    """Its requirements leave both out, and it serves with both made unimportable in every process."""
    home = Path(built["home"])
    tag = built["bentos"]["services"]["optimized"]["bento"]
    name, version = tag.split(":")
    requirements = [line for line in (home / "bentos" / name / version / "env" / "python" / "requirements.txt")
                    .read_text().splitlines() if line and not line.startswith("#")]
    assert any(line.startswith("onnxruntime") for line in requirements)
    assert not [line for line in requirements if line.startswith(("torch", "transformers"))], requirements
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['torch'] = None\n"
                                              "sys.modules['transformers'] = None\n")
    with BentoServer(tag, home, tmp_path / "no-torch.log", ready_timeout_s=120,
                     extra_env={"PYTHONPATH": str(blocker)}) as server:
        assert len(classify(server.url, TEXTS)) == len(TEXTS)
        launched, ready = server.launched_unix, server.ready_unix
        assert launched is not None and ready is not None
        phases = startup_breakdown(server.log_path.read_text(), launched, ready)
    # The cold start taken apart: every phase measured, none negative, together the whole launch -> ready.
    assert phases is not None and list(phases) == [name for name, _, _ in PHASES]
    assert all(seconds >= 0 for seconds in phases.values()), phases
    assert sum(phases.values()) == pytest.approx(ready - launched, abs=0.01)
    assert phases["worker_imports_s"] > 0 and phases["model_load_s"] > 0


def test_the_learned_dispatcher_wait_is_capped() -> None:
    """BentoML's optimizer learns the mean wait of recent batches; after a saturation burst that mean is the
    queueing delay and lone requests are held that long. The cap bounds it."""
    from bentoml._internal.marshal import dispatcher

    from service.dispatcher_wait import bound_learned_wait

    original = dispatcher.Optimizer.trigger_refresh

    def learned_after_burst() -> float:
        optimizer = dispatcher.Optimizer(max_latency=2.0)
        optimizer.o_stat.extend((8, 0.02 + 0.001 * k, 0.45) for k in range(50))  # batches that queued 450 ms
        optimizer.trigger_refresh()  # type: ignore[no-untyped-call]  # BentoML's, unannotated
        return optimizer.wait

    try:
        assert learned_after_burst() == pytest.approx(0.45)
        bound_learned_wait(5.0)
        assert learned_after_burst() == pytest.approx(0.005)
    finally:
        dispatcher.Optimizer.trigger_refresh = original  # type: ignore[method-assign]


def test_the_supervisor_checks_for_dead_workers_every_second() -> None:
    """BentoML builds its circus arbiter with a 10 s check, so a killed worker waited up to 10 s for a
    replacement; the bound applies to every arbiter BentoML creates afterwards, threaded ones too."""
    from bentoml._internal.utils import circus as bentoml_circus

    from service.supervisor import bound_respawn_check

    original = bentoml_circus.Arbiter.__init__
    try:
        assert bentoml_circus.create_standalone_arbiter([]).check_delay == 10
        bound_respawn_check(1.0)
        assert bentoml_circus.create_standalone_arbiter([]).check_delay == 1.0
        assert bentoml_circus.create_standalone_arbiter([], threaded=True).check_delay == 1.0
        assert bentoml_circus.create_standalone_arbiter([], check_delay=0.5).check_delay == 0.5
    finally:
        bentoml_circus.Arbiter.__init__ = original  # type: ignore[method-assign]


async def sequential_latencies(url: str, count: int) -> list[float]:
    body = json.dumps({"texts": ["one quiet request"]}).encode()
    latencies = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            started = asyncio.get_running_loop().time()
            async with session.post(f"{url}/classify", data=body,
                                    headers={"Content-Type": "application/json"}) as response:
                assert response.status == 200
                await response.read()
            latencies.append((asyncio.get_running_loop().time() - started) * 1000)
    return latencies


@pytest.mark.benchmark
def test_quiet_requests_after_a_burst_are_as_fast_as_before_it(built: dict[str, Any], timing_record: Timing) -> None:
    """The tiny stand-in, batching on: a burst of 400 concurrent requests (served or shed with 503, as the
    dispatcher decides: how many depends on the machine), then lone requests again."""
    with serve(built, "optimized", "after-burst.log") as server:
        before = sorted(asyncio.run(sequential_latencies(server.url, 15)))[7]
        burst = asyncio.run(post_many(server.url, [json.dumps({"texts": TEXTS}).encode()] * 400))
        statuses = Counter(status for status, _ in burst)
        assert set(statuses) <= {200, 503} and statuses[200] > 0, statuses
        after = sorted(asyncio.run(sequential_latencies(server.url, 15)))[7]
    timing_record.figures |= {"p50_before_ms": before, "p50_after_ms": after, "bound_ms": 2 * before + 5.0}
    assert after <= 2 * before + 5.0, (before, after)


def test_manager_leaves_nothing_behind_when_the_caller_fails(built: dict[str, Any]) -> None:
    server = serve(built, "optimized", "fail.log")
    with pytest.raises(RuntimeError, match="test failed midway"), server:
        pgid = server.process.pid if server.process else -1
        port = server.port
        raise RuntimeError("test failed midway")
    assert not group_alive(pgid)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_server_that_cannot_start_is_reported_and_cleaned_up(built: dict[str, Any]) -> None:
    server = BentoServer("servebench-missing:nope", built["home"], built["root"] / "missing.log", ready_timeout_s=60)
    with pytest.raises(ServerStartError, match="exited before it was ready"), server:
        pass
    assert server.process is None


def test_build_refuses_a_variant_that_failed_the_gate(built: dict[str, Any], tiny_model: Path,
                                                      tiny_variants: Path) -> None:
    root = built["root"]
    validation = json.loads((root / "validation.json").read_text())
    validation["variants"]["onnx-int8"] |= {"passed": False, "failed_because": ["agreement 0.5 < min_agreement 0.95"]}
    (root / "failed.json").write_text(json.dumps(validation))
    params_file = write_params(root / "int8.yaml", {"serve": {"optimized": {"variant": "onnx-int8"}}})
    result = run_module(
        "stages.build", "--params", str(params_file), "--model", str(tiny_model), "--variants", str(tiny_variants),
        "--validation", str(root / "failed.json"), "--bentoml-home", str(root / "refused"),
        "--out", str(root / "refused.json"),
    )
    assert result.returncode == 1
    assert "variant 'onnx-int8' failed the accuracy gate: agreement 0.5" in result.stderr
    assert not (root / "refused.json").exists()


def test_variant_choice_and_gate_rules(validation: Validation) -> None:
    assert resolve_variant("auto", cuda=True) == "onnx-fp16"
    assert resolve_variant("auto", cuda=False) == "onnx-int8"
    assert resolve_variant("onnx-fp32", cuda=True) == "onnx-fp32"
    with pytest.raises(ServebenchError, match="was not produced and validated"):
        check_gate("onnx-fp16", validation.model_copy(update={"variants": {
            name: result for name, result in validation.variants.items() if name != "onnx-fp16"}}))
    check_gate("onnx-fp32", validation)


@pytest.fixture(scope="module")
def validation(built: dict[str, Any]) -> Validation:
    return read_result(built["root"] / "validation.json", Validation)


def test_a_renamed_key_in_a_results_file_fails_with_the_file_and_key(built: dict[str, Any], tmp_path: Path) -> None:
    raw = json.loads((built["root"] / "validation.json").read_text())
    raw["variants"]["onnx-fp32"]["f1"] = raw["variants"]["onnx-fp32"].pop("f1_macro")
    doctored = tmp_path / "validation.json"
    doctored.write_text(json.dumps(raw))
    with pytest.raises(ResultFileError, match=r"validation.json: does not match Validation: .*onnx-fp32.f1_macro"):
        read_result(doctored, Validation)


def test_batching_params_must_fit_one_request_in_a_batch() -> None:
    with pytest.raises(ParamsError, match=r"max_texts \(64\) must not exceed batching.max_batch_size \(16\)"):
        parse_params(Params, {"serve": {"optimized": {"max_texts": 64}}})


def documented_schema(document: dict[str, Any], path: str, status: int) -> dict[str, Any]:
    """The JSON schema the OpenAPI document declares for one response, with components inlined."""
    response = document["paths"][path]["post"]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


@pytest.mark.e2e  # every endpoint's error responses swept against the served document
def test_every_error_response_matches_the_openapi_document(built: dict[str, Any], tmp_path: Path, tiny_model: Path,
                                                          tiny_variants: Path) -> None:
    """A client generated from /docs.json must parse every error the service sends: 4xx, 413 and 503."""
    import jsonschema

    async def fetch(url: str) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.get(f"{url}/docs.json") as response:
            document: dict[str, Any] = await response.json()
            return document

    with serve(built, "optimized", "openapi.log") as server:
        document = asyncio.run(fetch(server.url))
        answers = asyncio.run(post_many(server.url, list(BAD_INPUTS.values())))
    for (case, _), (status, text) in zip(BAD_INPUTS.items(), answers, strict=True):
        body = json.loads(text)
        jsonschema.validate(body, documented_schema(document, "/classify", status))
        assert isinstance(body["error"], str) and body["error"], case
    wrong_type = json.loads(answers[2][1])
    assert "texts" in wrong_type["detail"] and isinstance(wrong_type["detail"], str)
    # 503: a Bento whose dispatcher may wait 1 ms sheds most of a burst of concurrent requests.
    params_file = write_params(tmp_path / "shed.yaml", {"serve": {**SERVE, "optimized": {
        **SERVE["optimized"], "batching": {"enabled": True, "max_batch_size": 8, "max_latency_ms": 1}}}})
    result = run_module("stages.build", "--params", str(params_file), "--model", str(tiny_model), "--variants",
                        str(tiny_variants), "--validation", str(built["root"] / "validation.json"),
                        "--bentoml-home", str(tmp_path / "bentoml"), "--out", str(tmp_path / "bentos.json"))
    assert result.returncode == 0, result.stderr
    shedding = {"bentos": json.loads((tmp_path / "bentos.json").read_text()), "home": tmp_path / "bentoml",
                "root": tmp_path}
    with serve(shedding, "optimized", "shed.log") as server:
        burst = asyncio.run(post_many(server.url, [json.dumps({"texts": TEXTS * 2}).encode()] * 200))
    shed = [json.loads(text) for status, text in burst if status == 503]
    assert shed, sorted({status for status, _ in burst})
    for body in shed:
        jsonschema.validate(body, documented_schema(document, "/classify", 503))


def test_the_served_openapi_document_and_the_server_agree(servers: SharedServers) -> None:
    """schemathesis, every check, against the running service's own /docs.json: no 5xx, every status and body as
    documented (the 413/415/503 added), the request body required, 405 with Allow for undeclared methods."""
    server = servers["optimized"]
    result = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run", f"{server.url}/docs.json", "--checks", "all",
         "--max-examples", "25", "--generation-deterministic", "--request-timeout", "10", "--no-color"],
        capture_output=True, text=True, timeout=300, check=False)
    classify(server.url, ["still up"])
    assert result.returncode == 0, result.stdout[-4000:]
    assert "No issues found" in result.stdout or "passed" in result.stdout, result.stdout[-2000:]


def test_a_post_to_an_undeclared_route_is_405_with_allow_and_a_short_body_one_warning(servers: SharedServers
                                                                                     ) -> None:
    server = servers["optimized"]
    mark = log_mark(server)
    for path in ("/healthz", "/readyz", "/livez", "/metrics"):
        request = urllib.request.Request(f"{server.url}{path}", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=10)
        assert answer.value.code == 405 and "GET" in (answer.value.headers.get("Allow") or ""), path
    with socket.create_connection((server.host, server.port), timeout=10) as client:  # 10 of 40 bytes, then gone
        client.sendall(b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 40\r\n\r\n{\"texts\":")
    time.sleep(1.0)
    classify(server.url, ["still up"])
    log = log_since(server, mark, "ClientDisconnect")
    assert "Traceback" not in log and "ClientDisconnect" in log, log[-3000:]
    assert all(" ERROR " not in line for line in log.splitlines() if "ClientDisconnect" in line)
