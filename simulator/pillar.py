"""
Configuring the vcd_cell Salt modules for a fake cell: the pillar a minion needs to drive it.

The stub tools find their cell through ``VCD_SIM_URL``; a minion's commands do not carry that
variable, so each cell gets two small wrapper scripts that set it, and the pillar points
``cmt_path`` and ``cell_script`` at them, just as a real cell's pillar points at the real tools.
"""

import pathlib
import urllib.parse

from simulator import (
    BOOT_ID,
    CELL_MANAGEMENT_TOOL,
    CREATE_BACKUP,
    INSTALLER,
    REBOOT,
    UPGRADE_TOOL,
    VAMICLI,
    VCD_VERSION,
    VMWARE_VCD_CELL,
)
from simulator.appliance_tools import MANIFEST
from simulator.host import Host, mount_transfer_share, write_database

TOOLS = (
    ("cmt_path", CELL_MANAGEMENT_TOOL),
    ("cell_script", VMWARE_VCD_CELL),
    ("upgrade_tool", UPGRADE_TOOL),
    ("version_command", VCD_VERSION),
    ("reboot_command", REBOOT),
    ("boot_id_command", BOOT_ID),
)


def _wrapper(path, url, tool, variables=""):
    path.write_text(f'#!/bin/sh\nVCD_SIM_URL={url} {variables}exec {tool} "$@"\n')
    path.chmod(0o755)
    return str(path)


def write_tool_wrappers(directory, url):
    """Write the stub tools' wrappers for the fake cell at ``url``; returns the pillar keys for them."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return {key: _wrapper(directory / pathlib.Path(tool).name, url, tool) for key, tool in TOOLS}


APPLIANCE_TOOLS = (
    ("vamicli", VAMICLI),
    ("backup_command", CREATE_BACKUP),
)


def write_update_package(directory, version, build):
    """
    An extracted appliance update package of ``version`` (e.g. ``"10.6.0"``) and ``build`` in
    ``directory``, as ``tar -zxf VMware_Cloud_Director_..._update.tar.gz`` leaves it (its manifest is
    what the simulator's vamicli reads); returns its ``file://`` URL for ``vamicli update --repo``.
    """
    manifest = pathlib.Path(directory) / MANIFEST
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<update>\n  <product>VMware Cloud Director</product>\n'
        f"  <version>{version}.{build}</version>\n  <fullVersion>{version}.{build} Build {build}</fullVersion>\n"
        "</update>\n"
    )
    return pathlib.Path(directory).resolve().as_uri()


def write_installer(directory, url, version):
    """The installer of ``version`` for the fake cell at ``url``, named as VMware names it; its path."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"vmware-vcloud-director-distribution-{version}.bin"
    return _wrapper(path, url, INSTALLER, f"VCD_SIM_PACKAGE_VERSION={version} ")


def vcd_cell_pillar(server, tools_dir, appliance=None, transfer_export=None, **settings):
    """
    The ``vcd_cell`` pillar of a minion whose cell is the fake cell ``server``: its tools, its REST API,
    its name and administrator, plus any other ``settings`` (``event_interval=1``, ...). With
    ``appliance`` (an :class:`~simulator.server.ApplianceServer`), the cell is that appliance: its
    management API, root password, vamicli, backup and reboot commands, and its database (a sparse
    :data:`~simulator.host.DATABASE_SIZE` bytes). With ``transfer_export`` (the group's share, a
    directory), the cell mounts it at ``transfer`` in ``tools_dir``, its ``transfer_share``.

    The cell's host so laid out (:class:`~simulator.host.Host`) is handed to ``server``, whose control
    API changes it (``PATCH /sim/host``).
    """
    config = server.cell.config
    tools_dir = pathlib.Path(tools_dir)
    pillar = dict(
        write_tool_wrappers(tools_dir, server.url),
        api_url=server.url,
        cell_name=config.cell_name,
        username=config.admin_user,
        password=config.admin_password,
    )
    if appliance is not None:
        pillar.update(
            {key: _wrapper(tools_dir / pathlib.Path(tool).name, server.url, tool) for key, tool in APPLIANCE_TOOLS},
            appliance_api_url=appliance.url,
            appliance_password=appliance.appliance.config.root_password,
            database_dir=write_database(tools_dir / "vpostgres"),
        )
    if transfer_export is not None:
        pillar["transfer_share"] = mount_transfer_share(tools_dir / "transfer", transfer_export)
    pillar.update(settings)
    server.attach_host(_host_of(tools_dir, pillar, transfer_export))
    return {"vcd_cell": pillar}


def _host_of(tools_dir, pillar, transfer_export):
    """The :class:`~simulator.host.Host` the ``vcd_cell`` settings ``pillar`` describe."""
    repo = urllib.parse.urlparse(pillar.get("update_repo") or "")
    return Host(
        tools_dir,
        installer=pillar.get("installer"),
        update_repo=repo.path if repo.scheme == "file" else None,
        database_dir=pillar.get("database_dir"),
        share=pillar.get("transfer_share") if transfer_export is not None else None,
        group_export=transfer_export,
        unpack_dir=pillar.get("unpack_dir", "/tmp"),
    )
