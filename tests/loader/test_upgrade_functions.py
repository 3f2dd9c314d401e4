"""
The upgrade's execution functions and the ``vcd_cell.installed`` state, loaded by Salt's own loader
(no daemon), running the stub installer, ``upgrade`` and ``vcd-version`` as real subprocesses on real
pseudo-terminals against a fake server group on loopback.
"""

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from simulator.group import ServerGroup
from simulator.local_minion import load_states
from simulator.model import Cell, CellConfig
from simulator.pillar import write_installer
from simulator.server import CellServer, quiet_request_log

NEW = "10.6.0"


@pytest.fixture
def group(tmp_path):
    """``group(**config)``: two cells sharing a database, each with its loader: (group, [salt functions])."""
    quiet_request_log()
    servers = []

    def make(**config):
        cells = [
            Cell(CellConfig(cell_name=f"cell{i}", primary_ip=f"127.0.0.{i}", admin_password="Adm1n-pw", **config))
            for i in (1, 2)
        ]
        servers.extend(CellServer(cell).start() for cell in cells)
        group = ServerGroup(cells)
        functions = []
        for cell, server in zip(cells, servers[-2:], strict=True):
            root = tmp_path / cell.config.cell_name
            installer = write_installer(root / "tools", server.url, NEW)
            opts, states = load_states(server, root, cli_timeout=30, installer=installer)
            functions.append(states)
        return group, functions

    yield make
    for server in servers:
        server.stop()


def salt_of(states):
    return states.pack["__salt__"]


def stop(group):
    for cell in group.cells:
        cell.shutdown()


def cli_runs(cell, tool):
    return [e["argv"] for e in cell.events() if e["event"] == "cli" and e["tool"] == tool]


@pytest.mark.parametrize("prompts", ["standard", "alternate"])
def test_install_answers_the_installer_by_meaning(group, prompts):
    servers, (first, _) = group(prompts=prompts)
    stop(servers)
    assert salt_of(first)["vcd_cell.version"]() == "10.5.0"
    done = salt_of(first)["vcd_cell.install"]()
    assert done["version"] == NEW
    assert [q["answer"] for q in done["questions"]] == ["y", "n"]
    assert "database" in done["questions"][1]["question"].lower()
    assert servers.cells[0].installed_version == NEW
    assert servers.schema_version == "10.5.0"  # the database upgrade was declined


def test_install_refuses_a_running_cell_before_running_the_installer(group):
    servers, (first, _) = group()
    with pytest.raises(CommandExecutionError, match="The cell is running: drain and shut it down"):
        salt_of(first)["vcd_cell.install"]()
    assert not cli_runs(servers.cells[0], "vmware-vcloud-director-distribution.bin")


def test_install_stops_at_a_question_it_does_not_know_and_quotes_it(group, tmp_path):
    servers, (first, _) = group()
    stop(servers)
    odd = tmp_path / "odd-installer.bin"
    odd.write_text('#!/bin/sh\nprintf "Shall I reformat /opt? [y/n] "\nread answer\necho "answered $answer"\n')
    odd.chmod(0o755)
    with pytest.raises(CommandExecutionError, match=r"does not know how to answer.*'Shall I reformat /opt\? \[y/n\]'"):
        salt_of(first)["vcd_cell.install"](installer=str(odd))


def test_an_installer_failure_is_an_error_quoting_it(group):
    servers, (first, _) = group()
    servers.cells[0].reconfigure(install_fault=True)
    stop(servers)
    with pytest.raises(CommandExecutionError, match=r"(?s)failed \(exit 1\).*rpm exited 1"):
        salt_of(first)["vcd_cell.install"]()


def install_everywhere(servers, functions):
    stop(servers)
    for states in functions:
        salt_of(states)["vcd_cell.install"]()


def test_upgrade_database_needs_the_backup_confirmed(group):
    servers, functions = group()
    install_everywhere(servers, functions)
    with pytest.raises(CommandExecutionError, match="asks for a database backup.*backup_completed=True"):
        salt_of(functions[0])["vcd_cell.upgrade_database"]()
    assert servers.schema_version == "10.5.0"
    with pytest.raises(SaltInvocationError, match="backup_completed must be true or false"):
        salt_of(functions[0])["vcd_cell.upgrade_database"](backup_completed="yes")


def test_upgrade_database_never_continues_with_an_active_cell(group):
    servers, (first, _) = group()
    stop(servers)
    salt_of(first)["vcd_cell.install"]()
    servers.cells[1].service_start()
    with pytest.raises(CommandExecutionError, match=r"cells of the server group still run \(.*cell2 \(127.0.0.2\)"):
        salt_of(first)["vcd_cell.upgrade_database"](backup_completed=True)
    assert servers.schema_version == "10.5.0"
    assert not servers.timeline.since(0)


def test_upgrade_database_upgrades_once_and_then_does_nothing(group):
    servers, functions = group()
    install_everywhere(servers, functions)
    done = salt_of(functions[0])["vcd_cell.upgrade_database"](backup_completed=True)
    assert done["upgraded"] is True
    assert cli_runs(servers.cells[0], "upgrade") == [["--backup-completed"]]
    assert [q["answer"] for q in done["questions"]] == ["y", "n"]  # the upgrade yes, starting the service no
    assert servers.schema_version == NEW
    assert salt_of(functions[1])["vcd_cell.upgrade_database"](backup_completed=True)["upgraded"] is False
    assert [e["event"] for e in servers.timeline.since(0)] == ["db_upgrade"]


def test_cells_lists_the_server_group_through_either_api(group):
    servers, (first, _) = group()
    servers.cells[1].shutdown()
    listed = salt_of(first)["vcd_cell.cells"]()
    assert [(c["name"], c["active"], c["version"]) for c in listed] == [
        ("cell1", True, "10.5.0"),
        ("cell2", False, "10.5.0"),
    ]
    for cell in servers.cells:
        cell.reconfigure(version="5.1")
    legacy = salt_of(first)["vcd_cell.cells"]()
    assert [(c["name"], c["active"], c["primary_ip"]) for c in legacy] == [
        ("cell1", True, "127.0.0.1"),
        ("cell2", False, "127.0.0.2"),
    ]


def test_the_installed_state(group):
    servers, (first, second) = group()
    ret = first["vcd_cell.installed"]("software", version=NEW)
    assert ret["result"] is False and "drain it first (vcd.drained)" in ret["comment"]
    stop(servers)
    first.opts["test"] = True
    try:
        ret = first["vcd_cell.installed"]("software", version=NEW)
    finally:
        first.opts["test"] = False
    assert ret["result"] is None and ret["changes"] == {"version": {"old": "10.5.0", "new": NEW}}
    assert servers.cells[0].installed_version == "10.5.0"
    ret = first["vcd_cell.installed"]("software", version=NEW)
    assert (ret["result"], ret["changes"]) == (True, {"version": {"old": "10.5.0", "new": NEW}})
    again = first["vcd_cell.installed"]("software", version=NEW)
    assert (again["result"], again["changes"]) == (True, {})
    assert "already installed" in again["comment"]
    wrong = second["vcd_cell.installed"]("software", version="10.7.0")
    assert wrong["result"] is False and "the cell reports vCD 10.6.0, not 10.7.0" in wrong["comment"]
