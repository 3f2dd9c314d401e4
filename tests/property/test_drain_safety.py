"""
The safety proof, by property-based testing: over random job schedules, job arrivals, vCD version
variants, REST or no REST, and every ``on_timeout`` policy, the real ``vcd_cell.drained`` state (loaded by
Salt's own loader, with its real execution module, running the stub tools as real subprocesses against a
fake cell on loopback) never shuts a cell down unless the tool reports 0 jobs and an inactive scheduler,
and never makes a job fail.
"""

import contextlib
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.local_minion import load_states
from simulator.model import Cell, CellConfig, CellError
from simulator.server import CellServer, quiet_request_log
from tests.support import assert_every_shutdown_follows_a_drained_reading

VARIANTS = [
    {"version": "5.1"},
    {"version": "8.10"},
    {"version": "8.10", "layout": "oneline", "noise": True},
    {"version": "10.5"},
    {"version": "10.5", "quiesce_blocks": False},
    {"version": "8.10", "quiesce_blocks": True, "active_after_quiesce": "until-drained"},
]

job = st.tuples(
    st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.5)),  # seconds; None runs until cancelled
    st.booleans(),  # whether it can be cancelled
)
arrival = st.tuples(st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=0.0, max_value=1.0))
scenario = st.fixed_dictionaries(
    {
        "variant": st.sampled_from(VARIANTS),
        "jobs": st.lists(job, max_size=4),
        "arrivals": st.lists(arrival, max_size=3),
        "foreign_jobs": st.integers(min_value=0, max_value=2),
        "rest": st.booleans(),
        "on_timeout": st.sampled_from(["fail", "abort", "cancel"]),
        "timeout": st.floats(min_value=0.6, max_value=2.5),
        "interval": st.floats(min_value=0.2, max_value=0.5),
        "cancel_grace": st.floats(min_value=0.5, max_value=1.5),
        "cancel_seconds": st.floats(min_value=0.0, max_value=0.5),
    }
)


@pytest.fixture(scope="module")
def cell_server():
    quiet_request_log()
    with CellServer(Cell(CellConfig(cell_name="cell1"))) as server:
        yield server


@pytest.fixture(scope="module")
def salt_states(cell_server, tmp_path_factory):
    opts, states = load_states(cell_server, tmp_path_factory.mktemp("minion"), cli_timeout=30)
    yield opts, states
    # The drains ran with the shipped quiesce lease: its keeper must not outlive the tests.
    states.pack["__salt__"]["vcd_cell.release_lease"]()


def add_arrivals(cell, arrivals, stop):
    """Jobs users start while the drain runs; a quiesced cell refuses them, as a real one does."""
    started = time.monotonic()
    for delay, seconds in sorted(arrivals):
        if stop.wait(max(0.0, started + delay - time.monotonic())):
            return
        with contextlib.suppress(CellError):
            cell.add_job(seconds=seconds, name="arrival")


def drain(cell_server, salt_states, case):
    opts, states = salt_states
    cell = cell_server.replace_cell(
        Cell(CellConfig(cell_name="cell1", cancel_seconds=case["cancel_seconds"], **case["variant"]))
    )
    for seconds, cancellable in case["jobs"]:
        cell.add_job(seconds=seconds, cancellable=cancellable, name="vappDeploy")
    for _ in range(case["foreign_jobs"]):
        cell.add_job(seconds=None, cell_name="cell2", name="elsewhere")
    opts["vcd_cell"]["api_url"] = cell_server.url if case["rest"] else ""
    stop = threading.Event()
    arrivals = threading.Thread(target=add_arrivals, args=(cell, case["arrivals"], stop))
    arrivals.start()
    try:
        ret = states["vcd_cell.drained"](
            "cell1",
            timeout=case["timeout"],
            interval=min(case["interval"], case["timeout"]),
            on_timeout=case["on_timeout"],
            cancel_grace=case["cancel_grace"],
        )
    finally:
        stop.set()
        arrivals.join()
    return cell, ret


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=scenario)
def test_a_cell_is_only_shut_down_drained_and_no_job_ever_fails(cell_server, salt_states, case):
    cell, ret = drain(cell_server, salt_states, case)
    kinds = [event["event"] for event in cell.events()]
    shutdowns = [event for event in cell.events() if event["event"] == "shutdown"]

    # The invariant: a shutdown only ever meets 0 jobs and an inactive scheduler, and it follows a tool
    # reading of exactly that on a quiesced cell.
    assert all((s["job_count"], s["active"]) == (0, False) for s in shutdowns), cell.events()
    assert_every_shutdown_follows_a_drained_reading(cell)
    # No job is ever made to fail; only the cancel policy cancels.
    assert "job_abort" not in kinds
    if case["on_timeout"] != "cancel":
        assert "job_cancel" not in kinds and "cancel_request" not in kinds
    # The state tells the truth about what it did.
    assert ret["result"] is (len(shutdowns) == 1), ret
    if ret["result"]:
        assert cell.snapshot()["service"] == "stopped"
    else:
        assert ret["comment"], ret
        assert cell.snapshot()["service"] == "running"
        assert cell.snapshot()["quiesced"] is (case["on_timeout"] != "abort"), ret
    # Tasks of other cells are never touched.
    assert all(t["status"] == "running" for t in cell.tasks() if t["cellName"] == "cell2")
