"""The cell model, driven by a fake clock so every instant is exact."""

import pytest

from simulator.model import (
    ACTIVE_FALSE_AT_ONCE,
    ACTIVE_UNTIL_DRAINED,
    Cell,
    CellConfig,
    CellError,
)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


def make_cell(clock, **config):
    return Cell(CellConfig(**config), clock=clock)


def kinds(cell):
    return [e["event"] for e in cell.events()]


def test_jobs_end_at_their_own_instant_in_order(clock):
    cell = make_cell(clock)
    slow = cell.add_job(seconds=3)
    fast = cell.add_job(seconds=1)
    clock.advance(10)
    ends = [e for e in cell.events() if e["event"] == "job_end"]
    assert [(e["job"], e["t"]) for e in ends] == [(fast["id"], 1.0), (slow["id"], 3.0)]
    assert cell.status()["job_count"] == 0


def test_status_counts_running_jobs_and_reports_maintenance_flag(clock):
    cell = make_cell(clock)
    cell.add_job(seconds=5)
    cell.add_job(seconds=None)
    status = cell.status()
    assert (status["job_count"], status["active"], status["maintenance"]) == (2, True, False)
    clock.advance(6)
    assert cell.status()["job_count"] == 1


def test_quiesced_cell_refuses_new_jobs_and_says_so(clock):
    cell = make_cell(clock)
    cell.quiesce(True)
    with pytest.raises(CellError, match="quiesced"):
        cell.add_job(seconds=1)
    assert kinds(cell)[-1] == "job_refused"
    cell.quiesce(False)
    cell.add_job(seconds=1)
    assert kinds(cell)[-1] == "job_start"


def test_active_false_at_once_after_quiesce(clock):
    cell = make_cell(clock, active_after_quiesce=ACTIVE_FALSE_AT_ONCE)
    cell.add_job(seconds=5)
    cell.quiesce(True)
    status = cell.status()
    assert (status["job_count"], status["active"], status["quiesced"]) == (1, False, True)


def test_active_until_last_job_ended_after_quiesce(clock):
    cell = make_cell(clock, active_after_quiesce=ACTIVE_UNTIL_DRAINED)
    cell.add_job(seconds=5)
    cell.quiesce(True)
    assert cell.status()["active"] is True
    clock.advance(5)
    assert (cell.status()["job_count"], cell.status()["active"]) == (0, False)


def test_version_defaults_for_quiesce_behaviour():
    assert CellConfig(version="5.1").blocks_on_quiesce is False
    assert CellConfig(version="5.1").active_semantics == ACTIVE_FALSE_AT_ONCE
    assert CellConfig(version="10.5").blocks_on_quiesce is True
    assert CellConfig(version="10.5").active_semantics == ACTIVE_UNTIL_DRAINED
    assert CellConfig(version="8.10", quiesce_blocks=True).blocks_on_quiesce is True


def test_shutdown_with_jobs_running_aborts_them_and_records_the_count(clock):
    cell = make_cell(clock)
    job = cell.add_job(seconds=None)
    clock.advance(2)
    cell.shutdown()
    shutdown = next(e for e in cell.events() if e["event"] == "shutdown")
    abort = next(e for e in cell.events() if e["event"] == "job_abort")
    assert (shutdown["job_count"], shutdown["active"], shutdown["t"]) == (1, True, 2.0)
    assert abort["job"] == job["id"]
    assert cell.snapshot()["jobs"][0]["status"] == "aborted"


def test_a_stopped_cell_answers_no_tool_and_takes_no_job(clock):
    cell = make_cell(clock)
    cell.shutdown()
    for action in (cell.status, cell.shutdown, lambda: cell.quiesce(True), lambda: cell.add_job(seconds=1)):
        with pytest.raises(CellError, match="not running|stopped"):
            action()


def test_restart_comes_back_active_with_a_new_pid_after_start_seconds(clock):
    cell = make_cell(clock, start_seconds=30)
    old_pid = cell.pid
    cell.quiesce(True)
    cell.shutdown()
    assert cell.service_start() is True
    assert cell.snapshot()["service"] == "starting"
    with pytest.raises(CellError, match="starting"):
        cell.status()
    clock.advance(30)
    assert cell.snapshot()["service"] == "running"
    assert cell.status()["active"] is True
    assert cell.pid != old_pid
    assert kinds(cell)[-2:] == ["start", "serving"]


def test_maintenance_message_only_on_a_stopped_cell_and_stop_turns_it_off(clock):
    cell = make_cell(clock)
    with pytest.raises(CellError, match="stop it"):
        cell.maintenance_message()
    cell.shutdown()
    assert cell.maintenance_message() is True
    assert cell.in_maintenance()
    with pytest.raises(CellError, match="maintenance message is on"):
        cell.service_start()
    assert cell.service_stop() is True
    assert cell.service_start() is True
    assert kinds(cell)[-3:] == ["maintenance_message_off", "start", "serving"]


def test_running_cell_maintenance_mode_is_not_in_5_1(clock):
    cell = make_cell(clock, version="8.10")
    cell.set_maintenance_mode(True)
    assert cell.status()["maintenance"] is True
    assert cell.in_maintenance()
    old = make_cell(clock, version="5.1")
    with pytest.raises(CellError, match="no cell maintenance mode"):
        old.set_maintenance_mode(True)


def test_cancel_ends_a_job_after_cancel_seconds_unless_it_ignores_cancellation(clock):
    cell = make_cell(clock, cancel_seconds=2)
    normal = cell.add_job(seconds=None)
    stubborn = cell.add_job(seconds=None)
    cell.hang_job(stubborn["id"], cancellable=False)
    cell.cancel_job(normal["id"])
    cell.cancel_job(stubborn["id"])
    clock.advance(1)
    assert cell.status()["job_count"] == 2
    clock.advance(1)
    assert cell.status()["job_count"] == 1
    cancelled = [e for e in cell.events() if e["event"] == "job_cancel"]
    assert [(e["job"], e["t"]) for e in cancelled] == [(normal["id"], 2.0)]
    with pytest.raises(CellError, match="canceled"):
        cell.cancel_job(normal["id"])
    with pytest.raises(KeyError):
        cell.cancel_job("no-such-task")


def test_hang_turns_a_finite_job_into_one_that_runs_until_cancelled(clock):
    cell = make_cell(clock)
    job = cell.add_job(seconds=1)
    cell.hang_job(job["id"])
    clock.advance(100)
    assert cell.status()["job_count"] == 1


def test_crash_aborts_running_jobs(clock):
    cell = make_cell(clock)
    cell.add_job(seconds=10)
    clock.advance(1)
    cell.crash()
    assert kinds(cell)[-2:] == ["crash", "job_abort"]
    assert cell.snapshot()["service"] == "stopped"
    with pytest.raises(CellError):
        cell.crash()


def test_tasks_of_other_cells_are_listed_but_never_counted_or_aborted(clock):
    cell = make_cell(clock, cell_name="cell1")
    cell.add_job(seconds=None, cell_name="cell2")
    cell.quiesce(True)
    cell.add_job(seconds=None, cell_name="cell2")
    assert cell.status()["job_count"] == 0
    assert cell.status()["active"] is False
    cell.shutdown()
    assert [t["status"] for t in cell.tasks()] == ["running", "running"]


def test_timeline_records_cli_invocations_in_sequence(clock):
    cell = make_cell(clock)
    cell.record_invocation("cell-management-tool", ["cell", "--status"])
    clock.advance(0.5)
    cell.quiesce(True)
    events = cell.events()
    assert [(e["seq"], e["event"]) for e in events] == [(1, "cli"), (2, "quiesce")]
    assert events[0]["argv"] == ["cell", "--status"]
    assert cell.events(since=1) == events[1:]


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"version": "9.9"}, "version must be one of"),
        ({"layout": "table"}, "layout must be"),
        ({"active_after_quiesce": "never"}, "active_after_quiesce must be"),
        ({"cli_delay": -1}, "cli_delay must not be negative"),
        ({"tool_fault": "explode"}, "tool_fault must be one of"),
        ({"api_fault": "slow"}, "api_fault must be one of"),
        ({"lockout_after": -1}, "lockout_after must not be negative"),
    ],
)
def test_bad_configuration_is_refused_naming_the_setting(bad, message):
    with pytest.raises(ValueError, match=message):
        CellConfig(**bad)


def test_reconfigure_validates_and_never_exposes_the_password(clock):
    cell = make_cell(clock, admin_password="s3cret")
    public = cell.reconfigure(cli_delay=1.5)
    assert public["cli_delay"] == 1.5
    assert "s3cret" not in repr(public)
    with pytest.raises(ValueError, match="unknown setting"):
        cell.reconfigure(colour="blue")


def test_failed_logins_are_recorded_and_lock_the_account(clock):
    cell = make_cell(clock, lockout_after=2)
    for _ in range(2):
        with pytest.raises(CellError, match="invalid user name or password"):
            cell.check_credentials("administrator", "wrong")
    with pytest.raises(CellError, match="locked"):
        cell.check_credentials("administrator", "vmware")
    failures = [e for e in cell.events() if e["event"] == "auth_failure"]
    assert [e["locked"] for e in failures] == [False, False, True]


def test_a_good_login_resets_the_failure_count(clock):
    cell = make_cell(clock, lockout_after=2)
    with pytest.raises(CellError):
        cell.check_credentials("administrator", "wrong", via="api")
    cell.check_credentials("administrator", "vmware")
    with pytest.raises(CellError, match="invalid"):
        cell.check_credentials("administrator", "wrong")
    assert cell.failed_logins == 1
