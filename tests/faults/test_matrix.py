"""
The fault matrix (tests/faults/matrix.py), one test per case. ``FAULT_CASES`` chooses: ``sample`` (what
``make test`` runs: every fault kind, each on a plan, step and moment that rotate with the commit), ``all``
(``make test-faults``), or a case id or prefix (``make test-faults CASE=upgrade/linux/drain``).
"""

import os
import subprocess

import pytest

from simulator.server import quiet_request_log
from tests.faults import matrix
from tests.faults.run import FIRED
from tests.support import REPO


def _commit():
    found = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False)
    return found.stdout.strip() or "no commit"


SELECTOR = os.environ.get("FAULT_CASES", "sample")
ALL = matrix.cases()
CASES = matrix.select(ALL, SELECTOR, _commit())


@pytest.fixture(scope="module")
def servers():
    quiet_request_log()
    started = matrix.serve()
    yield started
    for served in started.values():
        served.stop()


@pytest.fixture(scope="module")
def baseline(servers, tmp_path_factory):
    """``baseline(plan)``: the trace of a run of ``plan`` with no fault, which must itself finish cleanly."""
    traces = {}

    def trace(plan):
        if plan.id not in traces:
            root = tmp_path_factory.mktemp("baseline")
            group = matrix.fresh_group(servers, plan)
            returned, traces[plan.id] = matrix.run_once(
                plan, matrix.cell_settings(servers, root / "tools", plan), root / "run", measure=True
            )
            assert returned["result"] is True, returned
            found = matrix.timeline_violations(group) + matrix.finished_violations(plan, group, root / "run")
            assert not found, found
        return traces[plan.id]

    return trace


def fired(case, root, group, cell):
    """Whether the case's fault was fired by the run, and took effect as the fake cell tells where it can."""
    if not (root / FIRED).exists():
        return False
    events = [e["event"] for e in group.cell(cell).events()]
    if case.kind.name == "crash":
        return "crash" in events
    if case.kind.name.startswith(("tool-", "reboot-")):
        return "fault" in events
    if case.kind.name.startswith("rest-"):
        return "fault_armed" in events
    # A lost job or a killed runner: the run's own process did it.
    return True


def applicable(chosen, baseline):
    """The case to run and where its fault goes: a sample slot's first applicable one; why none applies."""
    candidates = chosen.candidates(ALL) if isinstance(chosen, matrix.Slot) else [chosen]
    reasons = []
    for case in candidates:
        at, why = matrix.moment_of(case, baseline(case.plan))
        if at is not None:
            return case, at, None
        reasons.append(f"{case.id}: {why}")
    return None, None, "; ".join(reasons)


# A case runs the orchestration up to four times, some waiting out a hang, an outage or a slow reboot.
@pytest.mark.timeout(matrix.RUN_TIMEOUT * (1 + matrix.RERUNS))
@pytest.mark.parametrize(
    "chosen",
    # A plan's cases share its baseline: one group per plan, the plans spread over make test's processes.
    [pytest.param(chosen, id=chosen.id, marks=pytest.mark.xdist_group(f"faults/{chosen.plan.id}")) for chosen in CASES],
)
def test_a_rerun_finishes_with_every_invariant_held(chosen, servers, baseline, tmp_path):
    case, at, why = applicable(chosen, baseline)
    if case is None:
        pytest.skip(f"not applicable: {why}")
    print(f"case {case.id}, its fault at the run {at[0]} of the step, on {at[1]}")
    group = matrix.fresh_group(servers, case.plan)
    cells = matrix.cell_settings(servers, tmp_path / "tools", case.plan)
    outcome = matrix.play(case, at, servers, group, cells, tmp_path / "case")
    assert not outcome.violations, "\n".join([f"{case.id} at {at}:", *outcome.violations, f"runs: {outcome.runs}"])
    assert fired(case, tmp_path / "case", group, at[1]), f"{case.id}: the fault never took effect at {at}"
