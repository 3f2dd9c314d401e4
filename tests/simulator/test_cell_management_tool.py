"""
The stub cell-management-tool as a real subprocess against a live fake cell on loopback.

Without a terminal unless a test gives it one: the fixtures start the tool in a new session.
"""

import os
import re
import subprocess
import time

import pytest

from simulator import CELL_MANAGEMENT_TOOL
from tests.support import run_on_terminal, tool_env, wait_for

ADMIN = ("administrator", "vmware")


def pid_of(server):
    return str(server.cell.snapshot()["pid"])


def cli_events(server):
    return [e for e in server.cell.events() if e["event"] == "cli"]


@pytest.mark.parametrize(
    "args",
    [
        ["cell", "--status"],
        ["cell", "-t"],
        ["cell", "-status"],
    ],
)
def test_status_in_every_option_form_with_password_auth(fake_cell, cmt, args):
    server = fake_cell()
    server.cell.add_job(seconds=None)
    result = cmt(server, "-u", ADMIN[0], "-p", ADMIN[1], *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Job count = 1\nIs Active = true\nIn Maintenance Mode = false\n"


@pytest.mark.parametrize(
    "version, expected",
    [
        ("5.1", "Job count = 2\nIs Active = true\n"),
        ("8.10", "Job count = 2\nIs Active = true\nIn Maintenance Mode = false\n"),
        ("10.5", "Job count = 2\nIs Active = true\nIn Maintenance Mode = false\n"),
    ],
)
def test_status_layout_per_version(fake_cell, cmt, version, expected):
    server = fake_cell(version=version)
    server.cell.add_job(seconds=None, name="a")
    server.cell.add_job(seconds=None, name="b")
    result = cmt(server, "cell", "-i", pid_of(server), "--status")
    assert (result.returncode, result.stdout) == (0, expected)


def test_one_line_layout_with_crlf_and_jvm_noise(fake_cell, cmt):
    server = fake_cell(version="8.10", layout="oneline", crlf=True, noise=True)
    result = cmt(server, "cell", "-i", pid_of(server), "-t", text=False)
    lines = result.stdout.decode().split("\r\n")
    assert result.returncode == 0
    assert "Job count = 0 Is Active = true In Maintenance Mode = false" in lines
    assert lines[0].startswith("Picked up JAVA_TOOL_OPTIONS")
    assert any("CellManagementTool" in line for line in lines)


def test_status_verbose_lists_the_running_tasks_on_10_5_only(fake_cell, cmt):
    server = fake_cell(version="10.5")
    job = server.cell.add_job(seconds=None, name="vappDeploy", owner="alice")
    result = cmt(server, "cell", "-i", pid_of(server), "--status-verbose")
    assert result.returncode == 0
    assert "Job count = 1" in result.stdout
    assert re.search(rf"{job['id']} .*owner=alice", result.stdout)
    old = fake_cell(version="5.1")
    refused = cmt(old, "cell", "-i", pid_of(old), "--status-verbose")
    assert refused.returncode == 2
    assert "Unrecognized option: --status-verbose" in refused.stderr


@pytest.mark.parametrize("form", [["--quiesce", "true"], ["-q", "true"], ["-quiesce", "true"], ["--quiesce=TRUE"]])
def test_quiesce_in_every_option_form(fake_cell, cmt, form):
    server = fake_cell(version="8.10")
    result = cmt(server, "cell", "-i", pid_of(server), *form)
    assert result.returncode == 0, result.stderr
    assert server.cell.snapshot()["quiesced"] is True
    unquiesce = cmt(server, "cell", "-i", pid_of(server), form[0].split("=")[0], "false")
    assert unquiesce.returncode == 0
    assert server.cell.snapshot()["quiesced"] is False


def test_quiesce_returns_at_once_on_older_versions(fake_cell, cmt):
    server = fake_cell(version="8.10")
    server.cell.add_job(seconds=None)
    result = cmt(server, "cell", "-i", pid_of(server), "--quiesce", "true")
    assert result.returncode == 0
    assert server.cell.snapshot()["job_count"] == 1


def test_quiesce_blocks_until_the_last_job_ended_on_newer_versions(fake_cell):
    server = fake_cell(version="10.5")
    job = server.cell.add_job(seconds=None)
    process = subprocess.Popen(
        [CELL_MANAGEMENT_TOOL, "cell", "-i", pid_of(server), "--quiesce", "true"],
        env=tool_env(server),
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: server.cell.snapshot()["quiesced"], "the tool to quiesce the cell")
        # Quiesced with the job still running: the tool must still be waiting for it.
        assert process.poll() is None
        server.cell.end_job(job["id"])
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait(timeout=10)
    events = server.cell.events()
    job_end = next(e for e in events if e["event"] == "job_end" and e["job"] == job["id"])
    quiesce = next(e for e in events if e["event"] == "quiesce")
    assert quiesce["t"] < job_end["t"]
    assert server.cell.snapshot()["job_count"] == 0


def test_shutdown_and_maintenance_in_short_and_long_forms(fake_cell, cmt):
    server = fake_cell(version="10.5")
    assert cmt(server, "cell", "-i", pid_of(server), "-m", "true").returncode == 0
    assert server.cell.status()["maintenance"] is True
    assert cmt(server, "cell", "-i", pid_of(server), "--maintenance", "false").returncode == 0
    assert server.cell.status()["maintenance"] is False
    assert cmt(server, "cell", "-i", pid_of(server), "-s").returncode == 0
    assert server.cell.snapshot()["service"] == "stopped"
    other = fake_cell()
    assert cmt(other, "-u", ADMIN[0], "cell", "-shutdown", "-p", ADMIN[1]).returncode == 0
    assert other.cell.snapshot()["service"] == "stopped"


def test_maintenance_option_does_not_exist_on_5_1(fake_cell, cmt):
    server = fake_cell(version="5.1")
    result = cmt(server, "cell", "-i", pid_of(server), "--maintenance", "true")
    assert result.returncode == 2
    assert "Unrecognized option: --maintenance" in result.stderr


def test_every_invocation_is_in_the_timeline_with_its_arguments(fake_cell, cmt):
    server = fake_cell()
    cmt(server, "-u", "administrator", "-p", "vmware", "cell", "--status")
    cmt(server, "cell", "--bogus")
    assert [e["argv"] for e in cli_events(server)] == [
        ["-u", "administrator", "-p", "vmware", "cell", "--status"],
        ["cell", "--bogus"],
    ]
    assert {e["tool"] for e in cli_events(server)} == {"cell-management-tool"}


def test_wrong_credentials_fail_with_a_message_and_change_nothing(fake_cell, cmt):
    server = fake_cell()
    result = cmt(server, "-u", "administrator", "-p", "wrong", "cell", "--quiesce", "true")
    assert result.returncode == 1
    assert "Authentication failed" in result.stderr
    assert "wrong" not in result.stderr
    assert server.cell.snapshot()["quiesced"] is False


def test_wrong_pid_is_refused(fake_cell, cmt):
    server = fake_cell()
    wrong = str(int(pid_of(server)) + 1)
    result = cmt(server, "cell", "-i", wrong, "--shutdown")
    assert result.returncode == 1
    assert f"No running cell has the process id {wrong}" in result.stderr
    assert server.cell.snapshot()["service"] == "running"


def test_a_stopped_cell_is_reported_as_an_error(fake_cell, cmt):
    server = fake_cell()
    server.cell.shutdown()
    result = cmt(server, "-u", ADMIN[0], "-p", ADMIN[1], "cell", "--status")
    assert result.returncode == 1
    assert "not running" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["cell"], "needs an option"),
        (["--status"], "Unrecognized option or command: --status"),
        (["cell", "--quiesce", "maybe"], "takes true or false"),
        (["cell", "--quiesce"], "takes true or false"),
        (["cell", "-t", "-s"], "only one cell option"),
        (["-p", "x", "cell", "-t"], "-p needs -u"),
        (["cell", "-i"], "-i needs a value"),
    ],
)
def test_bad_arguments_exit_2_with_usage(fake_cell, cmt, args, message):
    server = fake_cell()
    result = cmt(server, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "usage:" in result.stderr


def test_no_credentials_at_all_is_an_error(fake_cell, cmt):
    result = cmt(fake_cell(), "cell", "--status")
    assert result.returncode == 1
    assert "Credentials are required" in result.stderr


def test_without_a_terminal_the_password_prompt_fails_clearly(fake_cell, cmt):
    server = fake_cell()
    result = cmt(server, "-u", ADMIN[0], "cell", "--status", input=ADMIN[1] + "\n")
    assert result.returncode == 1
    assert "no terminal is available" in result.stderr
    assert result.stdout == ""


def test_a_start_up_delay_emulates_the_jvm(fake_cell, cmt):
    server = fake_cell(cli_delay=0.5)
    started = time.monotonic()
    assert cmt(server, "cell", "-i", pid_of(server), "-t").returncode == 0
    assert time.monotonic() - started >= 0.5


def test_the_tool_needs_to_know_its_cell():
    env = {k: v for k, v in os.environ.items() if k != "VCD_SIM_URL"}
    result = subprocess.run([CELL_MANAGEMENT_TOOL, "cell", "-t"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "VCD_SIM_URL is not set" in result.stderr


def test_password_prompt_answered_on_a_pseudo_terminal_without_echo(fake_cell):
    server = fake_cell(admin_password="pa ss'$\\wörd")
    code, screen = run_on_terminal(
        [CELL_MANAGEMENT_TOOL, "-u", "administrator", "cell", "--quiesce", "true"],
        tool_env(server),
        "pa ss'$\\wörd",
    )
    assert code == 0, screen
    assert screen.startswith("Password:")
    assert "wörd" not in screen
    assert server.cell.snapshot()["quiesced"] is True


def test_a_wrong_password_at_the_prompt_is_refused(fake_cell):
    server = fake_cell()
    code, screen = run_on_terminal(
        [CELL_MANAGEMENT_TOOL, "-u", "administrator", "cell", "--shutdown"], tool_env(server), "nope"
    )
    assert code == 1
    assert "Authentication failed" in screen
    assert server.cell.snapshot()["service"] == "running"


@pytest.mark.parametrize(
    "fault, code, output",
    [
        ("garbage", 0, "Job cnt: lots\nActive? yes\n"),
        ("truncated", 0, "Job count = 2\nIs Act"),
        ("exit", 1, ""),
    ],
)
def test_injected_output_faults_apply_to_the_chosen_option_only(fake_cell, cmt, fault, code, output):
    server = fake_cell(tool_fault=fault, tool_fault_option="status")
    result = cmt(server, "cell", "-i", pid_of(server), "--status")
    assert (result.returncode, result.stdout) == (code, output)
    if fault == "exit":
        assert "internal error" in result.stderr
    assert cmt(server, "cell", "-i", pid_of(server), "--quiesce", "true").returncode == 0
    assert server.cell.snapshot()["quiesced"] is True


def test_an_injected_hang_lasts_until_the_tool_is_killed(fake_cell):
    server = fake_cell(tool_fault="hang")
    process = subprocess.Popen([CELL_MANAGEMENT_TOOL, "cell", "-i", pid_of(server), "-t"], env=tool_env(server))
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=1)
    process.kill()
    process.wait(timeout=10)
    assert len(cli_events(server)) == 1


def test_a_blocking_quiesce_gives_up_when_the_cell_is_unquiesced(fake_cell):
    server = fake_cell(version="10.5")
    server.cell.add_job(seconds=None)
    process = subprocess.Popen(
        [CELL_MANAGEMENT_TOOL, "cell", "-i", pid_of(server), "--quiesce", "true"],
        env=tool_env(server),
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: server.cell.snapshot()["quiesced"], "the tool to quiesce the cell")
    server.cell.quiesce(False)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "quiesce was cancelled" in err


def test_failed_logins_lock_the_account_after_the_limit(fake_cell, cmt):
    server = fake_cell(lockout_after=1)
    assert cmt(server, "-u", ADMIN[0], "-p", "wrong", "cell", "-t").returncode == 1
    locked = cmt(server, "-u", ADMIN[0], "-p", ADMIN[1], "cell", "-t")
    assert locked.returncode == 1
    assert "is locked" in locked.stderr


def test_a_run_is_placed_on_the_timeline_at_its_process_start(fake_cell, cmt):
    server = fake_cell()
    before = server.cell.now()
    assert cmt(server, "cell", "-i", pid_of(server), "--status").returncode == 0
    (run,) = cli_events(server)
    # Started by the kernel's clock (10 ms ticks), before the stub's imports let it call the cell.
    assert before - 0.02 <= run["started"] <= run["t"], run
