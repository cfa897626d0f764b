import re
from pathlib import Path
from typing import Any

import pytest

from stages.experiment.resilience import ResilienceSettings
from stages.params.base import SECTIONS, ParamsError, load_params, parse_params
from stages.params.file import Params
from stages.serving.build import BuildSettings

REPO_PARAMS = Path(__file__).resolve().parent.parent / "params.yaml"


def test_committed_params_file_is_valid_and_survives_a_round_trip() -> None:
    params = load_params(Params, REPO_PARAMS)
    assert parse_params(Params, params.model_dump(by_alias=True)) == params  # what the schema reads, it writes back


def test_committed_params_hold_the_studys_defaults_not_an_offline_runs_overrides() -> None:
    """`make repro` must run the study: the Hub model and dataset and the documented gates, as the code's
    defaults say; offline overrides come only from the make targets (which put params.yaml back)."""
    committed, defaults = load_params(Params, REPO_PARAMS), parse_params(Params, {})
    for section, key in (("model", "source"), ("data", "source"), ("data", "local_path"), ("model", "local_path")):
        assert getattr(getattr(committed, section), key) == getattr(getattr(defaults, section), key), (section, key)
    assert committed.validate_.min_agreement == defaults.validate_.min_agreement == 0.95
    assert committed.validate_.max_f1_drop == defaults.validate_.max_f1_drop
    assert max(len(line) for line in REPO_PARAMS.read_text().splitlines()) <= 120  # not reformatted by `-S`


def test_unknown_key_is_named_with_the_allowed_keys() -> None:
    with pytest.raises(ParamsError) as error:
        parse_params(Params, {"convert": {"int8": {"enabeld": False}}})
    message = str(error.value)
    assert "unknown key 'convert.int8.enabeld'" in message
    assert "enabled" in message and "weight_type" in message


def test_unknown_top_level_section() -> None:
    with pytest.raises(ParamsError,
                       match=r"unknown key 'serve_typo' \(allowed here: capacity, compare, convert, cost, data"):
        parse_params(Params, {"serve_typo": {}})


def test_the_known_sections_are_the_whole_files() -> None:
    assert sorted(field.alias or name for name, field in Params.model_fields.items()) == sorted(SECTIONS)


def test_a_stage_checks_the_sections_it_reads_and_no_other() -> None:
    """A mistake in a section the resilience stage does not read leaves it alone (the whole-file check, `make
    check-params`, catches it); a mistake in one it reads, or a section name nobody knows, stops it."""
    elsewhere = {"convert": {"int8": {"enabeld": False}}, "resilience": {"repeats": 2}}
    assert parse_params(ResilienceSettings, elsewhere).resilience.repeats == 2
    with pytest.raises(ParamsError, match=r"unknown key 'convert\.int8\.enabeld'"):
        parse_params(Params, elsewhere)
    with pytest.raises(ParamsError, match=r"resilience\.repeats = 0"):
        parse_params(ResilienceSettings, {"resilience": {"repeats": 0}})
    with pytest.raises(ParamsError, match=r"unknown section 'resilence'"):
        parse_params(ResilienceSettings, {"resilence": {"repeats": 2}})


def test_a_rule_across_sections_holds_in_the_stage_that_reads_them() -> None:
    with pytest.raises(ParamsError, match=r"serve\.optimized\.variant = 'onnx-int8': needs convert\.int8\.enabled"):
        parse_params(BuildSettings, {"convert": {"int8": {"enabled": False}}, "serve": {"optimized": {
            "variant": "onnx-int8"}}})


def test_wrong_type_names_key_value_and_expected_type() -> None:
    with pytest.raises(ParamsError) as error:
        parse_params(Params, {"runtime": {"threads": "two"}})
    assert "runtime.threads = 'two'" in str(error.value)
    assert "valid integer" in str(error.value)


def test_string_number_is_not_silently_coerced() -> None:
    with pytest.raises(ParamsError, match=r"data.max_samples = '1000'"):
        parse_params(Params, {"data": {"max_samples": "1000"}})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"model": {"source": "s3"}}, "model.source = 's3': Input should be 'hub', 'local', 'standin' or 'finetune'"),
        ({"validate": {"min_agreement": 1.5}}, "validate.min_agreement = 1.5: Input should be less than or equal to 1"),
        ({"export": {"opset": 9}}, "export.opset = 9: Input should be greater than or equal to 14"),
        ({"export": {"parity_shapes": [[4]]}}, "export.parity_shapes.0 = [4]: List should have at least 2 items"),
        ({"model": {"source": "local"}}, "model.local_path must name a model folder"),
    ],
)
def test_impossible_values_are_rejected(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(ParamsError) as error:
        parse_params(Params, raw)
    assert expected in str(error.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ParamsError) as error:
        parse_params(Params, {"runtime": {"threads": -1, "providers": "tpu"}})
    assert len(str(error.value).splitlines()) == 2


def test_malformed_yaml_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "params.yaml"
    broken.write_text("model: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(Params, broken)
    with pytest.raises(ParamsError, match="no such file"):
        load_params(Params, tmp_path / "absent.yaml")
    broken.write_text("- just\n- a list\n")
    with pytest.raises(ParamsError, match="top level must be a mapping"):
        load_params(Params, broken)


def test_scenario_errors_name_the_scenario_and_its_keys() -> None:
    with pytest.raises(ParamsError) as error:
        parse_params(Params, {"loadgen": {"scenarios": {"burst": {"rate": 2.0, "requests": 10, "shap": 0.25}}}})
    assert "unknown key 'loadgen.scenarios.burst.shap' (allowed here: connections, duration_s" in str(error.value)
    with pytest.raises(ParamsError, match=r"loadgen\.scenarios\.burst: give exactly one of duration_s and requests"):
        parse_params(Params, {"loadgen": {"scenarios": {"burst": {"rate": 2.0}}}})
    with pytest.raises(ParamsError, match=r"loadgen.scenarios.burst.rate = 0: Input should be greater than 0"):
        parse_params(Params, {"loadgen": {"scenarios": {"burst": {"rate": 0, "requests": 5}}}})


def test_the_readme_describes_the_papers_scenarios_as_params_define_them() -> None:
    """The README states the study's three workloads; they must be what `paper-*` in params.yaml sends."""
    readme = (REPO_PARAMS.parent / "README.md").read_text().replace("\n", " ")
    stated = re.search(r"\((?P<rate>[\d.]+) req/s; exponential, gamma shape (?P<shape1>[\d.]+) / scale "
                       r"(?P<scale1>[\d.]+) s, gamma shape (?P<shape2>[\d.]+) / scale (?P<scale2>[\d.]+) s; "
                       r"(?P<requests>\d+) requests each\)", readme)
    assert stated is not None
    scenarios = load_params(Params, REPO_PARAMS).loadgen.scenarios
    steady, first, second = (scenarios[name] for name in ("paper-steady", "paper-gamma-1.2", "paper-gamma-0.8"))
    assert steady.process == "exponential" and first.process == second.process == "gamma"
    assert {steady.rate, first.rate, second.rate} == {float(stated["rate"])}
    assert {steady.requests, first.requests, second.requests} == {int(stated["requests"])}
    for scenario, shape, scale in ((first, "shape1", "scale1"), (second, "shape2", "scale2")):
        assert scenario.shape == float(stated[shape])
        assert isinstance(scenario.rate, float)
        assert 1 / (scenario.shape * scenario.rate) == pytest.approx(float(stated[scale]), abs=0.01)


@pytest.mark.parametrize(("text", "expected"), [
    ("loadgen:\n  scenarios:\n    steady: {rate: 4, proces: gamma}\n",
     "unknown key 'loadgen.scenarios.steady.proces' (allowed here: "),
    ("capacity: {start_rate: saturaton}\n",
     "capacity.start_rate = 'saturaton': Input should be a valid number or Input should be 'saturation'"),
    ("k3s: {cpu_request: lots}\n", "k3s.cpu_request = 'lots': expected a Kubernetes quantity such as 500m, 2 or 2Gi"),
    ("loadgen:\n  scenarios:\n    steady: {rate: .inf}\n",
     "loadgen.scenarios.steady.rate = inf: Input should be a finite number"),
    ("compare: {alpha: 0}\n", "compare.alpha = 0: Input should be greater than 0"),
    ("compare:\n  alpha: 0.05\n  alpha: 0.1\n", "not valid YAML (line 3): duplicate key 'alpha'"),
    ("loadtest: {scenarios: [nope]}\n", "loadtest.scenarios names ['nope'], not in loadgen.scenarios ([])"),
    ("loadgen: {scenarios: {resilience: {rate: 8, requests: 10}}}\nresilience: {scenario: resilence}\n",
     "resilience.scenario = 'resilence': must be a name under loadgen.scenarios (['resilience'])"),
    ("serve: {optimized: {variant: onnx-int8}}\nconvert: {int8: {enabled: false}}\n",
     "serve.optimized.variant = 'onnx-int8': needs convert.int8.enabled: true (it is off)"),
    ("convert: {int8: {enabled: false}}\n",
     "serve.optimized.variant = 'auto': auto serves onnx-int8 on a CPU and convert.int8.enabled is false"),
    ("loadgen:\n  scenarios:\n    s: {rate: {of: baseline, fraction: -1}, requests: 9}\n",
     "loadgen.scenarios.s.rate.fraction = -1: Input should be greater than 0"),
    ("serve: {baseline: {variant: pytorch-fp16}}\nruntime: {providers: cpu}\n",
     "serve.baseline.variant = 'pytorch-fp16': PyTorch FP16 runs on a CUDA GPU only"),
    ("resilience: {fault_window_s: [20, 10]}\n", "resilience.fault_window_s = [20, 10]: "),
])
def test_each_params_error_is_one_line_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError) as error:
        load_params(Params, path)
    message = str(error.value)
    assert len(message.splitlines()) == 1 and expected in message, message
    assert "{" not in message.split(":", 1)[1] and "literal[" not in message and "constrained" not in message


def test_a_number_is_accepted_where_kubernetes_expects_a_quantity() -> None:
    assert parse_params(Params, {"k3s": {"cpu_request": 4, "memory_limit": "3Gi"}}).k3s.cpu_request == "4"
