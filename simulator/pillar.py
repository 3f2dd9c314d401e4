"""
Configuring the vcd_cell Salt modules for a fake cell: the pillar a minion needs to drive it.

The stub tools find their cell through ``VCD_SIM_URL``; a minion's commands do not carry that
variable, so each cell gets two small wrapper scripts that set it, and the pillar points
``cmt_path`` and ``cell_script`` at them, just as a real cell's pillar points at the real tools.
"""

import os
import pathlib

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


# An appliance's database, as its directory reads (sparse: it takes no disk).
DATABASE_SIZE = 256 * 1024 * 1024
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


def inflate(path, size):
    """
    The file at ``path`` made to read as ``size`` bytes (sparse: it takes no disk): an installer or a
    database bigger than the free space, for the precheck's disk check. Returns its path.
    """
    os.truncate(path, size)
    return str(path)


def write_database(directory, size=DATABASE_SIZE):
    """An appliance's database directory (``vcd_cell:database_dir``) holding ``size`` bytes; its path."""
    data = pathlib.Path(directory) / "current" / "pgdata"
    data.mkdir(parents=True, exist_ok=True)
    (data / "base.dat").touch()
    inflate(data / "base.dat", size)
    return str(directory)


def mount_transfer_share(mount_point, export):
    """
    The cell's host mounts ``export`` (a directory standing for an NFS export: the group's, or one of the
    cell's own) at ``mount_point``, here a symbolic link; ``None``: nothing mounted there. A mount point
    the tests re-point so: a cell that sees another share than the group, or none. Returns its path.
    """
    mount_point = pathlib.Path(mount_point)
    if mount_point.is_symlink():
        mount_point.unlink()
    if export is not None:
        mount_point.symlink_to(pathlib.Path(export).resolve(), target_is_directory=True)
    return str(mount_point)


def vcd_cell_pillar(server, tools_dir, appliance=None, transfer_export=None, **settings):
    """
    The ``vcd_cell`` pillar of a minion whose cell is the fake cell ``server``: its tools, its REST API,
    its name and administrator, plus any other ``settings`` (``event_interval=1``, ...). With
    ``appliance`` (an :class:`~simulator.server.ApplianceServer`), the cell is that appliance: its
    management API, root password, vamicli, backup and reboot commands, and its database (a sparse
    :data:`DATABASE_SIZE` bytes, :func:`write_database`). With ``transfer_export`` (the
    group's share, a directory), the cell mounts it at ``transfer`` in ``tools_dir``, its
    ``transfer_share``.
    """
    config = server.cell.config
    pillar = dict(
        write_tool_wrappers(tools_dir, server.url),
        api_url=server.url,
        cell_name=config.cell_name,
        username=config.admin_user,
        password=config.admin_password,
    )
    if appliance is not None:
        tools_dir = pathlib.Path(tools_dir)
        pillar.update(
            {key: _wrapper(tools_dir / pathlib.Path(tool).name, server.url, tool) for key, tool in APPLIANCE_TOOLS},
            appliance_api_url=appliance.url,
            appliance_password=appliance.appliance.config.root_password,
            database_dir=write_database(tools_dir / "vpostgres"),
        )
    if transfer_export is not None:
        pillar["transfer_share"] = mount_transfer_share(pathlib.Path(tools_dir) / "transfer", transfer_export)
    pillar.update(settings)
    return {"vcd_cell": pillar}
