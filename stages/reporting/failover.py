"""The resilience section's loads and failover: at what rate each fault series ran, against each measured
capacity, and the faults that struck one of several replicas behind the balancer beside the same fault on a
lone server."""

from __future__ import annotations

from stages.loadgen.relative import describe
from stages.params.resilience import ResilienceParams
from stages.records.resilience import FaultSummary, Resilience
from stages.reporting.markdown import percent_cell, spread_cell, table

OBJECTIVE = 0.99  # availability over the run a failover should keep (issue #43's bar)


def loads_line(resilience: Resilience) -> str:
    """'Loads: `resilience` 8 req/s (0.14x optimized's capacity); ...', one entry per scenario the faults ran at."""
    loads = {fault.scenario: fault.load for fault in resilience.faults.values() if fault.load and fault.scenario}
    if not loads:
        return ""
    return "\n\nLoads: " + "; ".join(f"`{name}` {describe(load)}" for name, load in loads.items()) + "."


def lone_twin(resilience: Resilience, replicated: FaultSummary) -> tuple[str, FaultSummary] | None:
    """The same fault at the same load and workers on one server, if it ran."""
    for key, fault in resilience.faults.items():
        if (fault.fault, fault.scenario, fault.workers, fault.replicas) == (
                replicated.fault, replicated.scenario, replicated.workers, 1):
            return key, fault
    return None


def bad_requests(fault: FaultSummary) -> str:
    """What the audited runs' bad requests were: failures by outcome, and ok answers past the objective."""
    runs = [run for run in fault.runs if run.generator_audit_valid and run.sre and run.sre.availability is not None]
    measured = sum(run.measured for run in runs)
    bad = sum(round((1.0 - (run.sre.availability or 0.0)) * run.measured) for run in runs if run.sre)
    outcomes: dict[str, int] = {}
    for run in runs:
        for outcome, count in run.failed_by_outcome.items():
            outcomes[outcome] = outcomes.get(outcome, 0) + count
    slow = bad - sum(outcomes.values())
    parts = [f"{count} {outcome}" for outcome, count in outcomes.items() if count] + ([f"{slow} slow"] if slow else [])
    return f"{bad} of {measured} requests bad ({', '.join(parts) or 'none'})"


def verdict_cell(fault: FaultSummary) -> str:
    availability = fault.availability.median if fault.availability else None
    if availability is None:
        return "-"
    if availability >= OBJECTIVE:
        return "yes"
    return f"**no**: {bad_requests(fault)}"


def failover_table(resilience: Resilience, settings: ResilienceParams) -> str:
    """Each fault that struck one replica behind the balancer, beside the same fault on one server."""
    after = f"{settings.sre.after_fault_s[0]:g}"
    rows = []
    for key, fault in resilience.faults.items():
        if fault.replicas < 2 or fault.availability is None:
            continue
        twin = lone_twin(resilience, fault)
        cells = []
        for summary in (fault, twin[1] if twin else None):
            counted = summary.availability.n if summary and summary.availability else 0
            cells += ["-"] * 3 if summary is None else [
                percent_cell(summary.availability, counted), spread_cell(summary.failed, counted, 0),
                spread_cell(summary.p99_after_fault_ms, counted, 0) if summary.p99_after_fault_ms else "-"]
        rows.append([key, *cells[:3], verdict_cell(fault), twin[0] if twin else "-", *cells[3:]])
    if not rows:
        return ""
    balancer = settings.failover
    return (f"\n\nFailover: {balancer.replicas} replicas behind HAProxy (health checks of /readyz every "
            f"{balancer.check_interval_ms} ms, out after {balancer.fall} failures, back after {balancer.rise} "
            f"passes, a refused connection takes a replica out at once; {balancer.retries} retries to another "
            f"replica on {', '.join(balancer.retry_on)}), the fault striking one of them, beside the same fault on "
            f"a lone server. Availability over the run, its objective {OBJECTIVE:.0%} (or what the bad requests "
            f"were); p99 of the first {after} s after the fault (failures at the timeout).\n\n"
            + table(["fault", "availability", "failed requests", f"p99 first {after} s (ms)",
                     f">= {OBJECTIVE:.0%} over the run", "one server", "availability", "failed requests",
                     f"p99 first {after} s (ms)"], rows))
