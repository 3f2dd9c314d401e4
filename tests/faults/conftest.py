"""
The fault matrix's fixtures: its fake cells started once, and each plan's baseline run once (its summary
is tests/faults/summary.py, a hook of tests/conftest.py, so that pytest-xdist's controller runs it).
"""

import pytest

from simulator.server import quiet_request_log
from tests.faults import matrix


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
