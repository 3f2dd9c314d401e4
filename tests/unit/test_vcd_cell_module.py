"""
The execution module with Salt's loader mocked: status parsing, the argument lists of the tool (never a
password), the prompt answered through the terminal, time limits, and the settings' validation.
"""

import os
import time
from unittest.mock import MagicMock

import pytest
from hypothesis import given
from hypothesis import strategies as st
from salt.exceptions import CommandExecutionError, SaltInvocationError

import _vcd_cell_api as rest
import _vcd_cell_errors as errors
import _vcd_cell_lease as leases
import _vcd_cell_settings as vcd_settings
import _vcd_cell_tools as tools
from tests.support import load_salt_module

vcd_cell = load_salt_module("_modules/vcd_cell.py", "vcd_cell_execution_module")

PASSWORD = "s3cr3t pa$$ 'wörd'"
CMT = "/opt/vmware/vcloud-director/bin/cell-management-tool"


class FakeTerminal:
    """
    Stands in for salt.utils.vt.Terminal: prompts for a password when run with ``-u``, then prints the
    output ``script`` maps the cell option to, and exits with its code. ``None`` never ends.
    """

    script = {}
    runs = []
    # Its output is all in what recv() returns: nothing is left on a descriptor once it has ended.
    child_fd = child_fde = None

    def __init__(self, args, **kwargs):
        self.args = args
        self.sent = []
        self.killed = False
        self.exitstatus = None
        self.output, self.exit_code = self.script[args[-1] if args[-1] not in ("true", "false") else args[-2]]
        self.pending = ["Password:"] if "-u" in args else []
        if "-u" not in args:
            self.pending.append(self.output)
        FakeTerminal.runs.append(self)

    def recv(self):
        if self.pending:
            return self.pending.pop(0), ""
        if self.exit_code is None or (("-u" in self.args) and not self.sent):
            return "", ""
        return None, None

    def sendline(self, data):
        self.sent.append(data)
        self.pending.append(self.output)

    @property
    def has_unread_data(self):
        return bool(self.pending)

    def isalive(self):
        done = self.exit_code is not None and (self.sent or "-u" not in self.args) and not self.pending
        if done:
            self.exitstatus = self.exit_code
        return not done

    def close(self, terminate=True, kill=False):
        self.killed = True


def settings(**overrides):
    values = {"password": PASSWORD, "cli_timeout": 5, "api_url": None}
    values.update(overrides)
    return values


@pytest.fixture
def config():
    """The vcd_cell configuration config.get answers with; tests change it."""
    return settings()


@pytest.fixture
def run_all():
    return MagicMock(return_value={"retcode": 0, "stdout": "4242\n", "stderr": ""})


@pytest.fixture
def configure_loader_modules(config, run_all, monkeypatch, tmp_path):
    tool = tmp_path / "cell-management-tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    config.setdefault("cmt_path", str(tool))
    config.setdefault("cell_script", str(tool))
    monkeypatch.setattr(tools.salt.utils.vt, "Terminal", FakeTerminal)
    FakeTerminal.runs = []
    FakeTerminal.script = {
        "--status": ("\nJob count = 0\nIs Active = false\nIn Maintenance Mode = false\n", 0),
        "--shutdown": ("", 0),
        "--quiesce": ("", 0),
    }

    def config_get(key, default=None):
        return config.get(key.split(":", 1)[1], default)

    return {
        vcd_cell: {
            "__salt__": {
                "config.get": config_get,
                "cmd.run_all": run_all,
                "event.send": MagicMock(),
                "event.fire_master": MagicMock(return_value=True),
            },
            "__opts__": {"id": "cell1", "test": False, "cachedir": str(tmp_path / "cache")},
        }
    }


# -- parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output, expected",
    [
        ("Job count = 3\nIs Active = true\n", (3, True, None)),
        ("Job count = 1\nIs Active = true\nIn Maintenance Mode = false\n", (1, True, False)),
        ("Job count = 3 Is Active = true", (3, True, None)),
        ("Job count = 0 Is Active = false In Maintenance Mode = true", (0, False, True)),
        ("Job count = 2\r\nIs Active = false\r\nIn Maintenance Mode = false\r\n", (2, False, False)),
        (
            "Picked up JAVA_TOOL_OPTIONS: -Xmx1g\nlog4j:WARN No appenders\nJob count = 5\nIs Active = TRUE\n"
            "2026-11-25 07:00:00,000 INFO done\n",
            (5, True, None),
        ),
        ("Password:\nJob count = 0\nIs Active = false\n", (0, False, None)),
    ],
    ids=["5.1", "8.10", "one-line", "one-line-3", "crlf", "noise", "after-prompt"],
)
def test_parse_status_reads_every_layout(output, expected):
    status = vcd_cell.parse_status(output)
    assert (status["job_count"], status["active"], status["maintenance"]) == expected


@pytest.mark.parametrize(
    "output, message",
    [
        ("", "no job_count field"),
        ("Is Active = true", "no job_count field"),
        ("Job count = 3", "no active field"),
        ("Job count = 3\nIs Act", "no active field"),
        ("Job count = three\nIs Active = true", "malformed job count 'three'"),
        ("Job count = -1\nIs Active = true", "malformed job count '-1'"),
        ("Job count = 1\nIs Active = maybe", "malformed active value 'maybe'"),
        ("Job count = 1\nIs Active = true\nIn Maintenance Mode = perhaps", "malformed maintenance value"),
        ("Job count = 1\nJob count = 2\nIs Active = true", "job_count twice"),
        ("Job count =\nIs Active = true", "malformed job count"),
    ],
)
def test_parse_status_is_strict_and_quotes_the_output(output, message):
    with pytest.raises(CommandExecutionError, match=message) as error:
        vcd_cell.parse_status(output)
    assert repr(output) in str(error.value)


NOISE = st.sampled_from(
    [
        "Picked up JAVA_TOOL_OPTIONS: -Xmx1g",
        "log4j:WARN No appenders could be found",
        "WARNING: An illegal reflective access",
        "",
    ]
)


@given(
    job_count=st.integers(min_value=0, max_value=10**6),
    active=st.booleans(),
    maintenance=st.one_of(st.none(), st.booleans()),
    before=st.lists(NOISE, max_size=3),
    after=st.lists(NOISE, max_size=3),
    one_line=st.booleans(),
    line_end=st.sampled_from(["\n", "\r\n"]),
)
def test_parse_status_finds_the_fields_among_any_noise(
    job_count, active, maintenance, before, after, one_line, line_end
):
    fields = [f"Job count = {job_count}", f"Is Active = {str(active).lower()}"]
    if maintenance is not None:
        fields.append(f"In Maintenance Mode = {str(maintenance).lower()}")
    body = [" ".join(fields)] if one_line else fields
    output = line_end.join(before + body + after)
    assert vcd_cell.parse_status(output) == {"job_count": job_count, "active": active, "maintenance": maintenance}


# -- the tool's argument list and the password ---------------------------------------------------------


def test_password_auth_answers_the_prompt_and_keeps_the_password_off_the_argument_list(config):
    assert vcd_cell.status() == {"job_count": 0, "active": False, "maintenance": False}
    (run,) = FakeTerminal.runs
    assert run.args == [config["cmt_path"], "-u", "administrator", "cell", "--status"]
    assert run.sent == [PASSWORD]
    assert not any(PASSWORD in arg for arg in run.args)


def test_pid_auth_gets_the_pid_from_the_pid_command_and_sends_no_password(config, run_all):
    config.update(auth="pid", pid_command=f"{config['cell_script']} pid cell")
    run_all.return_value = {"retcode": 0, "stdout": "some banner\n4242\n", "stderr": ""}
    vcd_cell.status()
    (run,) = FakeTerminal.runs
    assert run.args == [config["cmt_path"], "cell", "-i", "4242", "--status"]
    assert run.sent == []
    assert run_all.call_args.args[0] == [config["cell_script"], "pid", "cell"]
    assert run_all.call_args.kwargs["python_shell"] is False


def test_pid_auth_is_the_default_without_a_password(config):
    config["password"] = None
    vcd_cell.status()
    assert FakeTerminal.runs[0].args[1:3] == ["cell", "-i"]


def test_a_pid_command_without_a_pid_fails_clearly(config, run_all):
    config["auth"] = "pid"
    run_all.return_value = {"retcode": 1, "stdout": "", "stderr": "vmware-vcd-cell is not running"}
    with pytest.raises(CommandExecutionError, match="Cannot get the cell's process id.*not running"):
        vcd_cell.status()


def test_output_echoing_the_password_is_redacted_in_errors(config):
    FakeTerminal.script["--status"] = (f"Error: login failed for {PASSWORD}", 1)
    with pytest.raises(CommandExecutionError) as error:
        vcd_cell.status()
    assert PASSWORD not in str(error.value)
    assert "******" in str(error.value)
    assert "failed (exit 1)" in str(error.value)


def test_a_hung_tool_is_killed_at_its_time_limit(config):
    config["cli_timeout"] = 0.3
    FakeTerminal.script["--status"] = ("", None)
    with pytest.raises(CommandExecutionError, match="did not finish within 0.3s and was killed"):
        vcd_cell.status()
    assert FakeTerminal.runs[0].killed


def test_a_missing_tool_is_reported_with_the_setting_to_fix(config):
    config["cmt_path"] = "/nonexistent/cell-management-tool"
    with pytest.raises(CommandExecutionError, match="missing or not executable: check vcd_cell:cmt_path"):
        vcd_cell.status()


# -- shutdown refuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output", ["Job count = 1\nIs Active = false\n", "Job count = 0\nIs Active = true\n"], ids=["jobs", "active"]
)
def test_shutdown_refuses_while_jobs_run_or_the_scheduler_is_active(output):
    FakeTerminal.script["--status"] = (output, 0)
    with pytest.raises(CommandExecutionError, match="Refusing to shut the cell down"):
        vcd_cell.shutdown()
    assert [run.args[-1] for run in FakeTerminal.runs] == ["--status"]


def test_shutdown_checks_again_then_shuts_down():
    assert vcd_cell.shutdown()["shutdown"] is True
    assert [run.args[-1] for run in FakeTerminal.runs] == ["--status", "--shutdown"]


def test_a_drain_asked_to_shut_down_does_so_on_the_reading_that_found_it_drained():
    outcome = vcd_cell.drain(timeout=5, interval=1, shutdown=True)
    assert (outcome["drained"], outcome["shut_down"]) == (True, True)
    assert [run.args[-1] for run in FakeTerminal.runs] == ["true", "--status", "--shutdown"]


def test_a_drain_of_a_cell_known_quiesced_does_not_quiesce_it_again():
    outcome = vcd_cell.drain(timeout=5, interval=1, shutdown=True, quiesce=False)
    assert (outcome["drained"], outcome["shut_down"]) == (True, True)
    assert [run.args[-1] for run in FakeTerminal.runs] == ["--status", "--shutdown"]


def test_a_drain_that_finds_a_cell_thought_quiesced_active_quiesces_it():
    FakeTerminal.script["--status"] = ("Job count = 1\nIs Active = true\n", 0)
    outcome = vcd_cell.drain(timeout=0.3, interval=0.1, shutdown=True, quiesce=False)
    assert (outcome["drained"], outcome["shut_down"], outcome["jobs_at_start"]) == (False, False, 1)
    runs = [run.args[-1] for run in FakeTerminal.runs]
    assert runs[:2] == ["--status", "true"] and runs.count("true") == 1 and "--shutdown" not in runs


def test_a_drain_that_times_out_never_shuts_down(monkeypatch):
    FakeTerminal.script["--status"] = ("Job count = 1\nIs Active = true\n", 0)
    outcome = vcd_cell.wait_drained(timeout=0.2, interval=0.1, shutdown=True)
    assert (outcome["drained"], outcome["shut_down"]) == (False, False)
    assert "--shutdown" not in [run.args[-1] for run in FakeTerminal.runs]
    with pytest.raises(SaltInvocationError, match="shutdown must be true or false"):
        vcd_cell.drain(shutdown="yes")


def test_forced_shutdown_skips_the_check():
    vcd_cell.shutdown(force=True)
    assert [run.args[-1] for run in FakeTerminal.runs] == ["--shutdown"]


# -- settings and arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        ({"auth": "kerberos"}, "vcd_cell:auth must be 'password' or 'pid'"),
        ({"auth": "password", "password": None}, "vcd_cell:password is not set"),
        ({"cli_timeout": -1}, "vcd_cell:cli_timeout must be a positive number"),
        ({"event_interval": "often"}, "vcd_cell:event_interval must be a positive number"),
        ({"api_verify": 3}, "vcd_cell:api_verify must be"),
        ({"transfer_share": "data/transfer"}, "vcd_cell:transfer_share must be an absolute path, not 'data/transfer'"),
    ],
)
def test_bad_settings_are_named(config, change, message):
    config.update(change)
    with pytest.raises(SaltInvocationError, match=message):
        vcd_cell.status()
    assert FakeTerminal.runs == []


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: vcd_cell.wait_drained(timeout=0), "timeout must be a positive number"),
        (lambda: vcd_cell.drain(timeout=10, interval=20), r"interval \(20\) must not be longer than timeout"),
        (lambda: vcd_cell.shutdown(force="yes"), "force must be true or false"),
        (lambda: vcd_cell.maintenance_message(enabled="on"), "enabled must be true or false"),
        (lambda: vcd_cell.cancel_tasks(ids="abc"), "ids must be a list"),
        (lambda: vcd_cell.quiesce(timeout=-3), "timeout must be a positive number"),
    ],
)
def test_bad_arguments_are_named_before_anything_runs(call, message):
    with pytest.raises(SaltInvocationError, match=message):
        call()
    assert FakeTerminal.runs == []


def test_the_settings_never_show_the_password(config):
    shown = repr(vcd_cell._settings())
    assert PASSWORD not in shown and "******" in shown


def test_rest_functions_need_an_api_url():
    with pytest.raises(CommandExecutionError, match="set vcd_cell:api_url"):
        vcd_cell.tasks()
    with pytest.raises(CommandExecutionError, match="set vcd_cell:api_url"):
        vcd_cell.health()


def test_task_summary_takes_the_id_from_the_href():
    summary = rest.task_summary(
        {
            "href": "https://cell/api/task/abc-123",
            "name": "vappDeploy",
            "ownerName": "alice",
            "startDate": "2020-01-01T00:00:00.000Z",
        }
    )
    assert (summary["id"], summary["owner"]) == ("abc-123", "alice")
    assert summary["age_seconds"] > 0
    assert vcd_cell.describe_tasks([summary]).startswith("abc-123 vappDeploy (owner alice, running ")


# -- the quiesce lease ---------------------------------------------------------------------------------


@pytest.fixture
def salt_calls(configure_loader_modules):
    return configure_loader_modules[vcd_cell]["__salt__"]


@pytest.fixture
def keepers_started(monkeypatch):
    """The keepers a drain starts, recorded instead of forked: the real one is tested end to end."""
    started = []

    def start(settings):
        started.append(len(FakeTerminal.runs))

    monkeypatch.setattr(leases, "start_keeper", start)
    return started


def expired_lease(seconds_ago=1):
    leases.write_lease(
        vcd_cell._settings(), {"expires": time.time() - seconds_ago, "seconds": 3, "by": {"pid": 7, "run": "salt-call"}}
    )


def test_drain_arranges_a_lease_and_its_keeper_before_it_quiesces(keepers_started):
    assert vcd_cell.drain(timeout=5, interval=1, lease=30)["drained"] is True
    assert keepers_started == [0]
    assert FakeTerminal.runs[0].args[-2:] == ["--quiesce", "true"]
    lease = leases.read_lease(vcd_cell._settings())
    assert lease["seconds"] == 30 and 25 < lease["expires"] - time.time() <= 30
    assert lease["by"]["pid"] == os.getpid()


def test_a_live_keeper_is_kept_for_a_renewed_lease(keepers_started):
    keeper = leases.hold(vcd_cell._settings(), leases.KEEPER_LOCK, {"pid": 4321})
    try:
        vcd_cell.drain(timeout=5, interval=1, lease=30)
        assert keepers_started == []
        assert vcd_cell.lease()["keeper"] == {"pid": 4321, "alive": True}
    finally:
        os.close(keeper)
    assert vcd_cell.lease()["keeper"] is None


def test_a_keeper_that_does_not_start_stops_the_drain_before_the_quiesce(monkeypatch):
    def fail(settings):
        raise errors.LeaseError("The quiesce lease's keeper did not start within 10s")

    monkeypatch.setattr(leases, "start_keeper", fail)
    with pytest.raises(CommandExecutionError, match="keeper did not start"):
        vcd_cell.drain(timeout=5, interval=1, lease=30)
    assert FakeTerminal.runs == []
    assert leases.read_lease(vcd_cell._settings()) is None


def test_a_quiesce_that_fails_ends_the_lease_it_took_but_not_one_held_before(keepers_started):
    FakeTerminal.script["--quiesce"] = ("Authentication failed\n", 1)
    for quiesce in (vcd_cell.quiesce, vcd_cell.drain):
        with pytest.raises(CommandExecutionError, match="Authentication failed"):
            quiesce(lease=30)
        assert leases.read_lease(vcd_cell._settings()) is None
        vcd_cell.release_lease()
    # A lease held before (an earlier quiesce of this host's) still guards that quiesce.
    leases.write_lease(
        vcd_cell._settings(), {"expires": time.time() + 60, "seconds": 60, "by": {"pid": 7, "run": "salt-call"}}
    )
    with pytest.raises(CommandExecutionError, match="Authentication failed"):
        vcd_cell.drain(timeout=5, interval=1, lease=30)
    assert leases.read_lease(vcd_cell._settings()) is not None


def test_a_second_drain_fails_at_once_naming_the_first_and_touches_nothing(keepers_started):
    other = leases.hold(
        vcd_cell._settings(), leases.DRAIN_LOCK, {"pid": 999, "run": "salt-minion job", "since": "12:00 UTC"}
    )
    try:
        with pytest.raises(CommandExecutionError, match=r"Another drain of this cell is running: pid 999 \(salt"):
            vcd_cell.drain(timeout=5, interval=1, lease=30)
        assert vcd_cell.lease()["drain"] == "pid 999 (salt-minion job, since 12:00 UTC)"
    finally:
        os.close(other)
    assert FakeTerminal.runs == [] and keepers_started == []
    assert leases.read_lease(vcd_cell._settings()) is None


def test_a_drain_keeps_its_claim_until_it_releases_the_lease(keepers_started):
    vcd_cell.drain(timeout=5, interval=1, lease=30)
    vcd_cell.claim()  # the same process: its own claim
    assert leases.hold(vcd_cell._settings(), leases.DRAIN_LOCK, {}) is None
    assert vcd_cell.release_lease() is True
    fd = leases.hold(vcd_cell._settings(), leases.DRAIN_LOCK, {})
    assert fd is not None
    os.close(fd)


def test_a_released_lease_cannot_be_renewed():
    leases.write_lease(vcd_cell._settings(), {"expires": time.time() + 60, "seconds": 60, "by": {}})
    vcd_cell.release_lease()
    with pytest.raises(errors.LeaseError, match="The quiesce lease ended while the drain waited"):
        leases.renew_lease(vcd_cell._settings(), 60)


def test_the_keeper_waits_while_the_lease_holds_and_ends_when_it_is_released(salt_calls, monkeypatch):
    leases.write_lease(vcd_cell._settings(), {"expires": time.time() + 60, "seconds": 60, "by": {}})
    looks = []

    def sleep(seconds):
        looks.append(seconds)
        if len(looks) == 3:
            vcd_cell.release_lease()

    monkeypatch.setattr(leases.time, "sleep", sleep)
    assert leases._keep_lease(vcd_cell._settings()) == 0
    assert looks == [leases.LEASE_POLL_SECONDS] * 3
    assert FakeTerminal.runs == []
    salt_calls["event.fire_master"].assert_not_called()


def test_the_keeper_unquiesces_a_running_cell_once_the_lease_runs_out(salt_calls, run_all, caplog):
    expired_lease()
    assert leases._keep_lease(vcd_cell._settings()) == 0
    assert [run.args[-2:] for run in FakeTerminal.runs] == [["--quiesce", "false"]]
    assert leases.read_lease(vcd_cell._settings()) is None
    tag, data = salt_calls["event.fire_master"].call_args.args[1], salt_calls["event.fire_master"].call_args.args[0]
    assert tag == "vcd/cell/cell1/lease"
    assert (data["expired"], data["unquiesced"], data["drain"]) == (True, True, "pid 7 (salt-call, since None)")
    assert "the quiesce lease of 3s taken by the drain pid 7" in caplog.text
    assert [r.levelname for r in caplog.records if "lease" in r.getMessage()] == ["WARNING"]


def test_an_expired_lease_on_a_stopped_cell_just_ends(salt_calls, run_all):
    expired_lease()
    run_all.return_value = {"retcode": 3, "stdout": "vmware-vcd-cell is not running", "stderr": ""}
    assert leases._keep_lease(vcd_cell._settings()) == 0
    assert FakeTerminal.runs == []
    assert salt_calls["event.fire_master"].call_args.args[0]["unquiesced"] is False


def test_the_keeper_tries_again_when_the_cell_cannot_be_unquiesced(salt_calls, monkeypatch):
    expired_lease()
    FakeTerminal.script["--quiesce"] = ("Error: the cell is busy", 1)
    pauses = []

    def sleep(seconds):
        if seconds == leases.LEASE_RETRY_SECONDS:
            pauses.append(seconds)
            FakeTerminal.script["--quiesce"] = ("", 0)

    monkeypatch.setattr(leases.time, "sleep", sleep)
    assert leases._keep_lease(vcd_cell._settings()) == 0
    assert pauses == [leases.LEASE_RETRY_SECONDS]
    assert len(FakeTerminal.runs) == 2 and leases.read_lease(vcd_cell._settings()) is None


def test_the_keeper_gives_up_on_a_cell_it_cannot_reach_and_says_so(salt_calls, caplog):
    expired_lease(seconds_ago=leases.LEASE_GIVE_UP_SECONDS)
    FakeTerminal.script["--quiesce"] = ("Error: the cell is busy", 1)
    assert leases._keep_lease(vcd_cell._settings()) == 0
    assert leases.read_lease(vcd_cell._settings()) is None
    event = salt_calls["event.fire_master"].call_args.args[0]
    assert (event["unquiesced"], "the cell is busy" in event["error"]) == (False, True)
    assert "could not be unquiesced within 600s" in caplog.text and "apply vcd.active" in caplog.text


def test_a_masterless_keeper_sends_no_event(salt_calls, configure_loader_modules):
    configure_loader_modules[vcd_cell]["__opts__"]["file_client"] = "local"
    expired_lease()
    leases._keep_lease(vcd_cell._settings())
    salt_calls["event.fire_master"].assert_not_called()


def test_release_lease_says_whether_there_was_one():
    assert vcd_cell.release_lease() is False
    leases.write_lease(vcd_cell._settings(), {"expires": time.time() + 60, "seconds": 60, "by": {}})
    assert vcd_cell.lease()["held"] is True
    assert vcd_cell.release_lease() is True
    assert leases.read_lease(vcd_cell._settings()) is None
    assert vcd_cell.lease() == {
        "held": False,
        "expires": None,
        "seconds_left": None,
        "taken_by": None,
        "keeper": None,
        "drain": None,
        "stopped_at": None,
    }


def test_lease_arguments_are_checked():
    with pytest.raises(SaltInvocationError, match="lease must be 0"):
        vcd_cell.drain(lease=-5)


# -- a cell that stops under the drain ---------------------------------------------------------------


def test_a_cell_that_stops_during_the_drain_is_reported_with_its_lost_jobs(run_all):
    FakeTerminal.script["--status"] = ("Error: Cannot connect to the cell: the cell is not running", 1)
    run_all.return_value = {"retcode": 3, "stdout": "vmware-vcd-cell is not running", "stderr": ""}
    with pytest.raises(CommandExecutionError, match="The cell stopped during the drain.*may be lost"):
        vcd_cell.wait_drained(timeout=5, interval=1)


def test_a_tool_failure_on_a_running_cell_is_reported_as_such(run_all):
    FakeTerminal.script["--status"] = ("Error: internal error", 1)
    with pytest.raises(CommandExecutionError, match="--status failed \\(exit 1\\): Error: internal error"):
        vcd_cell.wait_drained(timeout=5, interval=1)


def test_the_cell_scripts_exit_codes_are_read_the_lsb_way(run_all):
    run_all.return_value = {"retcode": 3, "stdout": "vmware-vcd-cell is not running", "stderr": ""}
    assert vcd_cell.is_running() is False
    run_all.return_value = {"retcode": 0, "stdout": "vmware-vcd-cell is running", "stderr": ""}
    assert vcd_cell.is_running() is True
    run_all.return_value = {"retcode": 4, "stdout": "", "stderr": "status unknown"}
    with pytest.raises(CommandExecutionError, match="status failed \\(exit 4\\): status unknown"):
        vcd_cell.is_running()


def test_a_failing_start_quotes_the_script(run_all):
    run_all.return_value = {"retcode": 1, "stdout": "", "stderr": "the maintenance message is on"}
    with pytest.raises(CommandExecutionError, match="start failed \\(exit 1\\): the maintenance message is on"):
        vcd_cell.start()


@pytest.mark.parametrize(
    "opts, masterless",
    [
        ({}, False),
        ({"local": True}, True),
        ({"file_client": "local"}, True),
        ({"master_type": "disable"}, True),
        ({"file_client": "local", "use_master_when_local": True}, False),
    ],
)
def test_masterless_is_judged_as_salts_event_functions_judge_it(opts, masterless):
    assert vcd_settings.masterless(opts) is masterless


def test_salt_ssh_is_told_by_its_thin_directory_and_shares_the_minions_lease_directory(tmp_path):
    thin = tmp_path / "thin"
    over_ssh = {"conf_file": str(thin / "minion"), "root_dir": str(thin / "running_data"), "cachedir": "/x"}
    minion = {"conf_file": "/etc/salt/minion", "root_dir": "/", "cachedir": "/var/cache/salt/minion"}
    assert vcd_settings.over_ssh(over_ssh) and not vcd_settings.over_ssh(minion)
    unset = {"config.get": lambda key, default=None: default}
    assert vcd_settings.lease_dir(unset, over_ssh) == "/var/cache/salt/minion/vcd_cell"
    assert vcd_settings.lease_dir(unset, dict(minion, cachedir=str(tmp_path))) == str(tmp_path / "vcd_cell")
    configured = {"config.get": lambda key, default=None: "/srv/vcd/lease" if key == "vcd_cell:lease_dir" else default}
    assert vcd_settings.lease_dir(configured, over_ssh) == "/srv/vcd/lease"
    relative = {"config.get": lambda key, default=None: "lease" if key == "vcd_cell:lease_dir" else default}
    with pytest.raises(SaltInvocationError, match="vcd_cell:lease_dir must be an absolute path"):
        vcd_settings.lease_dir(relative, minion)


def test_a_failing_status_is_an_error_never_a_stopped_cell(run_all):
    # Found by the fault matrix (upgrade/linux/drain/start/tool-fails-once): exit 1 with an error was read
    # as LSB's "dead", so the drain took a running cell for one stopped already.
    run_all.return_value = {"retcode": 1, "stdout": "", "stderr": "Error: vmware-vcd-cell failed"}
    with pytest.raises(CommandExecutionError, match="status failed \\(exit 1\\).*Whether the cell runs is not known"):
        vcd_cell.is_running()
    run_all.return_value = {"retcode": 1, "stdout": "vmware-vcd-cell dead but pid file exists", "stderr": ""}
    assert vcd_cell.is_running() is False
