"""A window followed live (`_utils/_vcd_watch.py`): the lines a person sees, in place or a line per change."""

import io

import _vcd_watch as watch
from tests.unit.utils.test_vcd_report import CELLS, entry, step


def begun():
    return [
        entry(0, "run/start", orchestration="vcd_rolling", id="r1", cells=CELLS, plan={"min_active": 2}),
        *step(1, 2, "budget", ["c1"], prefix="step/"),
        entry(2, "step/vcd.drained/start", rollout="r1", cells=["c1"]),
    ]


def test_a_run_is_a_line_with_the_budget_and_a_cell_a_line_with_its_drain_as_a_bar():
    drains = watch.Drains()
    drains.heard("c1", 4, elapsed=0)
    drains.heard("c1", 1, elapsed=6)
    said = watch.lines("vcd_rolling-r1-x", begun(), drains, now=1010.0)
    assert said[0] == (
        "vcd_rolling r1 running: serving 3 of 3 (min_active 2), outage 0:00:00",
        "vcd_rolling r1 running: serving 3 of 3 (min_active 2)",
    )
    line, stable = said[1]
    assert stable == "c1               vcd.drained        draining [###############-----] 1 of 4 jobs left"
    assert line.endswith(" 0:00:08")  # in the step since 1002
    assert said[2][1] == "c2               -                  serving"
    # A drain that begins again starts its bar over.
    drains.heard("c1", 2, elapsed=0)
    assert drains.of("c1") == (2, 2)


def test_a_log_gets_a_line_each_time_what_it_says_changes_and_a_terminal_the_lines_redrawn():
    log = io.StringIO()
    screen = watch.Screen(log, in_place=False)
    drains = watch.Drains()
    screen.show({"r": watch.lines("r", begun(), drains, now=1003.0)})
    screen.show({"r": watch.lines("r", begun(), drains, now=1004.0)})  # only the clocks moved
    entries = [*begun(), entry(5, "step/vcd.drained/finish", rollout="r1", results={"c1": "done"})]
    screen.show({"r": watch.lines("r", entries, drains, now=1006.0)})
    written = [line[9:] for line in log.getvalue().splitlines()]
    assert len(written) == 4 + 2, written  # the first view, then the run's line and c1's
    assert written[-2].startswith("vcd_rolling r1 running: serving 2 of 3") and "c1" in written[-1]
    terminal = io.StringIO()
    screen = watch.Screen(terminal, in_place=True)
    screen.show({"r": watch.lines("r", begun(), drains, now=1003.0)})
    screen.show({"r": watch.lines("r", begun(), drains, now=1004.0)})
    assert terminal.getvalue().count("\x1b[4F\x1b[J") == 1  # back up over the 4 lines, and drawn again


def test_a_runs_verdict_is_its_last_word():
    assert watch.verdict(begun()) == "running"
    assert watch.verdict([*begun(), entry(9, "run/finish", result=False)]) == "failed"
    assert watch.bar(0, 0) == "0 job(s) running"


def test_an_upgrades_bar_counts_from_the_jobs_at_its_quiesce():
    entries = [
        entry(0, "run/start", orchestration="vcd_upgrade", id="u1", cells=CELLS),
        entry(0, "precheck/start", precheck="u1", cells=CELLS),
        entry(1, "precheck/finish", precheck="u1", ready=True, failed=[], jobs={"c1": 4}),
        *step(1, 3, "quiesce"),
        entry(3, "drain/start", upgrade="u1", cells=CELLS),
    ]
    drains = watch.Drains()
    drains.heard("c1", 1, elapsed=0)  # three ended during the quiesce
    said = dict(watch.lines("vcd_upgrade-u1-x", entries, drains, now=1004.0)[1:2])
    assert list(said.values()) == [
        "c1               drain              draining [###############-----] 1 of 4 jobs left"
    ]
