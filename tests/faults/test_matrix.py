"""
The fault matrix (tests/faults/matrix.py), one test per case. ``FAULT_CASES`` chooses: ``sample`` (what
``make test`` runs: every fault kind, each on a plan, step and moment that rotate with the commit), ``all``
(``make test-faults``), or a case id or prefix (``make test-faults CASE=upgrade/linux/drain``).
"""

import os
import subprocess

import pytest

from tests.faults import matrix
from tests.faults.run import FIRED
from tests.support import REPO


def _commit():
    found = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False)
    return found.stdout.strip() or "no commit"


SELECTOR = os.environ.get("FAULT_CASES", "sample")
ALL = matrix.cases()
CASES = matrix.select(ALL, SELECTOR, _commit())


def fired(case, root, group, cell):
    """Whether the case's fault was fired by the run, and took effect as the fake cell tells where it can."""
    if not (root / FIRED).exists():
        return False
    events = [e["event"] for e in group.cell(cell).events()]
    if case.kind.name == "crash":
        return "crash" in events
    if case.kind.name.startswith(("tool-", "reboot-")):
        return "fault" in events
    if case.kind.name.startswith(("rest-", "appliance-")):
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
@pytest.mark.parametrize("chosen", CASES, ids=lambda chosen: chosen.id)
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
