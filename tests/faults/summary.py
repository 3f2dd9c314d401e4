"""The fault matrix's summary: how many cases it had, ran and found not applicable, and how long it took."""

import time

STARTED = time.monotonic()


def pytest_terminal_summary(terminalreporter):
    ours = [
        report
        for phase in terminalreporter.stats.values()
        for report in phase
        if "tests/faults/" in getattr(report, "nodeid", "") and hasattr(report, "duration")
    ]
    reports = [report for report in ours if report.outcome in ("passed", "failed", "skipped")]
    if not reports:
        return
    # A case found not applicable is skipped in its call; a failed fixture fails its setup. A passed
    # setup or teardown has no outcome of its own to count, only its time.
    skipped = [r for r in reports if r.outcome == "skipped"]
    ran = [r for r in reports if r.outcome != "skipped" and (r.when == "call" or r.outcome == "failed")]
    failed = [r for r in ran if r.outcome == "failed"]
    # Its tests' time, summed over the processes that ran them (setups with the baselines, calls,
    # teardowns): in make test, one process's, what the sample adds; and the whole session's.
    took = sum(report.duration for report in ours)
    terminalreporter.write_line(
        f"fault matrix: {len(ran) + len(skipped)} case(s): {len(ran)} run ({len(failed)} failed), "
        f"{len(skipped)} not applicable; its tests took {took:.0f} s (summed over processes), the session "
        f"{time.monotonic() - STARTED:.0f} s"
    )
    for report in ran:
        case = report.nodeid.split("[", 1)[-1].rsplit("]", 1)[0]
        terminalreporter.write_line(f"  {report.outcome:7} {case}")
