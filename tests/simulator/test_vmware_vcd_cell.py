"""The stub vmware-vcd-cell script as a real subprocess against a live fake cell."""

import pytest


def service_state(server):
    return server.cell.snapshot()["service"]


def test_status_follows_the_lsb_convention(fake_cell, vcd_cell_script):
    server = fake_cell()
    running = vcd_cell_script(server, "status")
    assert (running.returncode, running.stdout) == (0, "vmware-vcd-cell is running\n")
    server.cell.shutdown()
    stopped = vcd_cell_script(server, "status")
    assert (stopped.returncode, stopped.stdout) == (3, "vmware-vcd-cell is not running\n")


def test_stop_then_start_restarts_the_cell_with_a_new_pid(fake_cell, vcd_cell_script):
    server = fake_cell()
    old_pid = vcd_cell_script(server, "pid").stdout.strip()
    assert vcd_cell_script(server, "stop").returncode == 0
    assert service_state(server) == "stopped"
    assert vcd_cell_script(server, "start").returncode == 0
    assert service_state(server) == "running"
    new_pid = vcd_cell_script(server, "pid", "cell").stdout.strip()
    assert new_pid.isdigit() and new_pid != old_pid
    assert [e["event"] for e in server.cell.events() if e["event"] in ("stop", "start")] == ["stop", "start"]


def test_stop_aborts_jobs_like_a_shutdown(fake_cell, vcd_cell_script):
    server = fake_cell()
    server.cell.add_job(seconds=None)
    vcd_cell_script(server, "stop")
    assert [e["event"] for e in server.cell.events()][-2:] == ["stop", "job_abort"]


def test_start_is_idempotent(fake_cell, vcd_cell_script):
    server = fake_cell()
    result = vcd_cell_script(server, "start")
    assert (result.returncode, result.stdout) == (0, "Starting vmware-vcd-cell: already running\n")
    assert "start" not in [e["event"] for e in server.cell.events()]


def test_maintenance_message_needs_a_stopped_cell(fake_cell, vcd_cell_script):
    server = fake_cell()
    refused = vcd_cell_script(server, "maintenance")
    assert refused.returncode == 1
    assert "stop it before" in refused.stderr
    vcd_cell_script(server, "stop")
    assert vcd_cell_script(server, "maintenance").returncode == 0
    status = vcd_cell_script(server, "status")
    assert (status.returncode, status.stdout) == (3, "vmware-vcd-cell is not running (maintenance message on)\n")
    blocked = vcd_cell_script(server, "start")
    assert blocked.returncode == 1
    assert "vmware-vcd-cell stop" in blocked.stderr
    assert vcd_cell_script(server, "stop").returncode == 0
    assert vcd_cell_script(server, "start").returncode == 0
    assert service_state(server) == "running"


def test_pid_of_a_stopped_cell_is_an_error(fake_cell, vcd_cell_script):
    server = fake_cell()
    server.cell.shutdown()
    result = vcd_cell_script(server, "pid")
    assert result.returncode == 1
    assert "not running" in result.stderr


def test_the_pid_it_prints_is_the_one_cell_management_tool_accepts(fake_cell, vcd_cell_script, cmt):
    server = fake_cell()
    pid = vcd_cell_script(server, "pid").stdout.strip()
    assert cmt(server, "cell", "-i", pid, "--shutdown").returncode == 0
    assert service_state(server) == "stopped"


@pytest.mark.parametrize("args", [[], ["reboot"], ["start", "now"]])
def test_bad_usage_exits_2(fake_cell, vcd_cell_script, args):
    result = vcd_cell_script(fake_cell(), *args)
    assert result.returncode == 2
    assert "Usage: vmware-vcd-cell" in result.stderr


def test_a_shell_script_does_not_wait_for_a_jvm_to_start(fake_cell, vcd_cell_script):
    # cli_delay is a Java tool's start; the service script is a shell script and answers at once.
    server = fake_cell(cli_delay=600)
    assert vcd_cell_script(server, "status").returncode == 0
