"""
A server group of fake cells sharing one database, and the stub tools of an upgrade (the installer,
the database ``upgrade`` utility, ``vcd-version``), run for real as subprocesses answering on stdin.
"""

import subprocess

import pytest

from simulator.app import create_app
from simulator.group import ServerGroup
from simulator.model import Cell, CellConfig, CellError
from simulator.pillar import write_installer, write_tool_wrappers
from simulator.server import CellServer, quiet_request_log
from tests.simulator.test_model import FakeClock
from tests.simulator.test_rest_api import bearer, provider_token

TOOL_TIMEOUT = 60


@pytest.fixture
def group(tmp_path):
    """Three cells of one server group on 10.5.0, each served on loopback with its tool wrappers."""
    quiet_request_log()
    cells = [Cell(CellConfig(cell_name=f"cell{i}", primary_ip=f"127.0.0.{i}")) for i in (1, 2, 3)]
    servers = [CellServer(cell).start() for cell in cells]
    group = ServerGroup(cells)
    group.servers = servers
    group.tools = {
        cell.config.cell_name: dict(
            write_tool_wrappers(tmp_path / cell.config.cell_name, server.url),
            installer=write_installer(tmp_path / cell.config.cell_name, server.url, "10.6.0"),
        )
        for cell, server in zip(cells, servers, strict=True)
    }
    yield group
    for server in servers:
        server.stop()


def run(path, *args, answers=""):
    return subprocess.run(
        [path, *args], input=answers, capture_output=True, text=True, timeout=TOOL_TIMEOUT, start_new_session=True
    )


def stop_all(group):
    for cell in group.cells:
        cell.shutdown()


def test_any_cell_lists_every_cells_tasks_and_every_cell(group):
    for cell in group.cells:
        cell.reconfigure(version="10.5.1")
        cell.add_job(seconds=None, name=f"job-of-{cell.config.cell_name}")
    client = create_app(group.cells[1]).test_client()
    token = provider_token(client)
    body = client.get("/api/query?type=adminTask&format=records&pageSize=128", headers=bearer(token)).get_json()
    assert sorted(r["cellName"] for r in body["record"]) == ["cell1", "cell2", "cell3"]
    group.cells[2].shutdown()
    headers = dict(bearer(token), Accept="application/json;version=38.1")
    listed = client.get("/cloudapi/1.0.0/cells", headers=headers).get_json()
    assert listed["resultTotal"] == 3
    states = {c["name"]: (c["isActive"], c["productVersion"], c["status"]) for c in listed["values"]}
    assert states == {
        "cell1": (True, "10.5.0", "ACTIVE"),
        "cell2": (True, "10.5.0", "ACTIVE"),
        "cell3": (False, "10.5.0", "INACTIVE"),
    }
    assert all(c["id"].startswith("urn:vcloud:cell:") for c in listed["values"])
    older = client.get("/cloudapi/1.0.0/cells", headers=dict(bearer(token), Accept="application/json;version=37.0"))
    assert "status" not in older.get_json()["values"][0]
    legacy = client.get("/api/query?type=cell&format=records", headers=bearer(token)).get_json()
    assert {(r["name"], r["isActive"], r["version"]) for r in legacy["record"]} == {
        ("cell1", 1, "10.5.0"),
        ("cell2", 1, "10.5.0"),
        ("cell3", 0, "10.5.0"),
    }


def test_the_installer_refuses_a_running_cell_then_upgrades_a_stopped_one(group):
    tools, cell = group.tools["cell1"], group.cells[0]
    refused = run(tools["installer"], answers="y\nn\n")
    assert refused.returncode == 1 and "service is running" in refused.stderr
    cell.shutdown()
    done = run(tools["installer"], answers="y\nn\n")
    assert done.returncode == 0, done.stderr
    assert "Would you like to upgrade now? [y/n]" in done.stdout
    assert "Would you like to run the database upgrade tool now? [y/n]" in done.stdout
    assert run(tools["version_command"]).stdout == "10.6.0"
    (install,) = [e for e in cell.events() if e["event"] == "install"]
    assert (install["version"], install["previous"]) == ("10.6.0", "10.5.0")
    again = run(tools["installer"], answers="y\nn\n")
    assert again.returncode == 1 and "10.6.0 is already installed" in again.stderr


def test_the_installer_does_nothing_unless_the_upgrade_is_confirmed(group):
    group.cells[0].shutdown()
    declined = run(group.tools["cell1"]["installer"], answers="n\n")
    assert declined.returncode == 1 and "Upgrade cancelled" in declined.stdout
    assert group.cells[0].installed_version == "10.5.0"


def test_an_installer_fault_fails_on_the_chosen_cell(group):
    group.cells[1].reconfigure(install_fault=True)
    group.cells[1].shutdown()
    failed = run(group.tools["cell2"]["installer"], answers="y\nn\n")
    assert failed.returncode == 1 and "failed" in failed.stderr
    assert group.cells[1].installed_version == "10.5.0"
    assert [e["event"] for e in group.cells[1].events()].count("install_failed") == 1


def test_a_cell_whose_software_and_database_differ_refuses_to_start(group):
    stop_all(group)
    run(group.tools["cell1"]["installer"], answers="y\nn\n")
    started = run(group.tools["cell1"]["cell_script"], "start")
    assert started.returncode == 1
    assert "software is version 10.6.0 but the database schema is version 10.5.0" in started.stderr
    (refused,) = [e for e in group.cells[0].events() if e["event"] == "start_refused"]
    assert (refused["installed"], refused["schema"]) == ("10.6.0", "10.5.0")


def upgrade_everything_but_the_database(group):
    stop_all(group)
    for name in ("cell1", "cell2", "cell3"):
        assert run(group.tools[name]["installer"], answers="y\nn\n").returncode == 0


def test_the_database_upgrade_asks_in_order_and_records_every_cell(group):
    upgrade_everything_but_the_database(group)
    done = run(group.tools["cell1"]["upgrade_tool"], answers="y\ny\nn\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.index("Welcome to the VMware Cloud Director upgrade utility") < out.index("upgrade the database now")
    assert out.index("upgrade the database now") < out.index("backed up your database")
    assert "active cell" not in out
    assert out.index("Database upgrade complete.") < out.index("start the VMware Cloud Director service now")
    (upgrade,) = [e for e in group.timeline.since(0) if e["event"] == "db_upgrade"]
    assert upgrade["version"] == "10.6.0" and upgrade["by"] == "cell1"
    assert upgrade["cells"] == {name: {"running": False, "version": "10.6.0"} for name in ("cell1", "cell2", "cell3")}
    assert group.schema_version == "10.6.0"
    assert all(run(group.tools[n]["cell_script"], "start").returncode == 0 for n in ("cell1", "cell2", "cell3"))
    current = run(group.tools["cell1"]["upgrade_tool"], "--backup-completed")
    assert current.returncode == 0 and "already at version 10.6.0" in current.stdout
    assert len([e for e in group.timeline.since(0) if e["event"] == "db_upgrade"]) == 1


def test_the_database_upgrade_asks_about_active_cells_and_a_no_stops_it(group):
    stop_all(group)
    run(group.tools["cell1"]["installer"], answers="y\nn\n")
    group.cells[2].service_start()
    refused = run(group.tools["cell1"]["upgrade_tool"], "--backup-completed", answers="y\nn\n")
    assert refused.returncode == 1
    assert "backed up" not in refused.stdout
    assert "An active cell was detected: cell3 (127.0.0.3)" in refused.stdout
    assert group.schema_version == "10.5.0"
    assert not group.timeline.since(0)


def test_a_yes_to_continuing_with_active_cells_is_on_the_timeline(group):
    stop_all(group)
    run(group.tools["cell1"]["installer"], answers="y\nn\n")
    group.cells[1].service_start()
    run(group.tools["cell1"]["upgrade_tool"], "--backup-completed", answers="y\ny\nn\n")
    kinds = [e["event"] for e in group.timeline.since(0)]
    assert kinds == ["db_upgrade_continued_with_active", "db_upgrade"]
    assert group.timeline.since(0)[1]["cells"]["cell2"]["running"] is True


def test_the_database_upgrade_refuses_a_cell_not_upgraded(group):
    upgrade_everything_but_the_database(group)
    assert run(group.tools["cell1"]["upgrade_tool"], "--backup-completed", answers="y\nn\n").returncode == 0
    group.cells[2].installed_version = "10.5.0"
    stale = run(group.tools["cell3"]["upgrade_tool"], "--backup-completed", answers="y\nn\n")
    assert stale.returncode == 1 and "older than the database schema (10.6.0)" in stale.stderr


def test_a_database_upgrade_fault_leaves_the_schema_as_it_was(group):
    upgrade_everything_but_the_database(group)
    group.cells[0].reconfigure(db_upgrade_fault=True)
    failed = run(group.tools["cell1"]["upgrade_tool"], "--backup-completed", answers="y\nn\n")
    assert failed.returncode == 1 and "database upgrade failed" in failed.stderr
    assert group.schema_version == "10.5.0"
    assert [e["event"] for e in group.timeline.since(0)] == ["db_upgrade_failed"]


def test_the_alternate_wording_asks_the_same_questions_otherwise(group):
    for cell in group.cells:
        cell.reconfigure(prompts="alternate")
    upgrade_everything_but_the_database(group)
    done = run(group.tools["cell1"]["upgrade_tool"], answers="y\ny\nn\n")
    assert done.returncode == 0, done.stderr
    assert "Proceed with the database upgrade (y/n)?" in done.stdout
    assert "Confirm that a backup of the database was made (y/n)?" in done.stdout
    assert "[Y/N]" not in done.stdout


def test_a_stopped_cells_vcenter_proxies_are_lost_until_the_heartbeat_failover_or_a_reconnect_moves_them():
    clock = FakeClock()
    cells = [Cell(CellConfig(cell_name=f"cell{i}"), clock=clock) for i in (1, 2)]
    group = ServerGroup(cells)
    group.heartbeat_seconds = 300
    vc1, vc2 = group.add_vcenter("vc1", "cell1"), group.add_vcenter("vc2", "cell1")
    clock.advance(1)
    cells[0].shutdown()
    assert [v["live"] for v in group.vcenter_records()] == [False, False]
    clock.advance(2)
    assert group.reconnect(vc1.id, "cell2") == "cell2"
    clock.advance(297.5)
    assert {v["name"]: v["live"] for v in group.vcenter_records()} == {"vc1": True, "vc2": False}
    clock.advance(0.5)
    assert {v["name"]: (v["proxy"], v["live"]) for v in group.vcenter_records()} == {
        "vc1": ("cell2", True),
        "vc2": ("cell2", True),
    }
    assert group.without_proxy() == {"vc1": [2.0], "vc2": [300.0]}
    moves = [(e["vcenter"], e["via"], e["t"]) for e in group.timeline.since(0) if e["event"] == "proxy_moved"]
    assert moves == [("vc1", "reconnect", 3.0), ("vc2", "heartbeat", 301.0)]
    with pytest.raises(CellError, match="does not serve"):
        group.reconnect(vc2.id, "cell1")


def test_the_virtualcenter_query_and_the_reconnect_action_over_rest(group):
    vcenter = group.add_vcenter("vc1.example.com", "cell1")
    group.cells[0].shutdown()
    client = create_app(group.cells[1]).test_client()
    headers = dict(bearer(provider_token(client)), Accept="application/*+json;version=37.0")
    (record,) = client.get("/api/query?type=virtualCenter&format=records", headers=headers).get_json()["record"]
    assert (record["vcProxy"], record["listenerState"]) == ("cell1", "DISCONNECTED")
    assert record["href"].endswith(f"/api/admin/extension/vimServer/{vcenter.id}")
    action = f"/api/admin/extension/vimServer/{vcenter.id}/action/forcevimserverreconnect"
    answer = client.post(action, headers=headers)
    assert answer.status_code == 202
    task = client.get(answer.get_json()["href"].split("localhost", 1)[-1], headers=headers).get_json()
    assert task["status"] == "success"
    (record,) = client.get("/api/query?type=virtualCenter&format=records", headers=headers).get_json()["record"]
    assert (record["vcProxy"], record["listenerState"]) == ("cell2", "CONNECTED")
