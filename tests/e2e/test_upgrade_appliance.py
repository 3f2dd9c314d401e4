"""
`salt-run state.orchestrate orch.vcd_upgrade` over three real minions, each a vCD appliance of one fake
server group (a primary, a standby and a cell-type appliance sharing the embedded database cluster)
with jobs running, proven on the cells', the cluster's and the database's timelines.
"""

import json
import pathlib
import time

import pytest

from simulator.pillar import write_update_package
from tests.conftest import APPLIANCE_ROOT_PASSWORD
from tests.e2e.conftest import BackgroundRun, absolute, events_of, run_orchestration
from tests.e2e.test_secrets import files_holding
from tests.support import CommandLineSampler, assert_every_shutdown_follows_a_drained_reading, change_host, wait_for

ROLES = {"vcd1": "primary", "vcd2": "standby", "vcd3": "cell"}
CELLS = tuple(ROLES)
OLD, NEW = "10.5.0", "10.6.0"
STEPS = ["preflight", "failover", "quiesce", "drain", "install", "database", "reboot", "verify"]


@pytest.fixture(scope="module")
def appliances(appliance_minions, runners_synced, tmp_path_factory):
    """Three appliances' servers and minions, the update package of NEW in their ``update_repo``."""
    package = write_update_package(tmp_path_factory.mktemp("update-package"), NEW, "24000000")
    with appliance_minions(ROLES, update_repo=package) as served:
        yield served


@pytest.fixture
def appliance_group_of(appliances):
    """
    ``appliance_group_of(jobs=[...], appliance={name: {...}}, **cell_config)``: a fresh appliance group
    on OLD behind the servers, failover AUTOMATIC, each cell with those jobs running.
    """

    def make(jobs=(1.0, 1.5), **changes):
        return appliances.fresh(jobs=jobs, installed_version=OLD, **changes)

    return make


def orchestration_return(out):
    """(result, the runner's return) from the JSON output of a ``salt-run state.orchestrate``."""
    (master_states,) = json.loads(out)["data"].values()
    (state,) = master_states.values()
    return state["result"], state["changes"]["return"]


def plan(**upgrade):
    return {"vcd_upgrade": dict({"cells": list(CELLS), "version": NEW, "backup_completed": True}, **upgrade)}


@pytest.fixture
def orchestrate(salt_run_cli):
    def run(**upgrade):
        return run_orchestration(salt_run_cli, "orch.vcd_upgrade", plan(**upgrade))

    return run


def cluster_events(group, *kinds):
    return [e for e in group.timeline.since(0) if e["event"] in kinds]


def on_axis(group, event):
    """A cluster event's time on the cells' shared axis."""
    return absolute(group.cells[0], event)


def assert_nothing_lost(group):
    for cell in group.cells:
        assert not events_of(cell, "job_abort"), cell.config.cell_name
        assert_every_shutdown_follows_a_drained_reading(cell)
    assert not cluster_events(group, "unplanned_failover", "hazard"), cluster_events(
        group, "unplanned_failover", "hazard"
    )


def assert_upgraded(group):
    for cell in group.cells:
        snapshot = cell.snapshot()
        assert (snapshot["service"], snapshot["quiesced"], cell.installed_version) == ("running", False, NEW)
    cluster = group.cluster()
    assert (cluster["localClusterHealth"], cluster["localClusterFailover"]) == ("HEALTHY", "AUTOMATIC")
    assert [n["name"] for n in cluster["localClusterState"] if n["nodeRole"] == "PRIMARY"] == ["vcd1"]


@pytest.mark.every_salt
def test_a_full_appliance_upgrade_follows_vmwares_order_and_loses_nothing(
    appliance_group_of, appliances, orchestrate, event_listener, salt_master
):
    group = appliance_group_of(jobs=(1.0, 2.0))
    started = time.time()
    with CommandLineSampler(APPLIANCE_ROOT_PASSWORD) as sampler:
        success, report = orchestrate(upgrade_id="appliance-full")
    assert success is True, report
    assert report["steps_done"] == STEPS
    assert_nothing_lost(group)
    assert_upgraded(group)
    cells = group.cells
    first_shutdown = min(absolute(c, events_of(c, "shutdown")[0]) for c in cells)
    # Failover MANUAL before the first shutdown, AUTOMATIC again after the last boot.
    modes = cluster_events(group, "failover_mode")
    assert [m["mode"] for m in modes] == ["MANUAL", "AUTOMATIC"]
    boots = cluster_events(group, "boot")
    assert on_axis(group, modes[0]) < first_shutdown and on_axis(group, modes[1]) > on_axis(group, boots[-1])
    # The primary installed first, every other install after it, each with every cell stopped.
    installs = cluster_events(group, "appliance_install")
    assert [i["node"] for i in installs][0] == "vcd1" and sorted(i["node"] for i in installs) == list(CELLS)
    assert all(i["failover"] == "MANUAL" for i in installs)
    assert installs[0]["cells"] == {name: {"running": False, "version": OLD} for name in CELLS}
    # The database upgraded once, on the primary, every cell stopped and on the new version.
    (upgrade,) = cluster_events(group, "db_upgrade", "db_upgrade_failed")
    assert upgrade["by"] == "vcd1" and upgrade["cells"] == {name: {"running": False, "version": NEW} for name in CELLS}
    assert on_axis(group, upgrade) > on_axis(group, installs[-1])
    # Rebooted after the database upgrade: the primary first; the others once it was back.
    reboots = cluster_events(group, "reboot")
    assert [r["node"] for r in reboots][0] == "vcd1" and sorted(r["node"] for r in reboots) == list(CELLS)
    assert on_axis(group, reboots[0]) > on_axis(group, upgrade)
    primary_boot = next(b for b in boots if b["node"] == "vcd1")
    assert all(on_axis(group, r) > on_axis(group, primary_boot) for r in reboots[1:])
    assert not any(events_of(c, "start_refused") for c in cells)

    def finished_steps():
        found = event_listener.get_events([(salt_master.id, "vcd/upgrade/*/finish")], after_time=started)
        # The precheck's checks, then each step, then the run's own end.
        return found if len(found) == len(STEPS) + 2 else None

    wait_for(finished_steps, "a finish event per step")
    waiting = event_listener.get_events([(salt_master.id, "vcd/upgrade/reboot/waiting")], after_time=started)
    assert sorted(e.data["cells"] for e in waiting) == [["vcd1"], ["vcd2", "vcd3"]]
    # The appliances' root password, used all along (the cluster read, the failover mode set), leaked nowhere.
    assert not cluster_events(group, "appliance_auth_failure")
    assert sampler.samples > 100 and sampler.leaks == []
    assert APPLIANCE_ROOT_PASSWORD not in json.dumps(report)
    for daemon in (salt_master, *appliances.minions.values()):
        assert APPLIANCE_ROOT_PASSWORD.encode() not in pathlib.Path(daemon.config["log_file"]).read_bytes(), daemon.id
    assert files_holding(pathlib.Path(salt_master.config["cachedir"]) / "jobs", APPLIANCE_ROOT_PASSWORD) == []
    events = event_listener.get_events([(salt_master.id, "*")], after_time=started)
    assert not [e.tag for e in events if APPLIANCE_ROOT_PASSWORD in repr(e.data)]


def test_a_degraded_cluster_or_nodes_other_than_the_plan_are_refused_touching_nothing(appliance_group_of, orchestrate):
    group = appliance_group_of()
    standby = group.appliances[1]
    standby.config.reboot_seconds = 3600  # the standby is down: its host does not come back during the test
    group.reboot(standby)
    success, report = orchestrate(upgrade_id="appliance-degraded")
    assert success is False
    # Refused by the checks the upgrade begins with (the precheck's cluster check), before anything is touched.
    assert "Stopped at vcd1, step precheck: cluster: the cluster is DEGRADED, not HEALTHY" in report["comment"], report
    assert "database node(s) not running: vcd2 (unreachable, UNHEALTHY)" in report["comment"]
    assert "Nothing was touched" in report["comment"]
    assert "HTTP 503" in report["cells"]["vcd2"]["comment"]
    assert not cluster_events(group, "failover_mode") and not any(events_of(c, "quiesce") for c in group.cells)

    # The standby's node is named otherwise in the cluster than its minion's appliance_node says.
    group = appliance_group_of(appliance={"vcd2": {"node_name": "vcd2.example.com"}})
    success, report = orchestrate(upgrade_id="appliance-plan")
    assert success is False
    assert (
        "the database cluster's nodes (vcd1, vcd2.example.com) and the planned primary and standby appliances (vcd1)"
        in report["comment"]
    ), report
    assert not cluster_events(group, "failover_mode") and not any(events_of(c, "quiesce") for c in group.cells)


def test_backup_appliance_backs_the_primary_up_after_the_drain_before_any_install(appliance_group_of, orchestrate):
    group = appliance_group_of(jobs=(0.5,))
    success, report = orchestrate(upgrade_id="appliance-backup", backup="appliance", backup_completed=False)
    assert success is True, report
    assert report["steps_done"] == STEPS[:4] + ["backup"] + STEPS[4:]
    (backup,) = cluster_events(group, "backup")
    assert backup["node"] == "vcd1" and report["backup"] == backup["path"]
    assert backup["cells"] == {name: {"running": False, "version": OLD} for name in CELLS}
    assert on_axis(group, backup) < on_axis(group, cluster_events(group, "appliance_install")[0])
    assert_nothing_lost(group)


def test_vamicli_failing_on_the_primary_stops_before_the_database_and_a_rerun_resumes(appliance_group_of, orchestrate):
    group = appliance_group_of(jobs=(0.5,), appliance={"vcd1": {"vamicli_fault": True}})
    success, report = orchestrate(upgrade_id="appliance-vamicli")
    assert success is False
    assert "Stopped at vcd1, step install" in report["comment"] and "injected fault" in report["comment"]
    assert "Past the point of no return" in report["comment"] and "resumes at install" in report["comment"]
    assert "failover mode stays MANUAL" in report["comment"]
    assert (
        report["cells"]["vcd1"]["state"]
        == f"PRIMARY, vCD {OLD}.22000000 installed, service stopped, node running, HEALTHY"
    )
    assert report["cells"]["vcd3"]["state"].startswith(f"CELL, vCD {OLD}")
    # The primary goes first: nothing else was installed, the database not upgraded.
    assert not cluster_events(group, "appliance_install", "db_upgrade")
    assert group.cluster()["localClusterFailover"] == "MANUAL"

    group.appliances[0].reconfigure(vamicli_fault=False)
    success, report = orchestrate(upgrade_id="appliance-vamicli")
    assert success is True, report
    assert "resumed after preflight, failover, quiesce, drain" in report["comment"]
    assert [len(events_of(c, "shutdown")) for c in group.cells] == [1, 1, 1]
    assert_nothing_lost(group)
    assert_upgraded(group)


def test_the_primarys_minion_restarted_during_its_reboot_and_the_run_finishes(
    appliance_group_of, appliances, salt_run_cli, orchestrate
):
    group = appliance_group_of(jobs=(0.5,), appliance={"vcd1": {"reboot_seconds": 6}})
    command = salt_run_cli.cmdline("state.orchestrate", "orch.vcd_upgrade", pillar=plan(upgrade_id="appliance-minion"))
    run = BackgroundRun(command)
    try:
        wait_for(lambda: cluster_events(group, "reboot"), "the primary's reboot", deadline=300)
        # A real reboot takes the minion down with the host; it starts again at boot.
        appliances.minions["vcd1"].terminate()
        appliances.minions["vcd1"].start()
        out, _ = run.process.communicate(timeout=600)
    finally:
        if run.process.poll() is None:
            run.abandon()
    success, report = orchestration_return(out)
    if not success:  # the run may lose the primary's minion for longer than it waits: its re-run resumes
        assert "step reboot" in report["comment"], report
        success, report = orchestrate(upgrade_id="appliance-minion")
    assert success is True, report
    assert_nothing_lost(group)
    assert_upgraded(group)
    assert [r["node"] for r in cluster_events(group, "reboot")].count("vcd1") == 1
    # Run again once done, the upgrade finds nothing to do and touches nothing.
    quiesces = [len(events_of(c, "quiesce")) for c in group.cells]
    success, report = orchestrate(upgrade_id="appliance-minion")
    assert success is True and "already serves vCD 10.6.0: nothing to do" in report["comment"], report
    assert [len(events_of(c, "quiesce")) for c in group.cells] == quiesces


def test_a_failed_drain_restores_service_and_failover_automatic(appliance_group_of, orchestrate):
    group = appliance_group_of(jobs=(0.5,))
    stuck = group.cells[1].add_job(seconds=None, name="vmMigrate", owner="bob")
    drain = {"timeout": 2, "interval": 1, "on_timeout": "fail"}
    success, report = orchestrate(upgrade_id="appliance-stuck", cell_pillar={"vcd_cell": {"drain": drain}})
    assert success is False
    assert "Stopped at vcd2, step drain" in report["comment"] and stuck["id"] in report["comment"]
    assert "put back into service, its software unchanged, and the failover mode restored" in report["comment"]
    assert [m["mode"] for m in cluster_events(group, "failover_mode")] == ["MANUAL", "AUTOMATIC"]
    for cell in group.cells:
        snapshot = cell.snapshot()
        assert (snapshot["service"], snapshot["quiesced"]) == ("running", False), cell.config.cell_name
    assert not cluster_events(group, "appliance_install", "db_upgrade", "reboot")
    assert group.cells[1].snapshot()["job_count"] == 1
    assert not events_of(group.cells[1], "job_abort")


def test_a_precheck_reads_the_cluster_and_the_update_package_touching_nothing(
    appliances, appliance_group_of, salt_run_cli
):
    group = appliance_group_of(jobs=(30.0,))
    ret = salt_run_cli.run("vcd_upgrade.precheck", pillar=plan(backup="appliance", backup_completed=False))
    report = ret.data
    assert ret.returncode == 0 and report["ready"] is True, report
    results = {(r["check"], r["cell"]): (r["result"], r["detail"]) for r in report["checks"]}
    assert results[("cluster", "vcd3")] == ("pass", "HEALTHY, primary vcd1; this appliance is CELL (vcd3)")
    assert results[("failover_mode", None)] == ("pass", "AUTOMATIC on every node: the upgrade sets it MANUAL and back")
    assert (
        results[("package", "vcd2")][0] == "pass"
        and "the update package of 10.6.0.24000000" in results[("package", "vcd2")][1]
    )
    assert results[("backup", None)][0] == "pass"
    # The database partition: 256 MiB of (sparse) database, against this host's free space.
    assert all(results[("disk", cell)][0] == "pass" for cell in CELLS)
    assert results[("disk", "vcd1")][1].endswith("256.0 MiB needed (the database's size: a major upgrade copies it)")

    # A backup on the group's share three days old, as the primary reads it: with backup: confirmed, a warning.
    # vcd3's database outgrows its partition (sparse: it takes no disk): a failure, not a refusal.
    host = change_host(appliances.servers["vcd1"].cell.url, backups=[3 * 86400])
    change_host(appliances.servers["vcd3"].cell.url, disk="short")
    ret = salt_run_cli.run("vcd_upgrade.precheck", pillar=plan())
    report = ret.data
    results = {(r["check"], r["cell"]): (r["result"], r["detail"]) for r in report["checks"]}
    old = pathlib.Path(host["mount_point"], "backups", "vcd-backup-0.tgz")
    assert results[("backup", "vcd1")] == ("warn", f"the newest of 1 backup(s), {old}, is 3 days old (more than 24 h)")
    result, detail = results[("disk", "vcd3")]
    assert result == "fail" and "needed (the database's size: a major upgrade copies it)" in detail, detail
    assert ret.returncode != 0 and "The window would be refused on" not in report["comment"], report["comment"]

    # The extracted update package gone from where the plan says: the window would be refused.
    change_host(appliances.servers["vcd3"].cell.url, disk="ample")
    change_host(appliances.servers["vcd2"].cell.url, package="missing", backups=[])
    report = salt_run_cli.run("vcd_upgrade.precheck", pillar=plan()).data
    packages = {r["cell"]: (r["result"], r["detail"]) for r in report["checks"] if r["check"] == "package"}
    result, detail = packages["vcd2"]
    assert result == "fail" and "no update package there" in detail, detail
    assert "The window would be refused on: package." in report["comment"], report["comment"]
    change_host(appliances.servers["vcd2"].cell.url, package="present")

    # The standby's node unhealthy: the cluster is DEGRADED, as each appliance reports it; and its repmgr
    # in another failover mode than the primary's: the nodes disagree, INDETERMINATE.
    group.appliances[1].reconfigure(unhealthy=True, failover_drift="MANUAL")
    ret = salt_run_cli.run("vcd_upgrade.precheck", pillar=plan())
    report = ret.data
    assert ret.returncode != 0 and report["ready"] is False, report
    cluster = {r["cell"]: r for r in report["checks"] if r["check"] == "cluster"}
    assert set(cluster) == set(CELLS) and all(r["result"] == "fail" for r in cluster.values()), cluster
    assert "the cluster is DEGRADED, not HEALTHY" in cluster["vcd1"]["detail"], cluster
    (failover,) = [r for r in report["checks"] if r["check"] == "failover_mode"]
    assert failover["result"] == "fail" and failover["detail"] == (
        "the nodes report vcd1: INDETERMINATE, vcd2: INDETERMINATE, vcd3: INDETERMINATE; "
        "each node's own: vcd1: AUTOMATIC, vcd2: MANUAL"
    ), failover
    assert "The window would be refused on: cluster, failover_mode." in report["comment"], report["comment"]
    assert not cluster_events(group, "failover_mode", "switchover", "appliance_install", "backup", "reboot")
    assert not any(events_of(cell, "quiesce", "shutdown", "maintenance_message_on") for cell in group.cells)
