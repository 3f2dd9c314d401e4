"""
The vcd_cell states and modules as Salt's loader builds them on a minion, without a minion daemon:
for driving the real state logic against a fake cell many times over (property tests, benchmarks).
"""

import pathlib

import salt.config
import salt.loader

from simulator.pillar import vcd_cell_pillar

REPO = pathlib.Path(__file__).resolve().parents[1]


def load_states(server, root, **settings):
    """
    ``(opts, states)`` for a minion ``cell1`` whose cell is the fake cell ``server``, its files under
    ``root``; ``settings`` go into its ``vcd_cell`` configuration. Progress events are dropped: no
    minion daemon runs to carry them (they are tested end to end elsewhere).
    """
    root = pathlib.Path(root)
    opts = salt.config.minion_config(None)
    opts.update(
        id="cell1",
        file_client="local",
        cachedir=str(root / "cache"),
        pki_dir=str(root / "pki"),
        sock_dir=str(root / "sock"),
        extension_modules=str(root / "extmods"),
        module_dirs=[str(REPO / "_modules")],
        utils_dirs=[str(REPO / "_utils")],
        states_dirs=[str(REPO / "_states")],
        grains={},
    )
    opts.update(vcd_cell_pillar(server, root / "tools", **settings))
    utils = salt.loader.utils(opts)
    functions = salt.loader.minion_mods(opts, utils=utils)
    functions["event.send"] = lambda tag, data: True
    return opts, salt.loader.states(opts, functions, utils, {})
