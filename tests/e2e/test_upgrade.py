"""
`salt-run state.orchestrate orch.vcd_upgrade` over three real minions, each a cell of one fake server
group (one database) with jobs running, proven on the cells' and the database's timelines.
"""

import contextlib
import datetime
import hashlib
import json
import pathlib
import re
import subprocess
import time

import pytest
import requests

import _vcd_report as reports
from simulator.group import ServerGroup
from simulator.model import Cell, CellConfig
from simulator.server import CellServer
from simulator.tls import Authority
from tests import browser
from tests.e2e.conftest import (
    ADMIN_PASSWORD,
    STATE_TIMEOUT,
    absolute,
    events_of,
    kill_midway_and_restart_master,
    orchestration_return,
    run_orchestration,
)
from tests.support import assert_every_shutdown_follows_a_drained_reading, change_host, wait_for

CELLS = ("up-1", "up-2", "up-3")
OLD, NEW = "10.5.0", "10.6.0"


@pytest.fixture(scope="module")
def group(upgrade_cells, runners_synced):
    """Three cells' servers and minions; each test serves a fresh server group behind them."""
    with upgrade_cells(CELLS, NEW) as cells:
        yield cells


@pytest.fixture
def server_group(group):
    """``server_group(jobs=[...], extra_cells=(), **config)``: a fresh group of the three cells (plus
    cells no minion manages), each with those jobs running; returns the :class:`ServerGroup`."""

    def make(jobs=(1.0, 1.5), extra_cells=(), **config):
        cells = []
        for name, server in group.servers.items():
            cell = server.replace_cell(
                Cell(CellConfig(cell_name=name, admin_password=ADMIN_PASSWORD, installed_version=OLD, **config))
            )
            for seconds in jobs:
                cell.add_job(seconds=seconds, name="vappDeploy", owner="alice")
            cells.append(cell)
        cells += [Cell(CellConfig(cell_name=name, installed_version=OLD)) for name in extra_cells]
        return ServerGroup(cells)

    return make


def plan(**upgrade):
    """The ``vcd_upgrade`` pillar: the three cells to NEW, the backup confirmed, unless said otherwise."""
    return {"vcd_upgrade": dict({"cells": list(CELLS), "version": NEW, "backup_completed": True}, **upgrade)}


@pytest.fixture
def orchestrate(salt_run_cli):
    """Run the upgrade orchestration; returns (success, the runner's report)."""

    def run(**upgrade):
        return run_orchestration(salt_run_cli, "orch.vcd_upgrade", plan(**upgrade))

    return run


def assert_nothing_lost(group):
    for cell in group.cells[: len(CELLS)]:
        name = cell.config.cell_name
        assert not events_of(cell, "job_abort"), name
        assert_every_shutdown_follows_a_drained_reading(cell)


def db_upgrades(group):
    return [e for e in group.timeline.since(0) if e["event"].startswith("db_upgrade")]


def test_a_full_upgrade_drains_installs_upgrades_the_database_once_and_starts_every_cell(
    server_group, orchestrate, event_listener, salt_master
):
    group = server_group(jobs=(1.0, 2.0), start_seconds=0.5)
    started = time.time()
    success, report = orchestrate(upgrade_id="full")
    assert success is True, report
    assert report["steps_done"] == ["preflight", "quiesce", "drain", "install", "database", "start", "verify"]
    assert_nothing_lost(group)
    cells = group.cells
    # Every cell quiesced before any cell shut down, and each shut down once, at 0 jobs.
    first_shutdown = min(absolute(c, events_of(c, "shutdown")[0]) for c in cells)
    assert all(absolute(c, events_of(c, "quiesce")[0]) < first_shutdown for c in cells)
    assert all(len(events_of(c, "shutdown")) == 1 for c in cells)
    # The database upgraded exactly once, while every cell was stopped and already on the new version.
    (upgrade,) = db_upgrades(group)
    assert upgrade["event"] == "db_upgrade" and upgrade["by"] == "up-1"
    assert upgrade["cells"] == {name: {"running": False, "version": NEW} for name in CELLS}
    assert group.schema_version == NEW
    # No refused start, none before the database upgrade; all serve on NEW.
    assert not any(events_of(c, "start_refused") for c in cells)
    upgraded = absolute(cells[0], upgrade)
    assert all(absolute(c, events_of(c, "start")[-1]) > upgraded for c in cells)
    for cell in cells:
        snapshot = cell.snapshot()
        assert (snapshot["service"], snapshot["quiesced"], cell.installed_version) == ("running", False, NEW)
    assert not any(e.get("event") == "db_upgrade_continued_with_active" for e in group.timeline.since(0))

    def finished_steps():
        found = event_listener.get_events([(salt_master.id, "vcd/upgrade/*/finish")], after_time=started)
        return found if len(found) == 9 else None

    # The precheck's checks first, then the seven steps, then the run's own end with its report.
    finished = wait_for(finished_steps, "a finish event per step and the run's")
    (checked,) = [e.data for e in finished if e.tag == "vcd/upgrade/precheck/finish"]
    assert checked["ready"] is True and report["precheck"]["ready"] is True
    assert set(checked["jobs"]) == set(CELLS)  # each cell's tasks as the window began
    install = [e.data for e in finished if e.tag == "vcd/upgrade/install/finish"][0]
    assert install["results"] == dict.fromkeys(CELLS, "done")
    drain = [e.data for e in finished if e.tag == "vcd/upgrade/drain/finish"][0]
    assert set(drain["changes"]) <= set(CELLS) and all("drain_seconds" in c for c in drain["changes"].values())
    (ended,) = [e.data for e in finished if e.tag == "vcd/upgrade/run/finish"]
    assert ended["result"] is True and ended["report"] == report["report"]
    assert pathlib.Path(report["report"]).is_file()


def test_without_the_backup_confirmed_nothing_is_touched(server_group, orchestrate):
    group = server_group()
    success, report = orchestrate(backup_completed=False)
    assert success is False
    assert "backup_completed must be true" in report["comment"] and "Nothing was touched" in report["comment"]
    assert not any(events_of(cell, "cli") for cell in group.cells)


def test_a_cell_outside_the_plan_is_named_and_nothing_is_changed(server_group, orchestrate):
    group = server_group(extra_cells=("forgotten-cell",))
    success, report = orchestrate(upgrade_id="outside")
    assert success is False
    # Refused by the checks the upgrade begins with, naming the check and its fix.
    assert (
        "Stopped at up-1, step precheck: cell_list: vCD lists cell(s) outside the plan: forgotten-cell"
        in (report["comment"])
    )
    assert "(fix: add them to cells, or retire them from the server group first)" in report["comment"]
    assert "Nothing was touched" in report["comment"]
    for cell in group.cells:
        assert not events_of(cell, "quiesce", "shutdown", "install"), cell.config.cell_name
    assert not db_upgrades(group)


def test_a_drain_that_never_ends_restores_service_and_installs_nothing(server_group, orchestrate):
    group = server_group(jobs=(0.5,))
    stuck = group.cells[1].add_job(seconds=None, name="vmMigrate", owner="bob")
    drain = {"timeout": 2, "interval": 1, "on_timeout": "fail"}
    success, report = orchestrate(upgrade_id="stuck", cell_pillar={"vcd_cell": {"drain": drain}})
    assert success is False
    assert "Stopped at up-2, step drain" in report["comment"] and stuck["id"] in report["comment"]
    assert "every cell was put back into service, its software unchanged" in report["comment"]
    assert_nothing_lost(group)
    for cell in group.cells:
        snapshot = cell.snapshot()
        assert (snapshot["service"], snapshot["quiesced"]) == ("running", False), cell.config.cell_name
        assert not events_of(cell, "install", "install_failed"), cell.config.cell_name
        assert report["cells"][cell.config.cell_name]["restored"] is True
    assert group.schema_version == OLD and not db_upgrades(group)
    assert group.cells[1].snapshot()["job_count"] == 1  # the stuck job still runs: nothing was lost


def test_an_installer_failure_stops_before_the_database_and_a_rerun_resumes(server_group, orchestrate, tmp_path):
    group = server_group(jobs=(0.5,))
    group.cells[1].reconfigure(install_fault=True)
    success, report = orchestrate(upgrade_id="installer")
    assert success is False
    failed_report = report["report"]
    assert "Stopped at up-2, step install" in report["comment"] and "rpm exited 1" in report["comment"]
    assert "Past the point of no return" in report["comment"] and "resumes at install" in report["comment"]
    assert report["cells"]["up-2"]["state"] == f"stopped, vCD {OLD} installed"
    assert report["cells"]["up-1"]["state"] == f"stopped, vCD {NEW} installed"
    assert not db_upgrades(group)
    assert all(cell.snapshot()["service"] == "maintenance" for cell in group.cells)

    group.cells[1].reconfigure(install_fault=False)
    drained = [len(events_of(cell, "quiesce", "shutdown")) for cell in group.cells]
    success, report = orchestrate(upgrade_id="installer")
    assert success is True, report
    assert "resumed after preflight, quiesce, drain" in report["comment"]
    # Not drained again, and installed once: up-1 and up-3 kept their first install.
    assert [len(events_of(cell, "quiesce", "shutdown")) for cell in group.cells] == drained
    for cell in group.cells:
        name = cell.config.cell_name
        assert len(events_of(cell, "shutdown")) == 1 and len(events_of(cell, "install")) == 1, name
        assert cell.snapshot()["service"] == "running" and cell.installed_version == NEW, name
    assert [e["event"] for e in db_upgrades(group)] == ["db_upgrade"]
    assert_nothing_lost(group)
    # One report of the whole window: the run that resumed wrote on in the failed run's.
    assert report["report"] == failed_report
    assert_the_report_shows(failed_report, tmp_path, runs=("began: failed", "resumed: done"), failed_on="up-2")


def assert_the_report_shows(path, tmp_path, runs, failed_on=None):
    """
    The report as headless Chromium draws it: a lane per cell, labelled, each serving at some time; the
    outage band where every cell was down; the runs; a failed step marked on ``failed_on``'s lane only,
    its reason on hover.
    """
    image, lanes, failed = browser.render(path, tmp_path)
    assert {"runs", "no cell serving", *CELLS} <= set(lanes), lanes
    for cell in CELLS:
        x, y, w, h = lanes[cell]
        assert x >= 0 and x + w <= image.width and y >= 0 and y + h <= image.height, (cell, lanes[cell])
        assert browser.pixels(image, (x, y, 20, h), "#212121", 60) > 20, f"no label drawn for {cell}"
        assert browser.pixels(image, lanes[cell], reports.COLOURS["serving"]) > 50, cell
        assert browser.pixels(image, lanes[cell], reports.COLOURS["stopped"]) > 50, cell
    assert browser.pixels(image, lanes["no cell serving"], reports.COLOURS["outage"]) > 500
    page = pathlib.Path(path).read_text()
    for label in runs:
        assert f"<title>{label}: " in page, label
    marked = [lane for lane, _ in failed if lane in CELLS]
    assert marked == ([failed_on] if failed_on else []), failed
    for lane, box in failed:
        assert browser.pixels(image, box, reports.COLOURS["failed"]) > 50, (lane, box)
    if failed_on:
        assert "rpm exited 1" in page.split(f'data-lane="{failed_on}"')[1].split("data-lane=")[0]


def test_a_master_restarted_during_the_install_resumes_when_run_again(
    server_group, orchestrate, group, salt_master, salt_run_cli, salt_cli
):
    upgrade_group = server_group(jobs=(0.5,), install_seconds=3)
    command = salt_run_cli.cmdline("state.orchestrate", "orch.vcd_upgrade", pillar=plan(upgrade_id="restart"))
    kill_midway_and_restart_master(
        command,
        lambda: any(e["tool"].startswith("vmware-vcloud") for e in events_of(upgrade_group.cells[0], "cli")),
        "the install step to start",
        salt_master,
        group.minions,
        salt_cli,
    )
    success, report = orchestrate(upgrade_id="restart")
    assert success is True, report
    # The killed run's claim on the cells taken over at once: its process is gone.
    assert re.search(
        r"\(resumed after preflight, quiesce, drain, done in an earlier run\) Took over from run w[0-9a-f]{8}: no "
        r"longer running, pid \d+ gone\.$",
        report["comment"],
    ), report["comment"]
    # The killed runner's report, completed by the run that resumed it.
    page = pathlib.Path(report["report"]).read_text()
    # Each run's segment says what it came to on hover (its title), however narrow it is drawn.
    assert "<title>began: stopped: " in page and "<title>resumed: done: " in page
    for cell in upgrade_group.cells:
        name = cell.config.cell_name
        assert len(events_of(cell, "shutdown")) == 1, name
        assert cell.snapshot()["service"] == "running" and cell.installed_version == NEW, name
    assert [e["event"] for e in db_upgrades(upgrade_group)] == ["db_upgrade"]
    assert_nothing_lost(upgrade_group)


# -- the precheck: vcd_upgrade.precheck, days before the window --------------------------------------

# A precheck reads: the tool runs it may make on a cell print what the cell is, change nothing.
READ_ONLY_EVENTS = {"cli", "status", "job_start"}
READ_ONLY_TOOLS = {("vmware-vcd-cell", ("status",)), ("vcd-version", ())}


def precheck(salt_run_cli, *args, **upgrade):
    """``salt-run vcd_upgrade.precheck`` with the plan's pillar (``upgrade`` over it) and ``args``."""
    ret = salt_run_cli.run("vcd_upgrade.precheck", *args, pillar=plan(**upgrade))
    assert isinstance(ret.data, dict) and "ready" in ret.data, ret
    return ret


def rows(report, check):
    """``{cell: (result, detail, fix)}`` of one check's rows (None: the group's)."""
    return {r["cell"]: (r["result"], r["detail"], r["fix"]) for r in report["checks"] if r["check"] == check}


def assert_nothing_touched(group, salt_master):
    """No cell changed (its timeline holds only what the test did and readings) and no record was kept."""
    for cell in group.cells[: len(CELLS)]:
        kinds = {e["event"] for e in cell.timeline.since(0)}
        assert kinds <= READ_ONLY_EVENTS, (cell.config.cell_name, kinds)
        for run in events_of(cell, "cli"):
            # is_running's and version's: no cell-management-tool, no installer, no database upgrade.
            assert (run["tool"], tuple(run["argv"])) in READ_ONLY_TOOLS, run
        assert cell.snapshot()["service"] == "running" and not cell.snapshot()["quiesced"]
    bank = pathlib.Path(salt_master.config["cachedir"]) / "vcd_upgrade"
    assert not bank.exists() or not any(bank.iterdir()), list(bank.iterdir())


def test_a_precheck_of_a_ready_group_passes_every_check_touching_nothing(server_group, salt_run_cli, salt_master):
    group = server_group(jobs=(30.0,))
    ret = precheck(salt_run_cli, backup_completed=True)
    report = ret.data
    assert ret.returncode == 0 and report["ready"] is True, report
    checks = [r["check"] for r in report["checks"]]
    linux_upgrade = [
        "reachable",
        "extension",
        "cell_list",
        "versions",
        "package",
        "disk",
        "transfer_share",
        "clock",
        "certificate",
        "tasks",
        "backup",
        "vcenters",
        "window",
    ]
    assert list(dict.fromkeys(checks)) == linux_upgrade, checks
    assert rows(report, "window") == dict.fromkeys(CELLS, ("pass", "no window holds it", ""))
    # The fake cells serve plain HTTP: no certificate to read, and said so.
    certificates = rows(report, "certificate")
    assert set(certificates) == set(CELLS) and all(r == "warn" for r, _, _ in certificates.values())
    assert certificates["up-1"][1].endswith(" is http://: no certificate to read")
    # Space where the installer unpacks: this host's /tmp, against twice the installer's few bytes.
    assert all(r == "pass" and " needed (twice the installer's size" in d for r, d, _ in rows(report, "disk").values())
    # The simulated share is a directory every cell's mount point links to: the same share, not an NFS one.
    shares = rows(report, "transfer_share")
    assert shares.pop(None)[0] == "pass"
    local = r".*/transfer is not a mount point on this host's own disk \(.+\)"
    assert set(shares) == set(CELLS) and all(r == "warn" and re.fullmatch(local, d) for r, d, _ in shares.values())
    warned = ("transfer_share", "certificate")
    assert all(r["result"] == "pass" for r in report["checks"] if r["check"] not in warned or not r["cell"])
    assert {cell for cell, _ in rows(report, "reachable").items()} == set(CELLS)
    assert rows(report, "tasks")["up-1"][1].startswith("1 task(s) run; the oldest, vappDeploy")
    assert rows(report, "versions")["up-2"][1] == f"runs vCD {OLD}; the target {NEW} is newer"
    assert report["comment"].startswith(f"Ready: {len(checks) - 6} passed, 6 warning(s), 0 failed")
    assert_nothing_touched(group, salt_master)


def test_a_precheck_names_every_problem_with_its_fix_and_exits_non_zero(
    group, server_group, salt_run_cli, salt_master, salt_cli
):
    servers = group.servers
    group = server_group(jobs=(30.0,), extra_cells=("forgotten-cell",))
    up_1, up_2, up_3 = group.cells[:3]
    up_2.reconfigure(clock_offset=-300)
    up_3.installed_version = "10.4.0"
    group.add_vcenter("vc-a", "up-1").connected = False
    # The drain waits at most 1 s in this plan: the task up-1 runs is older than that once 2 s have passed.
    wait_for(lambda: min(t["age_seconds"] for t in up_1.own_tasks()) >= 2, "up-1's task to be 2 s old")
    installer = salt_cli.run("config.get", "vcd_cell:installer", minion_tgt="up-1").data
    actual = hashlib.sha256(pathlib.Path(installer).read_bytes()).hexdigest()
    # up-3's host mounts a share of its own, not the group's.
    own = change_host(servers["up-3"].url, share="own")["mounted"]
    ret = precheck(
        salt_run_cli,
        f"checksum={'ab' * 32}",
        backup_completed=False,
        cell_pillar={"vcd_cell": {"drain": {"timeout": 1}}},
    )
    report = ret.data
    assert ret.returncode != 0 and report["ready"] is False, report
    assert rows(report, "cell_list")[None][:2] == (
        "fail",
        "vCD lists cell(s) outside the plan: forgotten-cell: the database upgrade would corrupt their work",
    )
    # 300 s behind, as the Date header's whole seconds and the job's own time let it be read.
    result, detail, _ = rows(report, "clock")["up-2"]
    behind = r"the cell's clock is (29\d|30\d) s behind the master's \(tolerance 60 s\)"
    assert result == "fail" and re.fullmatch(behind, detail), detail
    assert rows(report, "clock")["up-1"][0] == "pass"
    assert rows(report, "versions")["up-3"][:2] == ("fail", f"runs vCD 10.4.0 while the group runs {OLD}")
    result, detail, fix = rows(report, "package")["up-1"]
    assert (result, detail) == ("fail", f"{installer}'s SHA-256 is {actual}, not the checksum given ({'ab' * 32})")
    assert "download the installer again" in fix
    assert rows(report, "backup")[None][0] == "fail"
    assert rows(report, "vcenters")[None][:2] == ("fail", "vCenter vc-a is not connected")
    result, detail, fix = rows(report, "transfer_share")[None]
    assert (
        result == "fail"
        and detail.startswith("the cells see different shares: up-1, up-2: ")
        and detail.endswith(f":{own}")
    ), detail
    assert "mount the same NFS export" in fix
    result, detail, fix = rows(report, "tasks")["up-1"]
    assert result == "warn" and "longer than the drain's timeout (1 s, on_timeout: fail)" in detail, detail
    assert "raise vcd_cell:drain:timeout" in fix
    assert all(r["fix"] for r in report["checks"] if r["result"] != "pass"), report
    assert "The window would be refused on: cell_list, package, versions." in report["comment"], report["comment"]
    # up-2's installer larger than /tmp can unpack (a sparse file: it takes no disk), read without a
    # checksum; up-1's deleted; up-3's back on the group's share.
    change_host(servers["up-2"].url, disk="short")
    change_host(servers["up-1"].url, package="missing")
    change_host(servers["up-3"].url, share="group")
    report = precheck(salt_run_cli, backup_completed=True).data
    result, detail, fix = rows(report, "disk")["up-2"]
    unpack = r"[\d.]+ \w+ free at /tmp, [\d.]+ \w+ needed \(twice the installer's size, to unpack it\)"
    assert result == "fail" and re.fullmatch(unpack, detail), detail
    assert fix.startswith("free space at ") and rows(report, "disk")["up-3"][0] == "pass"
    assert rows(report, "package")["up-1"][:2] == ("fail", f"no installer at {installer}")
    assert rows(report, "transfer_share")[None][0] != "fail"
    assert_nothing_touched(group, salt_master)


@contextlib.contextmanager
def own_pillar_changed(pillar_dir, salt_cli, minion_id, **settings):
    """The ``vcd_cell`` pillar of ``minion_id`` with ``settings`` over it while the block runs."""
    path = pillar_dir / f"{minion_id}.sls"
    kept = path.read_text()
    changed = json.loads(kept)
    changed["vcd_cell"].update(settings)
    try:
        path.write_text(json.dumps(changed))
        assert salt_cli.run("saltutil.refresh_pillar", "wait=True", minion_tgt=minion_id).returncode == 0
        yield
    finally:
        path.write_text(kept)
        assert salt_cli.run("saltutil.refresh_pillar", "wait=True", minion_tgt=minion_id).returncode == 0


def test_a_certificate_expiring_in_the_window_fails_and_soon_after_it_warns(
    group, server_group, salt_run_cli, salt_master, salt_cli, pillar_dir, tmp_path
):
    cells = server_group(jobs=())
    authority = Authority()
    ends = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)
    # up-1's API over HTTPS, trusted with the throw-away CA's file; its certificate reissued by the test.
    with CellServer(cells.cells[0], tls=authority.serving(days=400)) as tls:
        ca_file = authority.ca_file(tmp_path)

        def certificate_after_reissue(days):
            reissued = requests.patch(f"{tls.url}/sim/certificate", json={"days": days}, verify=ca_file, timeout=10)
            assert reissued.status_code == 200, reissued.text
            report = precheck(salt_run_cli, window_end=ends.isoformat()).data
            return rows(report, "certificate")["up-1"]

        with own_pillar_changed(pillar_dir, salt_cli, "up-1", api_url=tls.url, api_verify=ca_file):
            result, detail, _ = certificate_after_reissue(400)
            assert result == "pass" and detail.endswith("days after the window ends; trusted"), detail
            result, detail, fix = certificate_after_reissue(10)
            assert result == "warn" and detail.endswith(", 7 day(s) after the window ends"), detail
            result, detail, fix = certificate_after_reissue(2)
            assert result == "fail" and f"before the window ends ({ends:%Y-%m-%d %H:%M} UTC)" in detail, detail
            assert fix.startswith("renew the cell's certificate before the window")
    assert_nothing_touched(cells, salt_master)


def test_a_dry_run_of_the_orchestration_shows_the_precheck_touching_nothing(server_group, salt_run_cli, salt_master):
    group = server_group(jobs=(30.0,))
    group.cells[1].installed_version = "10.4.0"
    ret = salt_run_cli.run("state.orchestrate", "orch.vcd_upgrade", pillar=plan(), test=True, _timeout=STATE_TIMEOUT)
    (states,) = ret.data["data"].values()
    (state,) = states.values()
    assert state["__id__"] == "vcd_upgrade" and state["result"] is False, state
    # The comment is the precheck's table, as salt-run vcd_upgrade.precheck prints it.
    lines = state["comment"].splitlines()
    assert lines[0].split() == ["CHECK", "CELL", "RESULT", "DETAIL", "FIX"]
    assert any(line.split()[:3] == ["versions", "up-2", "fail"] for line in lines), state["comment"]
    assert lines[-1].startswith("Not ready: ") and "The window would be refused on: versions." in lines[-1]
    assert state["report"]["ready"] is False
    assert_nothing_touched(group, salt_master)
    # Ready: None, the window would run.
    group.cells[1].installed_version = OLD
    ret = salt_run_cli.run("state.orchestrate", "orch.vcd_upgrade", pillar=plan(), test=True, _timeout=STATE_TIMEOUT)
    (state,) = next(iter(ret.data["data"].values())).values()
    assert state["result"] is None and state["comment"].splitlines()[-1].startswith("Ready: "), state
    assert_nothing_touched(group, salt_master)


def test_a_precheck_shows_a_person_a_table(server_group, salt_run_cli):
    server_group()
    # salt-run as a person types it: salt-factories' JSON output left out.
    asked = salt_run_cli.cmdline("vcd_upgrade.precheck", pillar=plan(backup_completed=False))
    command = [arg for arg in asked if not arg.startswith("--out")]
    ran = subprocess.run(command, capture_output=True, text=True, timeout=STATE_TIMEOUT, check=False)
    lines = ran.stdout.splitlines()
    assert lines[0].split() == ["CHECK", "CELL", "RESULT", "DETAIL", "FIX"], ran.stdout
    assert any(line.split()[:3] == ["backup", "(group)", "fail"] for line in lines[1:]), ran.stdout
    assert lines[-1].startswith("Not ready: ") and ran.returncode != 0, (ran.stdout, ran.stderr)


def test_a_precheck_refuses_a_key_its_orchestration_does_not_take(salt_run_cli):
    ret = salt_run_cli.run("vcd_upgrade.precheck", "verison=10.6.0", pillar=plan())
    assert ret.returncode != 0 and ret.data["ready"] is False and ret.data["checks"] == [], ret
    assert ret.data["comment"].startswith("unknown key(s) verison: the keys are those of vcd_upgrade"), ret.data


# -- one window at a time -----------------------------------------------------------------------------


class InBackground:
    """An orchestration run by ``salt-run state.orchestrate`` in a process of its own, while a test acts."""

    def __init__(self, salt_run_cli, sls, pillar):
        command = salt_run_cli.cmdline("state.orchestrate", sls, pillar=pillar)
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(self, timeout=STATE_TIMEOUT * 2):
        """(its result, the runner's return), once it ends."""
        out, err = self.process.communicate(timeout=timeout)
        assert out.strip().startswith("{"), (out, err)
        return orchestration_return(json.loads(out))

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=30)


@pytest.fixture
def in_background(salt_run_cli, salt_cli):
    """
    ``in_background(sls, pillar)``: an orchestration running while the test acts. One a failed test left
    running is killed, and its claim on the cells released by hand, so the next test finds them free.
    """
    runs = []

    def start(sls, pillar):
        runs.append(InBackground(salt_run_cli, sls, pillar))
        return runs[-1]

    yield start
    if any(run.process.poll() is None for run in runs):
        for run in runs:
            run.stop()
        held = salt_cli.run("-L", "vcd_cell.window", minion_tgt=",".join(CELLS)).data
        for claim in {answer["claim"]["run"]: answer["claim"] for answer in held.values() if answer["held"]}.values():
            salt_run_cli.run(f"{claim['orchestration']}.release", f"run={claim['run']}")


def held_at_the_drain(server_group):
    """A fresh group whose up-2 runs a job that only the test ends: a window waits at its drain for it."""
    group = server_group(jobs=(0.3,))
    stuck = group.cells[1].add_job(seconds=None, name="vmMigrate", owner="bob")
    return group, stuck


def refused_by(report, run_of, plan_id, *cells):
    """A run refused, touching nothing, its comment naming the run that holds ``cells`` and how to watch it."""
    comment = report["comment"]
    assert f"{', '.join(cells)} are held by run " in comment and f" of {run_of} (plan {plan_id}), by " in comment, (
        comment
    )
    assert f"watch it with salt-run vcd_watch.follow run={plan_id} on its master" in comment, comment
    assert "(alive: pid " in comment and "Nothing was touched" in comment, comment
    assert report.get("retcode") == 1 and report["cells"] == {}, report


def test_a_window_holds_its_cells_the_same_upgrade_a_rollout_and_vcd_active_by_hand_are_refused(
    server_group, in_background, salt_run_cli, salt_cli
):
    group, stuck = held_at_the_drain(server_group)
    first = in_background("orch.vcd_upgrade", plan(upgrade_id="held"))
    # up-1 and up-3 drained and stopped by the upgrade; up-2 waits for its job.
    wait_for(
        lambda: all(group.cells[i].snapshot()["service"] == "maintenance" for i in (0, 2)),
        "the upgrade to stop up-1 and up-3, their maintenance message on, while up-2 drains",
        deadline=STATE_TIMEOUT,
    )
    before = {cell.config.cell_name: len(cell.events()) for cell in group.cells}
    # The same upgrade again, as a second shell or a retry would start it.
    again, report = run_orchestration(salt_run_cli, "orch.vcd_upgrade", plan(upgrade_id="held"))
    assert again is False
    refused_by(report, "vcd_upgrade", "held", *CELLS)
    # A rollout of two of the same cells.
    rolling = {"vcd_rolling": {"cells": ["up-1", "up-2"], "rollout_id": "meanwhile"}}
    rolled, report = run_orchestration(salt_run_cli, "orch.vcd_rolling", rolling)
    assert rolled is False
    refused_by(report, "vcd_upgrade", "held", "up-1", "up-2")
    # vcd.active applied by hand to the cell the upgrade stopped: refused, the cell left stopped.
    ret = salt_cli.run("state.apply", "vcd.active", minion_tgt="up-1", _timeout=STATE_TIMEOUT)
    (active,) = ret.data.values()
    assert active["result"] is False, active
    assert active["comment"].startswith("Refusing bringing back up-1: it is held by the live window of run ")
    assert "of vcd_upgrade (plan held)" in active["comment"] and "force=True" in active["comment"], active
    # A precheck reads beside the live window and names it.
    checked = salt_run_cli.run("vcd_upgrade.precheck", pillar=plan(upgrade_id="other"))
    held = {r["cell"]: r for r in checked.data["checks"] if r["check"] == "window"}
    assert all(r["result"] == "warn" and "held by the live window of run " in r["detail"] for r in held.values())
    # None of them touched a cell: what the cells saw since is the upgrade's drain and the readings.
    for cell in group.cells:
        kinds = {e["event"] for e in cell.events()[before[cell.config.cell_name] :]}
        assert kinds <= {"cli", "status", "job_start", "job_end"}, (cell.config.cell_name, kinds)
    assert group.cells[0].snapshot()["service"] == "maintenance"
    # The first run finishes as if alone once the job ends.
    group.cells[1].end_job(stuck["id"])
    success, report = first.result()
    assert success is True, report
    assert report["window"]["took_over"] is None
    assert [e["event"] for e in db_upgrades(group)] == ["db_upgrade"]
    for cell in group.cells:
        assert cell.snapshot()["service"] == "running" and cell.installed_version == NEW, cell.config.cell_name
        assert len(events_of(cell, "shutdown")) == 1, cell.config.cell_name
    # Its claim released with its end: the cells are free again.
    free = salt_cli.run("vcd_cell.window", minion_tgt="up-1")
    assert free.data["held"] is False, free


def test_an_upgrade_during_a_rollout_is_refused_and_the_rollout_finishes(server_group, in_background, salt_run_cli):
    group, stuck = held_at_the_drain(server_group)
    group.cells[1].end_job(stuck["id"])
    blocker = group.cells[0].add_job(seconds=None, name="vmMigrate", owner="bob")
    # A rollout of two of the group's cells, waiting at up-1's drain for a job the test ends.
    rollout = in_background("orch.vcd_rolling", {"vcd_rolling": {"cells": ["up-1", "up-2"], "rollout_id": "patching"}})
    wait_for(lambda: events_of(group.cells[0], "quiesce"), "the rollout to quiesce up-1", deadline=STATE_TIMEOUT)
    upgraded, report = run_orchestration(salt_run_cli, "orch.vcd_upgrade", plan(upgrade_id="during"))
    assert upgraded is False
    refused_by(report, "vcd_rolling", "patching", "up-1", "up-2")
    assert not any(events_of(cell, "install", "install_failed") for cell in group.cells)
    group.cells[0].end_job(blocker["id"])
    success, report = rollout.result()
    assert success is True, report
    for cell in group.cells:
        assert cell.snapshot()["service"] == "running" and cell.installed_version == OLD, cell.config.cell_name
