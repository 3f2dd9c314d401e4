"""
Fake vCD appliances: the embedded database cluster and its hazards on a fake clock, the appliance API
over real HTTP, and the stub vamicli, create-backup.sh and reboot run as real subprocesses.
"""

import base64
import subprocess

import pytest
import requests

from simulator.appliance import AUTOMATIC, MANUAL, appliance_group
from simulator.model import CellError
from tests.conftest import APPLIANCE_ROOT_PASSWORD
from tests.simulator.test_model import FakeClock

ROLES = ("primary", "standby", "cell")
TOOL_TIMEOUT = 60


def make_group(clock=None, failover=AUTOMATIC, **config):
    roles = {f"vcd{i}": role for i, role in enumerate(ROLES, 1)}
    return appliance_group(roles, clock=clock or FakeClock(), failover=failover, **config)


def events(group, kind):
    return [e for e in group.timeline.since(0) if e["event"] == kind]


def stop_cells(group):
    for cell in group.cells:
        cell.shutdown()


def roles(group):
    return {node["name"]: node["nodeRole"] for node in group.cluster()["localClusterState"]}


def test_the_cluster_holds_the_primary_and_standbys_and_reports_healthy():
    group = make_group()
    cluster = group.cluster()
    assert cluster["localClusterFailover"] == AUTOMATIC and cluster["localClusterHealth"] == "HEALTHY"
    assert roles(group) == {"vcd1": "PRIMARY", "vcd2": "STANDBY"}
    standby = cluster["localClusterState"][1]
    assert (standby["upstream"], standby["status"], standby["nodeHealth"]) == ("vcd1", "running", "HEALTHY")


def test_a_primary_down_too_long_with_automatic_failover_gets_a_standby_promoted_and_comes_back_a_second_primary():
    clock = FakeClock()
    group = make_group(clock)
    stop_cells(group)
    group.appliances[0].config.reboot_seconds = 10
    group.reboot(group.appliances[0])
    assert [e["kind"] for e in events(group, "hazard")] == ["reboot_primary_with_automatic_failover"]
    clock.advance(2.9)
    assert roles(group)["vcd2"] == "STANDBY"
    clock.advance(0.2)
    assert roles(group)["vcd2"] == "PRIMARY"
    (failover,) = events(group, "unplanned_failover")
    assert (failover["promoted"], failover["t"]) == ("vcd2", 3.0)
    clock.advance(10)
    cluster = group.cluster()
    assert roles(group) == {"vcd1": "PRIMARY", "vcd2": "PRIMARY"} and cluster["localClusterHealth"] == "CRITICAL"
    assert [e["kind"] for e in events(group, "hazard")][-1] == "two_primaries"


def test_with_failover_manual_the_primary_reboots_without_a_promotion_and_its_cell_starts_at_boot():
    clock = FakeClock()
    group = make_group(clock, failover=MANUAL)
    stop_cells(group)
    group.reboot(group.appliances[0])
    assert group.cluster()["localClusterHealth"] == "DEGRADED"
    assert not group.appliances[0].cell.running()
    clock.advance(30)
    assert roles(group) == {"vcd1": "PRIMARY", "vcd2": "STANDBY"} and not events(group, "unplanned_failover")
    assert group.appliances[0].cell.running() and group.appliances[0].boots == 1
    assert not events(group, "hazard")


def test_a_reboot_stops_a_running_cell_aborting_its_jobs_and_a_reboot_while_the_primary_is_down_is_a_hazard():
    clock = FakeClock()
    group = make_group(clock, failover=MANUAL)
    group.cells[2].add_job(seconds=None)
    group.reboot(group.appliances[0])
    group.reboot(group.appliances[2])
    assert [e["event"] for e in group.cells[2].events()][-2:] == ["power_off", "job_abort"]
    assert [e["kind"] for e in events(group, "hazard")] == ["reboot_while_primary_down"]


def test_the_primarys_update_needs_every_database_node_up_and_every_cell_stopped():
    clock = FakeClock()
    group = make_group(clock, failover=MANUAL, install_seconds=5)
    primary, standby, cell = group.appliances
    with pytest.raises(CellError, match="running"):
        group.install(primary, "10.6.0", "1")
    stop_cells(group)
    group.cells[2].service_start()
    with pytest.raises(CellError, match="runs on: vcd3"):
        group.install(primary, "10.6.0", "1")
    group.cells[2].shutdown()
    group.reboot(standby)
    with pytest.raises(CellError, match="not running: vcd2"):
        group.install(primary, "10.6.0", "1")
    clock.advance(5)
    group.cells[1].shutdown()  # it started at boot
    group.install(primary, "10.6.0", "1")
    install = events(group, "appliance_install")[0]
    assert install["cells"] == {f"vcd{i}": {"running": False, "version": "10.5.0"} for i in (1, 2, 3)}
    assert events(group, "postgres_upgrade") and group.cluster()["localClusterState"][0]["status"] == "stopped"
    clock.advance(5)
    assert group.cluster()["localClusterHealth"] == "HEALTHY"
    assert primary.cell.installed_version == "10.6.0" and not events(group, "hazard")


def test_the_failover_mode_backup_and_database_upgrade_belong_to_the_database_nodes_and_the_primary():
    group = make_group()
    primary, standby, cell = group.appliances
    with pytest.raises(CellError, match="not applicable"):
        group.set_failover(cell, "manual")
    group.set_failover(standby, "manual")
    assert group.cluster()["localClusterFailover"] == MANUAL
    assert events(group, "failover_mode")[0]["previous"] == AUTOMATIC
    with pytest.raises(CellError, match="not the primary"):
        group.backup(standby)
    assert group.backup(primary).endswith(".tgz")
    stop_cells(group)
    for appliance in group.appliances:
        appliance.cell.install("10.6.0")
    with pytest.raises(CellError, match="primary appliance"):
        group.upgrade_database("vcd2")
    assert group.upgrade_database("vcd1") == "upgraded"


def get(appliance, path, password=APPLIANCE_ROOT_PASSWORD):
    auth = base64.b64encode(f"root:{password}".encode()).decode()
    return requests.get(appliance.api.url + path, headers={"Authorization": f"Basic {auth}"}, timeout=10)


def vamicli(appliance, *args):
    return subprocess.run(
        [appliance.tools["vamicli"], *args], capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
    )


def test_the_appliance_api_answers_the_cluster_to_root_only_and_503_while_rebooting(fake_appliances):
    primary, standby, cell = fake_appliances.appliances
    assert get(cell, "/api/1.0.0/nodes", password="wrong").status_code == 401
    body = get(cell, "/api/1.0.0/nodes").json()
    assert [n["name"] for n in body["localClusterState"]] == ["vcd1", "vcd2"]
    services = {s["serviceName"]: s["status"] for s in get(primary, "/api/1.0.0/services").json()["items"]}
    assert services["vpostgres"] == "running" and services["vmware-vcd"] == "running"
    auth = base64.b64encode(f"root:{APPLIANCE_ROOT_PASSWORD}".encode()).decode()
    refused = requests.post(
        cell.api.url + "/api/1.0.0/nodes/failover/manual", headers={"Authorization": f"Basic {auth}"}, timeout=10
    )
    assert refused.status_code == 404
    accepted = requests.post(
        standby.api.url + "/api/1.0.0/nodes/failover/manual", headers={"Authorization": f"Basic {auth}"}, timeout=10
    )
    assert accepted.status_code == 202
    task = requests.get(accepted.headers["Location"], headers={"Authorization": f"Basic {auth}"}, timeout=10).json()
    assert task["status"] == "SUCCESS"
    stop_cells(fake_appliances)
    primary.config.reboot_seconds = 60
    subprocess.run([primary.tools["reboot_command"]], check=True, timeout=TOOL_TIMEOUT)
    assert get(primary, "/api/1.0.0/nodes").status_code == 503
    assert get(standby, "/api/1.0.0/nodes").json()["localClusterHealth"] == "DEGRADED"


def test_vamicli_reads_the_version_checks_the_repository_and_installs_only_what_it_holds(fake_appliances):
    primary, standby, cell = fake_appliances.appliances
    assert "Version - 10.5.0.22000000" in vamicli(cell, "version", "--appliance").stdout
    refused = vamicli(cell, "update", "--check")
    assert refused.returncode == 1 and "--repo" in refused.stderr
    assert vamicli(cell, "update", "--repo", fake_appliances.package).returncode == 0
    assert "10.6.0.24000000 Build 24000000" in vamicli(cell, "update", "--check").stdout
    running = vamicli(cell, "update", "--install", "latest", "--accepteula")
    assert running.returncode == 1 and "running" in running.stderr
    stop_cells(fake_appliances)
    assert vamicli(cell, "update", "--install", "latest", "--accepteula").returncode == 0
    assert cell.cell.installed_version == "10.6.0" and cell.build == "24000000"
    assert "No updates found" in vamicli(cell, "update", "--check").stdout
    cell.cell.reconfigure(prompts="alternate")
    assert "Version: 10.6.0 Build 24000000" in vamicli(cell, "version", "--appliance").stdout


def test_vamicli_without_accepteula_asks_for_the_eula_and_a_fault_makes_it_fail(fake_appliances):
    primary, standby, cell = fake_appliances.appliances
    stop_cells(fake_appliances)
    vamicli(cell, "update", "--repo", fake_appliances.package)
    declined = subprocess.run(
        [cell.tools["vamicli"], "update", "--install", "latest"],
        input="n\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert declined.returncode == 1 and "EULA" in declined.stdout and cell.cell.installed_version == "10.5.0"
    cell.reconfigure(vamicli_fault=True)
    failed = vamicli(cell, "update", "--install", "latest", "--accepteula")
    assert failed.returncode == 1 and "injected" in failed.stderr
    assert events(fake_appliances, "install_failed")


def test_create_backup_runs_on_the_primary_only_and_says_where_the_backup_went(fake_appliances):
    primary, standby, cell = fake_appliances.appliances
    done = subprocess.run([primary.tools["backup_command"]], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "/backups/backup-vcd1-" in done.stdout
    refused = subprocess.run([standby.tools["backup_command"]], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "not the primary" in refused.stderr


def test_a_switchover_needs_a_healthy_cluster_swaps_the_roles_and_fails_the_tasks_of_cells_not_quiesced():
    clock = FakeClock()
    group = make_group(clock, failover=MANUAL)
    primary, standby, cell = group.appliances
    standby.config.unhealthy = True
    with pytest.raises(CellError, match="healthy"):
        group.switchover(primary, "vcd2")
    standby.config.unhealthy = False
    with pytest.raises(CellError, match="not a standby"):
        group.switchover(primary, "vcd1")
    kept = primary.cell.add_job(seconds=None)
    lost = cell.cell.add_job(seconds=None)
    primary.cell.quiesce()
    group.switchover(standby, "vcd2")
    (switchover,) = events(group, "switchover")
    assert (switchover["primary"], switchover["previous"]) == ("vcd2", "vcd1")
    assert switchover["failed_tasks"] == {"vcd1": 0, "vcd2": 0, "vcd3": 1}
    assert primary.cell.jobs[kept["id"]].status == "running" and cell.cell.jobs[lost["id"]].status == "aborted"
    # The database is unavailable for a moment, then the cluster is whole again around the new primary.
    assert group.cluster()["localClusterHealth"] == "DEGRADED"
    clock.advance(group.switchover_seconds)
    cluster = group.cluster()
    assert cluster["localClusterHealth"] == "HEALTHY" and roles(group) == {"vcd1": "STANDBY", "vcd2": "PRIMARY"}
    assert cluster["localClusterState"][0]["upstream"] == "vcd2" and not events(group, "unplanned_failover")


def test_a_node_whose_failover_mode_drifted_makes_the_cluster_indeterminate_until_it_is_set_again():
    group = make_group()
    primary, standby, _ = group.appliances
    standby.reconfigure(failover_drift=MANUAL)
    cluster = group.cluster()
    assert cluster["localClusterFailover"] == "INDETERMINATE"
    assert {s["name"]: s["failover"]["mode"] for s in cluster["localClusterState"]} == {
        "vcd1": AUTOMATIC,
        "vcd2": MANUAL,
    }
    assert {s["serviceName"]: s["status"] for s in group.services(standby)}["repmgrd"] == "dead"
    # The mode set through the primary's API is set on every node again.
    group.set_failover(primary, "automatic")
    assert group.cluster()["localClusterFailover"] == AUTOMATIC and standby.config.failover_drift is None
    with pytest.raises(ValueError, match="failover_drift must be AUTOMATIC, MANUAL or null, not 'SOMETIMES'"):
        standby.reconfigure(failover_drift="SOMETIMES")
