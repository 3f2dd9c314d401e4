"""
A fake cell's host changed through its control API (``/sim/host``), read as the module reads a real host.
"""

import os

import pytest
import requests

import _vcd_cell_disk as disk
import _vcd_cell_package as packages
import _vcd_cell_share as share
from simulator.appliance import appliance_group
from simulator.pillar import vcd_cell_pillar, write_installer, write_update_package
from simulator.server import ApplianceServer, CellServer
from tests.support import change_host


@pytest.fixture(name="linux_cell")
def _linux_cell(tmp_path):
    """A served cell whose host has an installer and mounts the group's share: (server, its pillar)."""
    with CellServer() as server:
        installer = write_installer(tmp_path / "installers", server.url, "10.6.0")
        export = tmp_path / "group-share"
        export.mkdir()
        pillar = vcd_cell_pillar(server, tmp_path / "tools", transfer_export=export, installer=installer)
        yield server, pillar["vcd_cell"]


def patch(server, **knobs):
    return requests.patch(f"{server.url}/sim/host", json=knobs, timeout=10)


def test_the_installer_goes_missing_comes_back_and_arrives_altered(linux_cell):
    server, pillar = linux_cell
    published = packages.sha256(pillar["installer"])
    assert requests.get(f"{server.url}/sim/host", timeout=10).json()["package"] == "present"
    change_host(server.url, package="missing")
    assert packages.installer(pillar["installer"])["present"] is False
    change_host(server.url, package="altered")
    altered = packages.installer(pillar["installer"], checksum=True)
    assert altered["present"] and altered["executable"] and altered["sha256"] != published
    change_host(server.url, package="present")
    assert packages.sha256(pillar["installer"]) == published


def test_a_short_disk_is_an_installer_bigger_than_the_space_it_unpacks_in(linux_cell):
    server, pillar = linux_cell
    size = os.stat(pillar["installer"]).st_size
    facts = change_host(server.url, disk="short")
    space = disk.for_installer(pillar["installer"], "/tmp")
    assert space["needed"] > space["free"] and facts["installer"]["bytes"] * 2 == space["needed"]
    assert change_host(server.url, disk="ample")["installer"]["bytes"] == size


def test_the_share_mounted_is_the_groups_a_hosts_own_or_none(linux_cell, tmp_path):
    server, pillar = linux_cell
    group = share.transfer_share(pillar["transfer_share"])["identity"]
    assert group.endswith(f":{(tmp_path / 'group-share').resolve()}")
    own = change_host(server.url, share="own")["mounted"]
    assert share.transfer_share(pillar["transfer_share"])["identity"].endswith(f":{own}") and own != group
    assert change_host(server.url, share="none")["mounted"] is None
    assert share.transfer_share(pillar["transfer_share"])["present"] is False
    change_host(server.url, share="group")
    assert share.transfer_share(pillar["transfer_share"])["identity"] == group


def test_backups_on_the_share_have_the_ages_asked(linux_cell):
    server, pillar = linux_cell
    facts = change_host(server.url, backups=[3 * 86400, 600])
    assert facts["backups"] == [600, 3 * 86400]
    newest = share.newest_backup(pillar["transfer_share"])
    assert newest["count"] == 2 and abs(newest["age_seconds"] - 600) <= 2
    assert change_host(server.url, backups=[])["backups"] == []
    assert share.newest_backup(pillar["transfer_share"])["count"] == 0


def test_a_fresh_cell_on_the_server_gets_a_ready_host(linux_cell):
    server, pillar = linux_cell
    change_host(server.url, package="missing", share="own", backups=[10])
    server.replace_cell(server.cell)
    facts = requests.get(f"{server.url}/sim/host", timeout=10).json()
    assert (facts["package"], facts["disk"], facts["share"], facts["backups"]) == ("present", "ample", "group", [])
    assert os.path.isfile(pillar["installer"])


def test_an_appliance_loses_its_update_package_and_outgrows_its_database_partition(tmp_path):
    appliance = appliance_group({"vcd1": "primary"}).appliances[0]
    package = write_update_package(tmp_path / "update", "10.6.0", "24000000")
    with CellServer(appliance.cell) as server, ApplianceServer(appliance) as api:
        pillar = vcd_cell_pillar(server, tmp_path / "tools", appliance=api, update_repo=package)["vcd_cell"]
        change_host(server.url, package="missing")
        assert packages.update_package(package)["present"] is False
        change_host(server.url, package="present", disk="short")
        assert packages.update_package(package)["present"] is True
        space = disk.for_database(pillar["database_dir"])
        assert space["needed"] > space["free"]
        refused = patch(server, package="altered")
        assert refused.status_code == 400 and "no checksum to alter" in refused.json()["error"]


def test_bad_knobs_are_refused_by_name(linux_cell):
    server, _ = linux_cell
    assert patch(server, share="nfs").json() == {"error": "share must be one of group, own, none, not 'nfs'"}
    assert "colour" in patch(server, colour="red").json()["error"]
    refused = patch(server, backups=[-1])
    assert refused.status_code == 400 and refused.json()["error"].startswith("backups must be a list of ages")
    with CellServer() as bare:
        missing = requests.get(f"{bare.url}/sim/host", timeout=10)
        assert missing.status_code == 404 and "no host laid out" in missing.json()["error"]
