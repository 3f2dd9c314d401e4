"""The readiness checks, with the cells' answers given (`_utils/_vcd_precheck.py`)."""

import email.utils
import re
import time
import types

import pytest
from salt.exceptions import SaltInvocationError

import _vcd_extension as extension
from tests.support import load_salt_module
from tests.unit.utils.stand_ins import cluster_view, reached, rollout_plan, upgrade_plan

precheck = load_salt_module("_utils/_vcd_precheck.py", "vcd_precheck_unit_under_test")

OLD, NEW = "10.5.0", "10.6.0"
CELLS = ["c1", "c2", "c3"]
LISTED = [{"name": cell, "version": OLD} for cell in CELLS]


def installer(cell, **facts):
    """What a cell finds of its installer (``vcd_cell.readiness``'s ``package``), ``facts`` over it."""
    path = f"/root/{cell}/vmware-vcloud-director-distribution-{NEW}-24000000.bin"
    return dict({"kind": "installer", "path": path, "present": True, "executable": True, "version": NEW}, **facts)


def mounted(cell, **facts):
    """The transfer share a cell sees (``vcd_cell.readiness``'s ``transfer_share``): the group's NFS export."""
    path = "/opt/vmware/vcloud-director/data/transfer"
    share = {"path": path, "present": True, "writable": True, "mount_point": True, "fstype": "nfs4"}
    share.update(source="nfs1:/exports/vcd", network=True, identity="nfs1:/exports/vcd:/")
    return dict(share, **facts)


GIB = 1024**3


def space(free=100 * GIB, needed=4 * GIB, what="installer"):
    """The free space a cell reads (``vcd_cell.readiness``'s ``disk``)."""
    path = "/tmp" if what == "installer" else "/var/vmware/vpostgres"
    return {"path": path, "free": free, "needed": needed, "what": what}


BACKUPS = "/opt/vmware/vcloud-director/data/transfer/backups"


def shared_backup(age_seconds=3600, count=2):
    """The newest backup an appliance reads on the share (``vcd_cell.readiness``'s ``backup``)."""
    newest = f"{BACKUPS}/backup-c1-2026-12-01.tgz" if count else None
    return {"dir": BACKUPS, "count": count, "newest": newest, "age_seconds": age_seconds if count else None}


def served(days=365, **facts):
    """The certificate a cell serves (``vcd_cell.readiness``'s ``certificate``), expiring in ``days``."""
    expires_at = time.time() + days * 86400
    url = f"https://{facts.pop('host', 'c1')}.example.com"
    return dict(
        {"url": url, "scheme": "https", "expires": "...", "expires_at": expires_at, "verified": True, "problem": None},
        **facts,
    )


def readiness(cell, package=None, appliance=False, identity=None, share=None, disk=None, backup=None, certificate=None):
    facts = {
        "cell_name": cell,
        "appliance": appliance,
        "extension": identity or extension.identity(),
        "package": package or installer(cell),
        "transfer_share": share or mounted(cell),
        "disk": disk or space(what="database" if appliance else "installer"),
        "certificate": certificate or served(host=cell),
    }
    if appliance:
        facts["backup"] = backup or shared_backup()
    return facts


def now_dated(offset=0.0):
    return email.utils.formatdate(time.time() + offset, usegmt=True)


def group(**changed):
    """The answers of a Linux group ready for an upgrade to NEW, ``changed`` (``{fun: {cell: return}}``) over them."""
    answers = {
        "vcd_cell.readiness": {cell: readiness(cell) for cell in CELLS},
        "vcd_cell.is_running": dict.fromkeys(CELLS, True),
        "vcd_cell.health": {cell: {"up": True, "status_code": 200, "date": now_dated()} for cell in CELLS},
        "vcd_cell.cells": dict.fromkeys(CELLS, LISTED),
        "vcd_cell.tasks": {cell: [] for cell in CELLS},
        "vcd_cell.vcenters": dict.fromkeys(
            CELLS, [{"name": "vc1", "proxy": "c1", "listener": "CONNECTED", "connected": True}]
        ),
        "config.get": dict.fromkeys(CELLS, ""),
        "vcd_cell.version": dict.fromkeys(CELLS, OLD),
        "vcd_cell.window": dict.fromkeys(CELLS, {"held": False, "claim": None, "alive": False, "why": None}),
    }
    for fun, by_cell in changed.items():
        answers[fun] = dict(answers.get(fun, {}), **by_cell)
    return answers


def options(kind="upgrade", **given):
    return dict(
        {
            "kind": kind,
            "ssh": False,
            "checksum": None,
            "clock_tolerance": 60,
            "window_end": time.time() + 7200,
            "strict": False,
            "backup_completed": True,
            "batch": 1,
        },
        **given,
    )


def checked(answers, plan=None, **given):
    plan = plan or upgrade_plan(cells=reached(answers), order=CELLS, version=NEW)
    return precheck.report(plan, options(**given))


def rows(report, check):
    return {r["cell"]: (r["result"], r["detail"]) for r in report["checks"] if r["check"] == check}


def test_a_ready_linux_group_passes_every_check_in_order_and_says_so():
    report = checked(group())
    assert report["ready"] is True, report
    names = [r["check"] for r in report["checks"]]
    assert list(dict.fromkeys(names)) == [
        "reachable", "extension", "cell_list", "versions", "package", "disk", "transfer_share", "clock",
        "certificate", "tasks", "backup", "vcenters", "window",
    ]  # fmt: skip
    assert names == sorted(names, key=precheck.CHECKS.index)
    assert all(r["result"] == "pass" and r["fix"] == "" for r in report["checks"])
    assert report["comment"] == f"Ready: {len(names)} passed, 0 warning(s), 0 failed."


def held_by(run, **claim):
    """What ``vcd_cell.window`` answers on a cell the run ``run`` claimed (its heartbeat a second old)."""
    claim = dict({"run": run, "orchestration": "vcd_rolling", "plan": "p1", "host": "elsewhere", "boot": None}, **claim)
    return {"held": True, "claim": dict({"heartbeat": 0, "since": "then", "user": "ops", "pid": 7}, **claim), "age": 1}


def test_a_cell_another_runs_window_holds_warns_naming_it_and_this_runs_own_passes():
    answers = group(
        **{"vcd_cell.window": {"c1": held_by("live1"), "c2": dict(held_by("dead1"), age=600), "c3": held_by("mine")}}
    )
    plan = upgrade_plan(cells=reached(answers), order=CELLS, version=NEW)
    plan.window = types.SimpleNamespace(run="mine")
    found = rows(checked(answers, plan), "window")
    assert found["c1"][0] == "warn" and "live window of run live1 of vcd_rolling" in found["c1"][1], found
    assert "alive: its heartbeat is 1s old" in found["c1"][1]
    assert found["c2"] == ("warn", found["c2"][1]) and "no longer running (no heartbeat for 600s)" in found["c2"][1]
    assert found["c3"] == ("pass", "held by this run's window (run mine)")
    assert "window" not in precheck.UNSAFE


def test_free_space_below_what_the_window_needs_fails_and_below_the_headroom_warns():
    answers = group(
        **{
            "vcd_cell.readiness": {
                "c1": readiness("c1", disk=space(free=3 * GIB, needed=4 * GIB)),
                "c2": readiness("c2", disk=space(free=5 * GIB, needed=4 * GIB)),
                "c3": readiness("c3", disk=space(needed=None)),
            }
        }
    )
    found = rows(checked(answers), "disk")
    assert found["c1"] == (
        "fail",
        "3.0 GiB free at /tmp, 4.0 GiB needed (twice the installer's size, to unpack it)",
    )
    assert found["c2"][0] == "warn" and found["c2"][1].endswith("less than 1.5x to spare")
    assert found["c3"] == ("warn", "100.0 GiB free at /tmp; no installer to size (the package check says why)")
    assert "disk" not in precheck.UNSAFE
    # A cell already on the target installs nothing.
    answers = group(
        **{"vcd_cell.readiness": {"c1": readiness("c1", disk=space(free=0))}, "vcd_cell.version": {"c1": NEW}}
    )
    assert rows(checked(answers), "disk")["c1"] == ("pass", f"already on {NEW}: nothing to install")


def test_a_certificate_that_expires_before_the_window_ends_fails_and_soon_after_it_warns():
    answers = group(
        **{
            "vcd_cell.readiness": {
                "c1": readiness("c1", certificate=served(days=0.05)),  # the window ends in 2 h
                "c2": readiness("c2", certificate=served(days=12)),
                "c3": readiness("c3", certificate=served(scheme="http", url="http://c3.example.com")),
            }
        }
    )
    found = rows(checked(answers), "certificate")
    assert found["c1"][0] == "fail" and "before the window ends" in found["c1"][1]
    assert found["c2"][0] == "warn" and found["c2"][1].endswith("12 day(s) after the window ends")
    assert found["c3"] == ("warn", "http://c3.example.com is http://: no certificate to read")
    # The window's end given: a certificate valid 12 more days fails a window 20 days away.
    later = time.time() + 20 * 86400
    assert rows(checked(answers, window_end=later), "certificate")["c2"][0] == "fail"
    assert "certificate" not in precheck.UNSAFE


def test_a_certificate_the_cells_client_does_not_trust_warns_and_a_trusted_one_passes():
    problem = "not trusted by this cell's client (vcd_cell:api_verify): unable to get local issuer certificate"
    answers = group(
        **{"vcd_cell.readiness": {"c1": readiness("c1", certificate=served(verified=False, problem=problem))}}
    )
    found = rows(checked(answers), "certificate")
    assert found["c1"][0] == "warn" and found["c1"][1].endswith(problem)
    assert found["c2"][0] == "pass" and found["c2"][1].startswith("the certificate at https://c2.example.com expires")


def test_the_window_end_is_iso_8601_and_refused_naming_it_otherwise():
    args = {"ssh": False, "clock_tolerance": 60, "precheck": "report", "timeout": 7200}
    ends = precheck.options_of("upgrade", dict(args, window_end="2026-12-12T06:00:00Z"))["window_end"]
    assert ends == 1797055200.0
    assert precheck.options_of("upgrade", dict(args, window_end="2026-12-12T06:00:00"))["window_end"] == ends
    with pytest.raises(SaltInvocationError, match=r"window_end must be when the window ends, in ISO 8601"):
        precheck.options_of("upgrade", dict(args, window_end="next friday"))


def test_a_rollout_reads_no_free_space():
    answers = group()
    plan = rollout_plan(cells=reached(answers), order=CELLS, batches=[[c] for c in CELLS])
    assert not rows(checked(answers, plan, kind="rollout"), "disk")


def test_a_silent_cell_fails_reachable_and_has_no_other_row():
    answers = {fun: {c: a for c, a in by_cell.items() if c != "c2"} for fun, by_cell in group().items()}
    report = checked(answers)
    assert report["ready"] is False
    assert rows(report, "reachable")["c2"] == ("fail", "its job was lost")
    assert {r["cell"] for r in report["checks"] if r["check"] != "reachable"} <= {None, "c1", "c3"}
    assert report["comment"].endswith("The window would be refused on: reachable. Nothing was touched.")


def test_an_extension_of_another_version_fails_and_one_synced_from_other_files_warns():
    other = dict(extension.identity(), version="0.0.9")
    stale = dict(extension.identity(), digest="0" * 16)
    report = checked(
        group(**{"vcd_cell.readiness": {"c2": readiness("c2", identity=other), "c3": readiness("c3", identity=stale)}})
    )
    found = rows(report, "extension")
    assert found["c1"][0] == "pass"
    assert found["c2"] == ("fail", f"the cell runs version 0.0.9 of the extension, the master {extension.VERSION}")
    assert found["c3"][0] == "warn" and "a sync not done since a change" in found["c3"][1]
    assert f"the cell's machinery ({stale['directory']}) differs from the master's" in found["c3"][1]


def test_an_extension_not_loaded_on_a_cell_fails_with_what_salt_said():
    report = checked(group(**{"vcd_cell.readiness": {"c3": "'vcd_cell.readiness' is not available."}}))
    assert rows(report, "extension")["c3"] == ("fail", "vcd_cell.readiness: 'vcd_cell.readiness' is not available.")
    assert "c3" not in rows(report, "package")


def test_the_cell_list_fails_an_upgrade_on_a_cell_outside_the_plan_and_warns_a_rollout():
    listing = [*LISTED, {"name": "c9", "version": OLD}]
    answers = group(**{"vcd_cell.cells": dict.fromkeys(CELLS, listing)})
    assert rows(checked(answers), "cell_list")[None][0] == "fail"
    plan = rollout_plan(cells=reached(answers), order=CELLS, min_active=1, batches=[[c] for c in CELLS])
    assert rows(checked(answers, plan, kind="rollout"), "cell_list")[None] == (
        "warn",
        "vCD lists cell(s) outside the plan: c9; the rollout leaves them alone",
    )


def test_no_cell_list_fails_naming_the_setting():
    report = checked(group(**{"vcd_cell.cells": dict.fromkeys(CELLS, "ERROR: vcd_cell:api_url is not set")}))
    assert rows(report, "cell_list")[None][0] == "fail"
    assert "is vcd_cell:api_url set on the cells?" in rows(report, "cell_list")[None][1]


def test_versions_accept_a_cell_already_on_the_target_and_refuse_one_behind_or_a_target_not_newer():
    report = checked(group(**{"vcd_cell.version": {"c2": NEW, "c3": "10.4.0"}}))
    found = rows(report, "versions")
    assert found["c1"] == ("pass", f"runs vCD {OLD}; the target {NEW} is newer")
    assert found["c2"] == ("pass", f"already on {NEW}: an upgrade run again resumes there")
    assert found["c3"] == ("fail", f"runs vCD 10.4.0 while the group runs {OLD}")
    assert rows(report, "package")["c2"] == ("pass", f"already on {NEW}: nothing to install")
    plan = upgrade_plan(cells=reached(group()), order=CELLS, version="10.4.1")
    assert rows(checked(group(), plan), "versions")["c1"] == ("fail", f"runs vCD {OLD}: the target 10.4.1 is not newer")


def test_the_transfer_share_on_every_cell_the_same_export_passes_with_the_groups_row_first():
    found = [r for r in checked(group())["checks"] if r["check"] == "transfer_share"]
    assert [r["cell"] for r in found] == [None, *CELLS]
    assert found[0]["detail"] == "every cell sees the same share: nfs1:/exports/vcd:/"
    path = "/opt/vmware/vcloud-director/data/transfer"
    assert found[1]["detail"] == f"{path}: nfs4 nfs1:/exports/vcd, writable"


def test_a_cell_on_another_share_fails_the_group_and_each_cells_problem_is_named():
    local = mounted("c2", mount_point=False, fstype="ext4", source="/dev/sda2", network=False, identity="h2:/data")
    report = checked(
        group(
            **{
                "vcd_cell.readiness": {
                    "c1": readiness("c1", share=mounted("c1", present=False, identity=None)),
                    "c2": readiness("c2", share=local),
                    "c3": readiness("c3", share=mounted("c3", writable=False)),
                }
            }
        )
    )
    found = {r["cell"]: r for r in report["checks"] if r["check"] == "transfer_share"}
    path = "/opt/vmware/vcloud-director/data/transfer"
    assert (found["c1"]["result"], found["c1"]["detail"]) == ("fail", f"no directory at {path}")
    assert (found["c2"]["result"], found["c2"]["detail"]) == (
        "warn",
        f"{path} is not a mount point on this host's own disk (ext4)",
    )
    assert (found["c3"]["result"], found["c3"]["detail"]) == ("fail", f"{path} is not writable")
    assert (found[None]["result"], found[None]["detail"]) == (
        "fail",
        "the cells see different shares: c2: h2:/data; c3: nfs1:/exports/vcd:/",
    )
    assert "mount the same NFS export" in found[None]["fix"]
    # A share is not a reason to refuse the window: the report says it, the preflight goes on.
    assert "transfer_share" not in precheck.UNSAFE
    assert report["comment"].endswith("Nothing was touched.") and "refused on" not in report["comment"]


@pytest.mark.parametrize("behind", ["c1", "c3"])
def test_of_two_versions_run_by_as_many_cells_the_newer_is_the_groups(behind):
    ahead = ({"c1", "c3"} - {behind}).pop()
    report = checked(group(**{"vcd_cell.version": {"c2": NEW, behind: "10.4.0", ahead: OLD}}))
    found = rows(report, "versions")
    assert found[ahead][0] == "pass"
    assert found[behind] == ("fail", f"runs vCD 10.4.0 while the group runs {OLD}")


@pytest.mark.parametrize(
    "facts, result, said",
    [
        ({"path": None}, "fail", "vcd_cell:installer is not set"),
        ({"present": False, "executable": False}, "fail", "no installer at"),
        ({"executable": False}, "fail", "is not executable"),
        ({"version": "10.5.1"}, "fail", "is the installer of 10.5.1, not 10.6.0"),
        ({"version": None}, "warn", "its name carries no version"),
    ],
)
def test_the_installer_is_judged_by_what_the_cell_found(facts, result, said):
    report = checked(group(**{"vcd_cell.readiness": {"c1": readiness("c1", installer("c1", **facts))}}))
    assert rows(report, "package")["c1"][0] == result and said in rows(report, "package")["c1"][1]


def test_the_installers_checksum_is_compared_when_the_plan_gives_one():
    good = "a" * 64
    answers = group(**{"vcd_cell.readiness": {c: readiness(c, installer(c, sha256=good)) for c in CELLS}})
    answers["vcd_cell.readiness"]["c2"]["package"]["sha256"] = "b" * 64
    found = rows(checked(answers, checksum=good.upper()), "package")
    assert found["c1"][0] == "pass" and found["c1"][1].endswith("executable and matches the checksum")
    assert found["c2"][0] == "fail" and f"SHA-256 is {'b' * 64}, not the checksum given" in found["c2"][1]


def test_a_clock_off_by_more_than_the_tolerance_fails_and_one_without_a_date_warns():
    health = {
        "c2": {"up": True, "date": now_dated(-300)},
        "c3": {"up": False, "status_code": None, "date": None},
    }
    found = rows(checked(group(**{"vcd_cell.health": health})), "clock")
    assert found["c1"][0] == "pass"
    # The Date header counts whole seconds: 300 s behind reads 299 to 301.
    assert found["c2"][0] == "fail"
    assert re.fullmatch(r"the cell's clock is (299|30[01]) s behind the master's \(tolerance 60 s\)", found["c2"][1])
    assert found["c3"][0] == "warn"


def test_the_offset_is_zero_within_the_job_and_measured_from_its_nearer_end():
    stamp = email.utils.formatdate(1000.0, usegmt=True)
    assert precheck._offset(stamp, 999.5, 1010.0) == 0.0
    assert precheck._offset(stamp, 900.0, 940.0) == 60.0
    assert precheck._offset(stamp, 1100.0, 1200.0) == -100.0
    assert precheck._offset("not a date", 0, 1) is None and precheck._offset(None, 0, 1) is None


def test_a_task_older_than_the_drains_timeout_warns_with_the_fix_of_its_policy():
    task = {"id": "t1", "name": "vappDeploy", "owner": "alice", "age_seconds": 7200}
    answers = group(**{"vcd_cell.tasks": {"c1": [task]}, "config.get": {"c1": {"on_timeout": "cancel"}}})
    result, detail = rows(checked(answers), "tasks")["c1"]
    assert result == "warn" and "longer than the drain's timeout (3600 s, on_timeout: cancel)" in detail
    (row,) = [r for r in checked(answers)["checks"] if r["check"] == "tasks" and r["cell"] == "c1"]
    assert row["fix"].startswith("the drain cancels what still runs at its timeout")
    # cell_pillar's drain goes over the cell's own: a longer timeout waits for the task.
    plan = upgrade_plan(
        cells=reached(answers), order=CELLS, version=NEW, cell_pillar={"vcd_cell": {"drain": {"timeout": 9000}}}
    )
    assert rows(checked(answers, plan), "tasks")["c1"][0] == "pass"


def test_a_backup_not_confirmed_fails_an_upgrade():
    assert rows(checked(group(), backup_completed=False), "backup")[None] == (
        "fail",
        "backup_completed is not true: the upgrade refuses without it",
    )


def test_a_vcenter_disconnected_or_whose_proxy_is_down_fails():
    listing = [
        {"name": "vc1", "proxy": "c1", "listener": "CONNECTED", "connected": False},
        {"name": "vc2", "proxy": "c2", "listener": "DISCONNECTED", "connected": True},
        {"name": "vc3", "proxy": "c3", "listener": None, "connected": True},
    ]
    report = checked(group(**{"vcd_cell.vcenters": dict.fromkeys(CELLS, listing)}))
    found = [(r["result"], r["detail"]) for r in report["checks"] if r["check"] == "vcenters"]
    assert found == [
        ("fail", "vCenter vc1 is not connected"),
        ("fail", "vCenter vc2's VC proxy on c2 is DISCONNECTED"),
        ("pass", "vCenter vc3 connected, its VC proxy on c3 (state not given)"),
    ]


ROLES = {"c1": "PRIMARY", "c2": "STANDBY", "c3": "CELL"}
NODES = {"c1": "c1", "c2": "c2"}


def appliances(backup=None, **changed):
    """A healthy group of appliances on OLD; ``backup``: the newest backup on the share as c1 reads it."""
    package = {
        "kind": "update_package",
        "repo": "file:///tmp/p",
        "present": True,
        "version": f"{NEW}.24000000",
        "problem": None,
    }
    answers = group(
        **{
            "vcd_cell.readiness": {
                cell: readiness(cell, package, appliance=True, backup=backup if cell == "c1" else None)
                for cell in CELLS
            },
            "vcd_cell.appliance_nodes": {cell: cluster_view(ROLES, NODES, cell) for cell in CELLS},
        }
    )
    for fun, by_cell in changed.items():
        answers[fun] = dict(answers[fun], **by_cell)
    return answers


def test_appliances_are_judged_on_their_cluster_failover_mode_and_update_package():
    report = checked(appliances(), backup_completed=False, plan=None)
    assert report["ready"] is False  # backup_completed with backup: confirmed, as on Linux
    plan = upgrade_plan(cells=reached(appliances()), order=CELLS, version=NEW, backup="appliance")
    report = checked(appliances(), plan, backup_completed=False)
    assert report["ready"] is True, report
    assert rows(report, "cluster")["c3"] == ("pass", "HEALTHY, primary c1; this appliance is CELL (c3-node)")
    assert rows(report, "disk")["c1"] == (
        "pass",
        "100.0 GiB free at /var/vmware/vpostgres, 4.0 GiB needed (the database's size: a major upgrade copies it)",
    )
    assert rows(report, "failover_mode")[None][0] == "pass"
    assert rows(report, "package")["c2"] == ("pass", f"the update package of {NEW}.24000000 at file:///tmp/p")


def test_a_degraded_cluster_or_failover_modes_that_differ_fail():
    degraded = cluster_view(ROLES, NODES, "c2", health="DEGRADED", down=("c2",))
    indeterminate = cluster_view(ROLES, NODES, "c3", failover="INDETERMINATE")
    report = checked(appliances(**{"vcd_cell.appliance_nodes": {"c2": degraded, "c3": indeterminate}}))
    assert rows(report, "cluster")["c2"][0] == "fail" and "not HEALTHY" in rows(report, "cluster")["c2"][1]
    assert rows(report, "failover_mode")[None] == (
        "fail",
        "the nodes report c1: AUTOMATIC, c2: AUTOMATIC, c3: INDETERMINATE",
    )


def test_failover_modes_that_differ_name_each_nodes_own_mode_where_the_nodes_say_it():
    views = {cell: cluster_view(ROLES, NODES, cell, failover="INDETERMINATE") for cell in CELLS}
    for view in views.values():
        view["nodes"] = [
            dict(node, failover=mode) for node, mode in zip(view["nodes"], ("AUTOMATIC", "MANUAL"), strict=True)
        ]
    report = checked(appliances(**{"vcd_cell.appliance_nodes": views}))
    assert rows(report, "failover_mode")[None] == (
        "fail",
        "the nodes report c1: INDETERMINATE, c2: INDETERMINATE, c3: INDETERMINATE; "
        "each node's own: c1: AUTOMATIC, c2: MANUAL",
    )
    assert "failover_mode" in precheck.UNSAFE


def test_an_update_package_of_another_version_or_none_fails():
    wrong = {"kind": "update_package", "repo": "file:///tmp/p", "present": True, "version": "10.5.1.1", "problem": None}
    missing = {
        "kind": "update_package",
        "repo": "file:///tmp/q",
        "present": False,
        "version": None,
        "problem": "no update package there",
    }
    answers = appliances(
        **{
            "vcd_cell.readiness": {
                "c1": readiness("c1", wrong, appliance=True),
                "c2": readiness("c2", missing, appliance=True),
            }
        }
    )
    found = rows(checked(answers), "package")
    assert found["c1"] == ("fail", f"the update package at file:///tmp/p is 10.5.1.1, not {NEW}")
    assert found["c2"] == ("fail", "no update package there")


def test_a_group_that_mixes_appliances_and_linux_cells_has_no_route():
    answers = appliances(**{"vcd_cell.readiness": {"c3": readiness("c3")}})
    report = checked(answers)
    assert rows(report, "reachable")[None][0] == "fail"
    assert "mixes vCD appliances (c1, c2) and Linux cells (c3)" in rows(report, "reachable")[None][1]
    assert not rows(report, "cluster")


def test_the_budget_takes_the_batches_the_rollout_would_take():
    answers = group(**{"vcd_cell.health": {"c3": {"up": False, "date": None}}})
    plan = rollout_plan(cells=reached(answers), order=CELLS, min_active=1, batches=[["c1", "c2"], ["c3"]])
    found = rows(checked(answers, plan, kind="rollout", batch=2), "budget")
    assert found[None] == ("fail", "2 of 3 cells serve now (c1, c2): with c1, c2 down only 0 would, min_active is 1")
    # On appliances the cluster's order: the cell-type appliance first, then each database node alone.
    answers = appliances(**{"vcd_cell.health": {"c3": {"up": False, "date": None}}})
    plan = rollout_plan(cells=reached(answers), order=CELLS, min_active=1, batches=[["c1", "c2"], ["c3"]])
    found = rows(checked(answers, plan, kind="rollout", batch=2), "budget")
    assert found[None] == ("pass", "2 of 3 cells serve now: each of the 3 batch(es) leaves 1 serving")


def test_the_precheck_fires_its_start_and_finish_and_asks_each_cell_once():
    answers = group()
    plan = upgrade_plan(cells=reached(answers), order=CELLS, version=NEW)
    precheck.report(plan, options())
    plan.cells.call_each.assert_called_once()
    plan.cells.call.assert_not_called()
    assert [call.args[0] for call in plan.fire.call_args_list] == ["precheck/start", "precheck/finish"]
    assert plan.fire.call_args_list[1].args[1] == {
        "precheck": "p1",
        "ready": True,
        "failed": [],
        "jobs": dict.fromkeys(CELLS, 0),
    }
    assert not plan.record.saved


def test_the_orchestrations_gate_refuses_on_an_unsafe_failure_and_reports_the_others():
    # c2's clock is off (not a reason to refuse), c3 runs another version (one).
    answers = group(
        **{"vcd_cell.health": {"c2": {"up": True, "date": now_dated(-300)}}, "vcd_cell.version": {"c3": "10.4.0"}}
    )
    plan = upgrade_plan(cells=reached(answers), order=CELLS, version=NEW)
    outcome = precheck.gate(options())(CELLS, plan)
    assert outcome["c1"] is None and outcome["c2"] is None
    assert outcome["c3"].startswith("versions: runs vCD 10.4.0 while the group runs 10.5.0 (fix: bring the cell")
    assert {(r["check"], r["cell"], r["result"]) for r in plan.found.precheck["checks"]} == {
        ("clock", "c2", "fail"),
        ("versions", "c3", "fail"),
    }
    assert plan.found.precheck["ready"] is False
    # What the preflight reads next, asked in the same job.
    assert set(plan.found.answers) >= {fun for fun, _, _ in precheck.upgrade_steps.ASKED}
    plan.cells.call_each.assert_called_once()


def test_a_strict_gate_refuses_on_any_failure_and_a_group_row_refuses_every_cell():
    answers = group(**{"vcd_cell.health": {"c2": {"up": True, "date": now_dated(-300)}}})
    plan = upgrade_plan(cells=reached(answers), order=CELLS, version=NEW)
    assert precheck.gate(options())(CELLS, plan) == dict.fromkeys(CELLS)
    outcome = precheck.gate(options(strict=True))(CELLS, plan)
    # 300 s read to whole seconds from a Date header: 299 to 301.
    assert outcome["c1"] is None and re.match(r"clock: the cell's clock is (299|300|301) s behind", outcome["c2"])
    answers = group(**{"vcd_cell.cells": dict.fromkeys(CELLS, [*LISTED, {"name": "c4", "version": OLD}])})
    plan = upgrade_plan(cells=reached(answers), order=CELLS, version=NEW)
    outcome = precheck.gate(options())(CELLS, plan)
    assert all(why.startswith("cell_list: vCD lists cell(s) outside the plan: c4") for why in outcome.values())


def test_the_preflight_reads_what_the_gate_asked():
    answers = group()
    plan = upgrade_plan(cells=reached(answers), order=CELLS, version=NEW)
    assert precheck.gate(options())(CELLS, plan) == dict.fromkeys(CELLS)
    assert precheck.upgrade_steps.preflight(CELLS, plan) == dict.fromkeys(CELLS)
    plan.cells.call_each.assert_called_once()
    assert plan.record.saved[-1]["names"] == {cell: cell for cell in CELLS}


def test_a_cell_down_now_counts_as_serving_once_its_batch_is_done():
    # c1, down (as a failed run may leave it), is the first batch: the rollout brings it back before c2's.
    answers = group(**{"vcd_cell.health": {"c1": {"up": False, "date": None}}})
    plan = rollout_plan(cells=reached(answers), order=CELLS, min_active=2, batches=[["c1"], ["c2"], ["c3"]])
    assert rows(checked(answers, plan, kind="rollout"), "budget")[None][0] == "pass"
    # Down in the last batch, it does not serve while c1 and c2 take their turns.
    answers = group(**{"vcd_cell.health": {"c3": {"up": False, "date": None}}})
    plan = rollout_plan(cells=reached(answers), order=CELLS, min_active=2, batches=[["c1"], ["c2"], ["c3"]])
    assert rows(checked(answers, plan, kind="rollout"), "budget")[None][0] == "fail"


def rollout(cells, batch=1, min_active=1, ssh=False):
    """Stands in for an orchestration's signature."""


def test_the_keys_are_the_orchestrations_the_command_line_over_the_pillar():
    bound = precheck.bind(
        rollout, "vcd_rolling", {"vcd_rolling": {"cells": "c*", "batch": 2}}, {"batch": 3, "__pub_fun": "x"}
    )
    assert bound == {"cells": "c*", "batch": 3, "min_active": 1, "ssh": False}
    with pytest.raises(SaltInvocationError, match=r"unknown key\(s\) bacth: the keys are those of vcd_rolling"):
        precheck.bind(rollout, "vcd_rolling", None, {"cells": "c*", "bacth": 2})
    with pytest.raises(SaltInvocationError, match="vcd_rolling: missing a required argument: 'cells'"):
        precheck.bind(rollout, "vcd_rolling", None, {})
    with pytest.raises(SaltInvocationError, match="pillar must be"):
        precheck.bind(rollout, "vcd_rolling", "cells: c*", {})


@pytest.mark.parametrize("checksum", [0, "abc", "g" * 64])
def test_a_checksum_that_is_not_a_sha256_is_refused_saying_how_to_quote_it(checksum):
    with pytest.raises(SaltInvocationError, match="64 hex digits, as text"):
        precheck.options_of(
            "upgrade", {"ssh": False, "checksum": checksum, "clock_tolerance": 60, "precheck": "report"}
        )


def test_appliances_read_the_newest_backup_on_the_share_as_the_primary_sees_it():
    report = checked(appliances())
    assert rows(report, "backup") == {
        None: ("pass", "backup_completed: the operator made the database backup"),
        "c1": ("pass", f"the newest of 2 backup(s), {BACKUPS}/backup-c1-2026-12-01.tgz, is 1 h old"),
    }
    result, detail = rows(checked(appliances(backup=shared_backup(3 * 86400))), "backup")["c1"]
    assert result == "warn" and detail.endswith("is 3 days old (more than 24 h)")
    none = appliances(backup=shared_backup(count=0))
    assert rows(checked(none), "backup")["c1"] == ("warn", f"no database backup under {BACKUPS}")
    # backup: appliance makes one in the window: an old one or none is no concern.
    plan = upgrade_plan(cells=reached(none), order=CELLS, version=NEW, backup="appliance")
    assert rows(checked(none, plan), "backup")["c1"][0] == "pass"
