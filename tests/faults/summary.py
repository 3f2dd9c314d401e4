"""The fault matrix's summary: how many cases it had, ran and found not applicable, and how long it took."""

import time

STARTED = time.monotonic()


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
    # Its own time (setups with the fixtures' baselines, calls, teardowns), which in make test is what the
    # sample adds, and the whole session's, which for make test-faults is the matrix's.
    own = sum(
        report.duration
        for phase in terminalreporter.stats.values()
        for report in phase
        if "tests/faults/" in getattr(report, "nodeid", "") and hasattr(report, "duration")
    )
    terminalreporter.write_line(
        f"fault matrix: {len(ran) + len(skipped)} case(s): {len(ran)} run ({len(failed)} failed), "
        f"{len(skipped)} not applicable, in {own:.0f} s of its own ({time.monotonic() - STARTED:.0f} s "
        "the whole session)"
    )
    for report in ran:
        case = report.nodeid.split("[", 1)[-1].rsplit("]", 1)[0]
        terminalreporter.write_line(f"  {report.outcome:7} {case}")
