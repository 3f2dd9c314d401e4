"""
Faults armed through the simulator's control API (simulator/faults.py), met by the stub tools run as
real subprocesses and by the APIs over real HTTP, each on the cell's timeline.
"""

import subprocess

import pytest
import requests

from simulator import CELL_MANAGEMENT_TOOL
from simulator.appliance import MANUAL, appliance_group
from simulator.model import Cell, CellConfig
from simulator.server import ApplianceServer, CellServer
from tests.conftest import APPLIANCE_ROOT_PASSWORD
from tests.simulator.test_model import FakeClock
from tests.support import tool_env

ADMIN = ("-u", "administrator", "-p", "vmware")
API = {"Accept": "application/*+json;version=38.0"}


def arm(server, **fault):
    answer = requests.post(f"{server.url}/sim/faults", json=fault, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()


def status(cmt, server):
    return cmt(server, *ADMIN, "cell", "--status")


def of(server, kind):
    return [e for e in server.cell.events() if e["event"] == kind]


def test_a_tool_fails_once_at_its_nth_run_and_the_firing_is_on_the_timeline(fake_cell, cmt):
    server = fake_cell()
    assert arm(server, tool="cell-management-tool", mode="fail-once", at_call=2)["at_call"] == 2
    results = [status(cmt, server) for _ in range(3)]
    assert [r.returncode for r in results] == [0, 1, 0]
    assert "cell-management-tool failed (a fault armed on the simulator)" in results[1].stderr
    (fired,) = of(server, "fault")
    assert (fired["tool"], fired["mode"], fired["run"]) == ("cell-management-tool", "fail-once", 2)
    assert of(server, "fault_armed")[0]["tool"] == "cell-management-tool"


def test_a_tool_that_fails_always_fails_until_the_faults_are_cleared(fake_cell, cmt):
    server = fake_cell()
    arm(server, tool="cell-management-tool", mode="fail-always")
    assert [status(cmt, server).returncode for _ in range(2)] == [1, 1]
    assert requests.delete(f"{server.url}/sim/faults", timeout=10).status_code == 200
    assert status(cmt, server).returncode == 0
    assert of(server, "faults_cleared")


def test_a_hanging_tool_runs_past_any_time_limit(fake_cell):
    server = fake_cell()
    arm(server, tool="cell-management-tool", mode="hang")
    process = subprocess.Popen([CELL_MANAGEMENT_TOOL, *ADMIN, "cell", "--status"], env=tool_env(server))
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=2)
    finally:
        process.kill()
        process.wait(timeout=10)
    assert of(server, "fault")[0]["mode"] == "hang"


def test_another_tool_is_not_touched_by_a_fault_on_one(fake_cell, cmt, vcd_cell_script):
    server = fake_cell()
    arm(server, tool="vmware-vcd-cell", mode="fail-always")
    assert status(cmt, server).returncode == 0
    assert vcd_cell_script(server, "status").returncode == 1


def test_the_rest_api_unavailable_for_a_while_answers_503_then_serves(fake_cell):
    server = fake_cell()
    arm(server, api="rest", mode="unavailable", seconds=600)
    down = requests.get(f"{server.url}/cloud/server_status", timeout=10)
    assert down.status_code == 503 and "a fault armed on the simulator" in down.text
    requests.delete(f"{server.url}/sim/faults", timeout=10)
    assert requests.get(f"{server.url}/cloud/server_status", timeout=10).status_code == 200


def test_a_silent_rest_api_answers_only_once_its_outage_ended(fake_cell):
    server = fake_cell()
    # Read before arming: the outage's second runs from when the cell armed it.
    armed = server.cell.now()
    arm(server, api="rest", mode="silent", seconds=1)
    answer = requests.get(f"{server.url}/api/versions", headers=API, timeout=30)
    assert answer.status_code == 200
    assert server.cell.now() - armed >= 1
    arm(server, api="rest", mode="silent", seconds=3)
    with pytest.raises(requests.Timeout):
        requests.get(f"{server.url}/api/versions", headers=API, timeout=1)


def test_a_crash_aborts_the_running_jobs_as_lost_by_the_crash():
    cell = Cell(CellConfig(), clock=FakeClock())
    cell.add_job(seconds=None)
    cell.crash()
    (aborted,) = [e for e in cell.events() if e["event"] == "job_abort"]
    assert aborted["by"] == "crash"


def test_a_shutdown_with_jobs_is_recorded_as_ended_by_the_shutdown():
    cell = Cell(CellConfig(), clock=FakeClock())
    cell.add_job(seconds=None)
    cell.shutdown()
    assert [e["by"] for e in cell.events() if e["event"] == "job_abort"] == ["shutdown"]


def test_a_slow_reboot_takes_its_extra_seconds():
    clock = FakeClock()
    cell = Cell(CellConfig(reboot_seconds=1), clock=clock)
    cell.faults.arm({"reboot": "slow", "seconds": 60})
    cell.reboot_host()
    clock.advance(30)
    assert not cell.host_up()
    clock.advance(31)
    assert cell.host_up()


def test_a_host_that_never_comes_back_boots_when_the_faults_are_cleared():
    clock = FakeClock()
    cell = Cell(CellConfig(reboot_seconds=1), clock=clock)
    cell.faults.arm({"reboot": "never"})
    cell.reboot_host()
    clock.advance(86400)
    assert not cell.host_up()
    cell.clear_faults()
    assert cell.host_up() and cell.snapshot()["service"] == "running"


def test_an_appliance_that_never_comes_back_boots_when_cleared_and_its_api_can_be_out():
    clock = FakeClock()
    group = appliance_group({"vcd1": "primary", "vcd2": "cell"}, clock=clock, failover=MANUAL)
    cell_type = group.appliance("vcd2")
    cell_type.cell.faults.arm({"reboot": "never"})
    cell_type.cell.service_stop()
    group.reboot(cell_type)
    clock.advance(3600)
    assert not cell_type.host_up
    cell_type.cell.clear_faults()
    assert cell_type.host_up

    primary = group.appliance("vcd1")
    primary.config.root_password = APPLIANCE_ROOT_PASSWORD
    with CellServer(primary.cell), ApplianceServer(primary) as api:
        primary.cell.faults.arm({"api": "appliance", "mode": "unavailable", "seconds": 600})
        answer = requests.get(f"{api.url}/api/1.0.0/nodes", auth=("root", APPLIANCE_ROOT_PASSWORD), timeout=10)
        assert answer.status_code == 503


@pytest.mark.parametrize(
    "fault, named",
    [
        ({"tool": "rm", "mode": "hang"}, "tool must be one of"),
        ({"tool": "upgrade", "mode": "sometimes"}, "mode must be one of"),
        ({"tool": "upgrade", "mode": "hang", "at_call": 0}, "at_call must be a whole number"),
        ({"api": "rest", "mode": "silent"}, "seconds must be a positive number"),
        ({"reboot": "later"}, "reboot must be one of"),
        ({"tool": "upgrade", "mode": "hang", "when": 1}, "unknown fault field(s): when"),
        ({}, "a fault names a tool, an api or the reboot"),
    ],
)
def test_a_bad_fault_is_refused_naming_what_is_wrong(fake_cell, fault, named):
    server = fake_cell()
    answer = requests.post(f"{server.url}/sim/faults", json=fault, timeout=10)
    assert answer.status_code == 400 and named in answer.json()["error"]
    assert not of(server, "fault_armed")


def test_any_tool_fails_at_the_next_run_of_whichever_tool_and_requests_are_counted(fake_cell, cmt, vcd_cell_script):
    server = fake_cell()
    arm(server, tool="any", mode="fail-once", at_call=2)
    assert status(cmt, server).returncode == 0
    assert vcd_cell_script(server, "status").returncode == 1
    assert status(cmt, server).returncode == 0
    (fired,) = of(server, "fault")
    assert fired["tool"] == "vmware-vcd-cell"
    requests.get(f"{server.url}/cloud/server_status", timeout=10)
    described = requests.get(f"{server.url}/sim/faults", timeout=10).json()
    assert described["requests"]["rest"] >= 1 and described["tools"]["any"]["fired"] == 1
