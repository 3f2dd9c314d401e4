"""
`state.apply vcd.drained` and `vcd.active` through a real salt-master and minion, proven on the fake
cell's timeline.
"""

import time

import pytest
import salt.version

from tests.e2e.conftest import ADMIN_PASSWORD, events_of, wait_for_event
from tests.support import assert_every_shutdown_follows_a_drained_reading, end_running_jobs, wait_for

CMT = "cell-management-tool"


def tool_runs(cell, tool=CMT):
    return [e["argv"] for e in events_of(cell, "cli") if e["tool"] == tool]


def assert_safe_shutdown(cell):
    """Quiesce came first, the shutdown after the last job ended, with nothing running, nothing aborted."""
    events = cell.events()
    kinds = [e["event"] for e in events]
    assert "quiesce" in kinds and "shutdown" in kinds, kinds
    assert kinds.index("quiesce") < kinds.index("shutdown")
    (shutdown,) = events_of(cell, "shutdown")
    assert (shutdown["job_count"], shutdown["active"]) == (0, False)
    job_ends = [e["t"] for e in events if e["event"] in ("job_end", "job_cancel")]
    assert all(t <= shutdown["t"] for t in job_ends)
    assert not events_of(cell, "job_abort")
    assert_every_shutdown_follows_a_drained_reading(cell)


@pytest.mark.every_salt
def test_the_daemons_and_the_cli_run_the_salt_these_tests_run_on(cell1_minion, salt_cli, salt_run_cli):
    # make test-lts would otherwise prove nothing of Salt 3006 (see salt_factories_default_root_dir).
    answered = salt_cli.run("test.version", minion_tgt="cell1")
    assert answered.data == salt.version.__version__, answered
    ran = salt_run_cli.run("salt.cmd", "test.version")
    assert ran.stdout.strip().strip('"') == salt.version.__version__, ran


@pytest.mark.every_salt
def test_drain_shuts_the_cell_down_after_its_last_job(fake_cell1, in_background, cell_server):
    # The jobs run until the drain has read and quiesced the cell, however long that took, then end.
    cell = fake_cell1(jobs=[None, None])
    run = in_background("vcd.drained")
    wait_for_event(cell, "quiesce")
    end_running_jobs(cell_server.url)
    result = run.result()
    assert result["result"] is True, result["comment"]
    assert set(result["changes"]) == {"quiesced", "stopped", "jobs", "drain_seconds"}
    assert result["changes"]["jobs"] == 2
    assert "drained of 2 job(s)" in result["comment"]
    assert_safe_shutdown(cell)
    assert cell.snapshot()["service"] == "stopped"
    # The password went to the prompt, never on an argument list; few JVM starts thanks to REST.
    runs = tool_runs(cell)
    assert all(argv[:2] == ["-u", "administrator"] and "-p" not in argv for argv in runs)
    assert not any(ADMIN_PASSWORD in " ".join(argv) for argv in runs)
    assert len(runs) <= 4, runs


def test_a_vcd_10_5_1_cell_drains_with_two_tool_runs_quiescing_through_the_api(fake_cell1, apply_state):
    cell = fake_cell1(jobs=[2.0, 2.5], version="10.5.1")
    result = apply_state("vcd.drained")
    assert result["result"] is True, result["comment"]
    assert_safe_shutdown(cell)
    (quiesce,) = events_of(cell, "quiesce")
    assert quiesce["via"] == "api"
    # The tool is started only to confirm the drained reading and to shut down.
    assert [argv[-1] for argv in tool_runs(cell)] == ["--status", "--shutdown"]


def test_vcd_active_on_a_vcd_10_5_1_cell_needs_no_tool(fake_cell1, apply_state):
    cell = fake_cell1(jobs=[None], version="10.5.1")
    assert apply_state("vcd.active")["changes"] == {}
    cell.quiesce(True)
    back = apply_state("vcd.active")
    assert (back["result"], back["changes"]) == (True, {"unquiesced": True})
    assert events_of(cell, "unquiesce")[0]["via"] == "api"
    assert cell.snapshot()["quiesced"] is False
    assert tool_runs(cell) == []


def test_reapplying_after_success_changes_nothing(fake_cell1, apply_state):
    cell = fake_cell1(jobs=[0.5])
    assert apply_state("vcd.drained")["result"] is True
    runs_before = len(tool_runs(cell))
    again = apply_state("vcd.drained")
    assert (again["result"], again["changes"]) == (True, {})
    assert "already stopped" in again["comment"]
    assert len(tool_runs(cell)) == runs_before
    assert len(events_of(cell, "shutdown")) == 1


@pytest.mark.every_salt
def test_test_mode_says_what_would_happen_and_touches_nothing(fake_cell1, apply_state):
    cell = fake_cell1(jobs=[None, None])
    result = apply_state("vcd.drained", test=True)
    assert result["result"] is None
    assert "2 running job(s)" in result["comment"]
    assert result["changes"] == {"quiesced": True, "stopped": True}
    assert not events_of(cell, "quiesce", "shutdown", "stop", "job_abort", "job_cancel")
    assert cell.snapshot()["quiesced"] is False


@pytest.mark.every_salt
def test_on_timeout_fail_leaves_the_cell_quiesced_and_names_the_blocking_task(fake_cell1, apply_state):
    cell = fake_cell1(jobs=[None])
    (job,) = cell.snapshot()["jobs"]
    result = apply_state("vcd.drained", pillar={"vcd_cell": {"drain": {"timeout": 2, "interval": 1}}})
    assert result["result"] is False
    assert "did not drain within 2s" in result["comment"]
    assert job["id"] in result["comment"] and "owner alice" in result["comment"]
    assert result["changes"] == {"quiesced": True}
    snapshot = cell.snapshot()
    assert (snapshot["service"], snapshot["quiesced"], snapshot["job_count"]) == ("running", True, 1)
    assert not events_of(cell, "shutdown", "job_abort")


def test_a_drain_reapplied_after_the_cell_restarted_quiesces_it_again(fake_cell1, apply_state):
    # A drain that timed out leaves the cell quiesced under its lease; then the cell restarts (active
    # again) and gets a job the REST API lists. The lease alone must not be taken for a quiesced cell.
    fake_cell1(jobs=[None])
    assert apply_state("vcd.drained", pillar={"vcd_cell": {"drain": {"timeout": 2, "interval": 1}}})["result"] is False
    cell = fake_cell1(jobs=[4.0])
    result = apply_state("vcd.drained")
    assert result["result"] is True, result["comment"]
    assert_safe_shutdown(cell)


def test_on_timeout_abort_unquiesces_and_fails(fake_cell1, apply_state):
    cell = fake_cell1(jobs=[None])
    pillar = {"vcd_cell": {"drain": {"timeout": 2, "interval": 1, "on_timeout": "abort"}}}
    result = apply_state("vcd.drained", pillar=pillar)
    assert result["result"] is False
    assert "Aborted: the cell is active again" in result["comment"]
    assert result["changes"] == {}
    assert [e["event"] for e in events_of(cell, "quiesce", "unquiesce")] == ["quiesce", "unquiesce"]
    assert cell.snapshot()["quiesced"] is False
    assert not events_of(cell, "shutdown", "job_abort")


def test_on_timeout_cancel_cancels_then_shuts_down(fake_cell1, apply_state):
    cell = fake_cell1(jobs=[None, 0.5], cancel_seconds=0.5)
    pillar = {"vcd_cell": {"drain": {"timeout": 2, "interval": 1, "on_timeout": "cancel", "cancel_grace": 20}}}
    result = apply_state("vcd.drained", pillar=pillar)
    assert result["result"] is True, result["comment"]
    hung = next(j for j in cell.snapshot()["jobs"] if j["runs_until_cancelled"])
    assert result["changes"]["cancelled"] == [hung["id"]]
    assert [e["job"] for e in events_of(cell, "job_cancel")] == [hung["id"]]
    assert_safe_shutdown(cell)


def test_on_timeout_cancel_fails_without_shutdown_when_a_task_survives(fake_cell1, apply_state):
    cell = fake_cell1(jobs=[None])
    (job,) = cell.snapshot()["jobs"]
    cell.hang_job(job["id"], cancellable=False)
    pillar = {"vcd_cell": {"drain": {"timeout": 1, "interval": 1, "on_timeout": "cancel", "cancel_grace": 2}}}
    result = apply_state("vcd.drained", pillar=pillar)
    assert result["result"] is False
    assert "Not shut down" in result["comment"] and job["id"] in result["comment"]
    assert cell.snapshot()["service"] == "running"
    assert not events_of(cell, "shutdown", "job_abort")


@pytest.mark.every_salt
def test_drained_with_the_maintenance_message_then_active_brings_the_cell_back(fake_cell1, apply_state):
    cell = fake_cell1(jobs=[0.5], start_seconds=1.0)
    drained = apply_state("vcd.drained", pillar={"vcd_cell": {"drain": {"maintenance_message": True}}})
    assert drained["result"] is True, drained["comment"]
    assert drained["changes"]["maintenance_message"] is True
    assert cell.snapshot()["service"] == "maintenance"
    active = apply_state("vcd.active")
    assert active["result"] is True, active["comment"]
    assert set(active["changes"]) == {"maintenance_message", "started"}
    snapshot = cell.snapshot()
    assert (snapshot["service"], snapshot["quiesced"], snapshot["active"]) == ("running", False, True)
    kinds = [e["event"] for e in cell.events()]
    assert kinds[kinds.index("shutdown") :].count("maintenance_message_off") == 1
    assert kinds.index("maintenance_message_off") < kinds.index("start") < kinds.index("serving")
    again = apply_state("vcd.active")
    assert (again["result"], again["changes"]) == (True, {})


def test_active_unquiesces_a_running_quiesced_cell(fake_cell1, apply_state):
    cell = fake_cell1(version="8.10")
    cell.quiesce(True)
    result = apply_state("vcd.active")
    assert (result["result"], result["changes"]) == (True, {"unquiesced": True})
    assert cell.snapshot()["quiesced"] is False


@pytest.mark.every_salt
def test_progress_events_reach_the_masters_bus(fake_cell1, in_background, cell_server, event_listener, salt_master):
    # The job runs until its first progress event reached the master, however long that took.
    cell = fake_cell1(jobs=[None])
    (job,) = cell.snapshot()["jobs"]
    started = time.time()
    run = in_background("vcd.drained")

    def drain_payloads(last_job_count):
        events = event_listener.get_events([(salt_master.id, "vcd/cell/cell1/drain")], after_time=started)
        payloads = sorted((e.data.get("data", e.data) for e in events), key=lambda d: d["elapsed"])
        return payloads if payloads and payloads[-1]["job_count"] == last_job_count else None

    wait_for(lambda: drain_payloads(1), "the drain's first progress event", deadline=120)
    end_running_jobs(cell_server.url)
    assert run.result()["result"] is True
    payloads = wait_for(lambda: drain_payloads(0), "the drain's last progress event")
    assert len(payloads) >= 2, payloads
    first, last = payloads[0], payloads[-1]
    assert (first["cell"], first["job_count"]) == ("cell1", 1)
    assert first["tasks"][0]["id"] == job["id"] and first["tasks"][0]["owner"] == "alice"
    assert 0 < first["remaining"] <= 3600
    assert (last["job_count"], last["tasks"]) == (0, [])
    assert not any(ADMIN_PASSWORD in repr(p) for p in payloads)


def test_pid_authentication_needs_no_password(fake_cell1, apply_state):
    cell = fake_cell1(jobs=[0.5])
    result = apply_state("vcd.drained", pillar={"vcd_cell": {"auth": "pid"}})
    assert result["result"] is True, result["comment"]
    runs = tool_runs(cell)
    assert runs and all(argv[:2] == ["cell", "-i"] and "-u" not in argv for argv in runs)
    assert_safe_shutdown(cell)


def test_without_rest_the_tool_is_polled(fake_cell1, in_background, cell_server):
    cell = fake_cell1(jobs=[None], version="8.10")
    run = in_background("vcd.drained", pillar={"vcd_cell": {"api_url": "", "drain": {"interval": 1}}})
    # The job ends once a reading after the quiesce found it still running.
    quiesced = wait_for_event(cell, "quiesce")[0]
    wait_for(
        lambda: [e for e in events_of(cell, "status") if e["t"] > quiesced["t"] and e["job_count"] == 1],
        "a reading that found the job running",
    )
    end_running_jobs(cell_server.url)
    result = run.result()
    assert result["result"] is True, result["comment"]
    assert_safe_shutdown(cell)
    # The job outlived the first reading: the tool was read again, every interval, until it ended.
    assert [argv[-1] for argv in tool_runs(cell)].count("--status") >= 2


@pytest.mark.parametrize(
    "variant",
    [
        {"version": "5.1"},
        {"version": "8.10", "layout": "oneline", "noise": True, "crlf": True},
        {"version": "10.5", "quiesce_blocks": False, "active_after_quiesce": "until-drained"},
        {"version": "8.10", "quiesce_blocks": True, "active_after_quiesce": "at-once"},
    ],
    ids=["5.1", "8.10-oneline-noise", "10.5-returns", "8.10-blocks"],
)
def test_every_tool_variant_drains_safely(fake_cell1, apply_state, variant):
    cell = fake_cell1(jobs=[0.5, 1.5], **variant)
    result = apply_state("vcd.drained")
    assert result["result"] is True, result["comment"]
    assert_safe_shutdown(cell)


def test_invalid_arguments_fail_before_the_cell_is_touched(fake_cell1, apply_state):
    cell = fake_cell1(jobs=[None])
    result = apply_state("vcd.drained", pillar={"vcd_cell": {"drain": {"timeout": -5}}})
    assert result["result"] is False
    assert "timeout must be a positive number" in result["comment"]
    assert events_of(cell, "cli") == []


@pytest.mark.every_salt
def test_a_wrong_password_fails_clearly_without_leaking_it(fake_cell1, apply_state, salt_cli):
    cell = fake_cell1(jobs=[None])
    result = apply_state("vcd.drained", pillar={"vcd_cell": {"password": "Wr0ng-Secret"}})
    assert result["result"] is False
    assert "Authentication failed" in result["comment"]
    assert "Wr0ng-Secret" not in result["comment"]
    assert not events_of(cell, "quiesce", "shutdown")
    # The quiesce failed: no lease is left whose keeper would later "unquiesce" a cell nobody quiesced.
    assert salt_cli.run("vcd_cell.lease", minion_tgt="cell1").data["held"] is False
