"""
Configuring the vcd_cell Salt modules for a fake cell: the pillar a minion needs to drive it.

The stub tools find their cell through ``VCD_SIM_URL``; a minion's commands do not carry that
variable, so each cell gets two small wrapper scripts that set it, and the pillar points
``cmt_path`` and ``cell_script`` at them, just as a real cell's pillar points at the real tools.
"""

import pathlib

from simulator import CELL_MANAGEMENT_TOOL, VMWARE_VCD_CELL


def write_tool_wrappers(directory, url):
    """Write the stub tools' wrappers for the fake cell at ``url``; returns the pillar keys for them."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, tool in (("cmt_path", CELL_MANAGEMENT_TOOL), ("cell_script", VMWARE_VCD_CELL)):
        wrapper = directory / pathlib.Path(tool).name
        wrapper.write_text(f'#!/bin/sh\nVCD_SIM_URL={url} exec {tool} "$@"\n')
        wrapper.chmod(0o755)
        paths[key] = str(wrapper)
    return paths


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
