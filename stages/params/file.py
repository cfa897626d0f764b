"""The whole of ``params.yaml`` at once: ``make check-params`` (``python -m stages.params.file``).

No stage imports this module: each validates the sections it reads (:class:`stages.params.base.StageParams`),
so that its DVC dependencies name those schemas only. This check reads every section, unknown keys and the rules
across sections included, so that a mistake in a section that only a late stage reads fails before the pipeline
starts rather than an hour into it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import Field, model_validator

from stages.params.base import DEFAULT_PARAMS_PATH, ParamsError, Section, load_params
from stages.params.capacity import CapacityParams
from stages.params.compare import CompareParams
from stages.params.convert import ConvertParams
from stages.params.cost import CostParams
from stages.params.data import DataParams
from stages.params.export import ExportParams
from stages.params.gate import GateParams
from stages.params.k3s import K3sParams
from stages.params.limits import LimitsParams
from stages.params.loadgen import LoadgenParams
from stages.params.loadtest import LoadtestParams, check_loadtest
from stages.params.machine import MachineParams
from stages.params.model import ModelParams
from stages.params.resilience import ResilienceParams, check_resilience
from stages.params.runtime import RuntimeParams
from stages.params.servable import check_servable
from stages.params.serve import ServeParams
from stages.params.tokenizer import TokenizerParams
from stages.params.validate import ValidateParams


class Params(Section):
    model: ModelParams = ModelParams()
    data: DataParams = DataParams()
    tokenizer: TokenizerParams = TokenizerParams()
    export: ExportParams = ExportParams()
    convert: ConvertParams = ConvertParams()
    runtime: RuntimeParams = RuntimeParams()
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    serve: ServeParams = ServeParams()
    limits: LimitsParams = LimitsParams()
    loadgen: LoadgenParams = LoadgenParams()
    loadtest: LoadtestParams = LoadtestParams()
    machine: MachineParams = MachineParams()
    capacity: CapacityParams = CapacityParams()
    compare: CompareParams = CompareParams()
    gate: GateParams = GateParams()
    cost: CostParams = CostParams()
    resilience: ResilienceParams = ResilienceParams()
    k3s: K3sParams = K3sParams()

    @model_validator(mode="after")
    def _across_sections(self) -> Params:
        check_loadtest(self.loadtest, self.loadgen)
        check_resilience(self.resilience, self.loadgen, self.loadtest)
        check_servable(self.serve, self.convert, self.runtime)
        return self


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check every section of a params file, before any stage runs.")
    parser.add_argument("params", type=Path, nargs="?", default=DEFAULT_PARAMS_PATH)
    args = parser.parse_args(argv)
    try:
        load_params(Params, args.params)
    except ParamsError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{args.params}: every section valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
