"""Run one load scenario against a URL: ``python -m stages.loadgen --url URL --scenario NAME --out DIR``.

Writes ``records.parquet``, ``summary.json`` and ``interarrival.csv``/``.png`` (see :mod:`stages.loadgen.run`).
With ``--processes N`` the schedule is shared by N generator processes, each sending every N-th request from
one common start instant; their records merge into one run. Works against any HTTP JSON endpoint.
"""

from __future__ import annotations

from pathlib import Path

from stages.common.artifacts import CAPACITY_JSON, CORPUS_FILE, DATASET_DIR, read_corpus
from stages.common.cli import run_stage, stage_parser
from stages.common.errors import ServebenchError
from stages.common.io import read_optional_result
from stages.loadgen.payloads import arrival_spec
from stages.loadgen.relative import resolve
from stages.loadgen.run import Shard, one_line, scenario_summary, send_scenario, write_run
from stages.loadgen.shards import run_shards
from stages.params.base import StageParams, load_params
from stages.params.loadgen import LoadgenParams
from stages.records.capacity import Capacity


class GeneratorSettings(StageParams):
    loadgen: LoadgenParams = LoadgenParams()


def main() -> None:
    parser = stage_parser(__doc__, capacity=CAPACITY_JSON)  # resolves rates stated relative to capacity
    parser.add_argument("--url", required=True, help="endpoint receiving POSTed JSON bodies")
    parser.add_argument("--scenario", required=True, help="name under loadgen.scenarios in params.yaml")
    parser.add_argument("--corpus", type=Path, default=DATASET_DIR / CORPUS_FILE)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--processes", type=int, help="generator processes sharing the schedule")
    parser.add_argument("--shard", default="0/1", help="k/n: send every n-th request starting at k")
    parser.add_argument("--start-at", type=float, help="common start (unix time) of sharded processes")
    args = parser.parse_args()
    bounds = load_params(GeneratorSettings, args.params).loadgen
    if args.scenario not in bounds.scenarios:
        raise ServebenchError(f"no scenario {args.scenario!r} in {args.params}; have {sorted(bounds.scenarios)}")
    capacity = read_optional_result(args.capacity, Capacity)
    scenario = resolve(args.scenario, bounds.scenarios[args.scenario], capacity)
    processes = args.processes or bounds.processes
    shard_index, shard_count = (int(part) for part in args.shard.split("/"))
    whole_run = args.start_at is None
    if scenario.mode == "open" and processes > 1 and whole_run:
        records, usage = run_shards(args.url, args.scenario, args.params, args.corpus, args.out, processes,
                                     args.capacity)
    else:
        records, usage = send_scenario(args.url, scenario, read_corpus(args.corpus), bounds.client,
                                       Shard(shard_index, shard_count, args.start_at))
    summary = scenario_summary(records, usage, args.scenario, scenario, bounds, 1 if whole_run else shard_count)
    write_run(args.out, records, summary)
    if scenario.mode == "open" and whole_run:
        # Imported here, after the run: shard processes (and the generator before its run) never load matplotlib.
        from stages.loadgen.density import write_density

        write_density(args.out, records, arrival_spec(scenario))
    print(f"loadgen: {one_line(args.scenario, summary)} -> {args.out}")


if __name__ == "__main__":
    run_stage("loadgen", main)
