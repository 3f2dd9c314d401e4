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
    terminalreporter.write_line(
        f"fault matrix: {len(ran) + len(skipped)} case(s): {len(ran)} run ({len(failed)} failed), "
        f"{len(skipped)} not applicable, in {time.monotonic() - STARTED:.0f} s"
    )
    for report in ran:
        case = report.nodeid.split("[", 1)[-1].rsplit("]", 1)[0]
        terminalreporter.write_line(f"  {report.outcome:7} {case}")
