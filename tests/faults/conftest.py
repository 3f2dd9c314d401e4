"""
The fault matrix's fixtures (its fake cells started once, and each plan's baseline run once), and its
summary: how many cases it had, ran and found not applicable, and how long it took.
"""

import time

import pytest

from simulator.server import quiet_request_log
from tests.faults import matrix

STARTED = time.monotonic()


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


def pytest_terminal_summary(terminalreporter):
    reports = [
        report
        for kind in ("passed", "failed", "skipped")
        for report in terminalreporter.stats.get(kind, [])
        if "tests/faults/" in getattr(report, "nodeid", "")
    ]
    if not reports:
        return
    # A case found not applicable is skipped in its call; a failed fixture fails its setup.
    skipped = [r for r in reports if r.outcome == "skipped"]
    ran = [r for r in reports if r.outcome != "skipped" and (r.when == "call" or r.outcome == "failed")]
    failed = [r for r in ran if r.outcome == "failed"]
    terminalreporter.write_line(
        f"fault matrix: {len(ran) + len(skipped)} case(s): {len(ran)} run ({len(failed)} failed), "
        f"{len(skipped)} not applicable, in {time.monotonic() - STARTED:.0f} s"
    )
    for report in ran:
        case = report.nodeid.split("[", 1)[-1].rsplit("]", 1)[0]
        terminalreporter.write_line(f"  {report.outcome:7} {case}")
