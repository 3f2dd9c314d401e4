"""
Configuring the vcd_cell Salt modules for a fake cell: the pillar a minion needs to drive it.

The stub tools find their cell through ``VCD_SIM_URL``; a minion's commands do not carry that
variable, so each cell gets two small wrapper scripts that set it, and the pillar points
``cmt_path`` and ``cell_script`` at them, just as a real cell's pillar points at the real tools.
"""

import pathlib

from simulator import CELL_MANAGEMENT_TOOL, INSTALLER, UPGRADE_TOOL, VCD_VERSION, VMWARE_VCD_CELL

TOOLS = (
    ("cmt_path", CELL_MANAGEMENT_TOOL),
    ("cell_script", VMWARE_VCD_CELL),
    ("upgrade_tool", UPGRADE_TOOL),
    ("version_command", VCD_VERSION),
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


def write_installer(directory, url, version):
    """The installer of ``version`` for the fake cell at ``url``, named as VMware names it; its path."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"vmware-vcloud-director-distribution-{version}.bin"
    return _wrapper(path, url, INSTALLER, f"VCD_SIM_PACKAGE_VERSION={version} ")


def vcd_cell_pillar(server, tools_dir, **settings):
    """
    The ``vcd_cell`` pillar of a minion whose cell is the fake cell ``server``: its tools, its REST API,
    its name and administrator, plus any other ``settings`` (``event_interval=1``, ...).
    """
    config = server.cell.config
    pillar = dict(
        write_tool_wrappers(tools_dir, server.url),
        api_url=server.url,
        cell_name=config.cell_name,
        username=config.admin_user,
        password=config.admin_password,
    )
    pillar.update(settings)
    return {"vcd_cell": pillar}
