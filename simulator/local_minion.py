"""
The vcd_cell states and modules as Salt's loader builds them on a minion, without a minion daemon:
for driving the real state logic against a fake cell many times over (property tests, benchmarks, the
fault matrix, which holds one such minion per fake cell of a server group in one process).
"""

import pathlib

import salt.config
import salt.loader

from simulator.pillar import vcd_cell_pillar

REPO = pathlib.Path(__file__).resolve().parents[1]


def minion_opts(minion_id, root, settings):
    """
    A masterless minion's opts: its files under ``root``, the extension's loader directories, the SLS
    of ``states/`` as its file_roots, and ``settings`` (``{"vcd_cell": {...}}``) in its configuration.
    """
    root = pathlib.Path(root)
    opts = salt.config.minion_config(None)
    opts.update(
        id=minion_id,
        file_client="local",
        # No master, so no event bus: the drain tells its progress in its return instead.
        master_type="disable",
        cachedir=str(root / "cache"),
        pki_dir=str(root / "pki"),
        sock_dir=str(root / "sock"),
        extension_modules=str(root / "extmods"),
        module_dirs=[str(REPO / "_modules")],
        utils_dirs=[str(REPO / "_utils")],
        states_dirs=[str(REPO / "_states")],
        file_roots={"base": [str(REPO / "states")]},
        pillar_roots={"base": [str(root / "pillar")]},
        grains={"id": minion_id},
    )
    opts.update(settings)
    return opts


def load_minion(minion_id, root, settings):
    """``(opts, functions)`` of the minion :func:`minion_opts` describes; ``state.*`` among the functions."""
    opts = minion_opts(minion_id, root, settings)
    utils = salt.loader.utils(opts)
    return opts, salt.loader.minion_mods(opts, utils=utils)


def load_states(server, root, **settings):
    """
    ``(opts, states)`` for a minion ``cell1`` whose cell is the fake cell ``server``, its files under
    ``root``; ``settings`` go into its ``vcd_cell`` configuration. Progress events are dropped: no
    minion daemon runs to carry them (they are tested end to end elsewhere).
    """
    root = pathlib.Path(root)
    opts, functions = load_minion("cell1", root, vcd_cell_pillar(server, root / "tools", **settings))
    functions["event.send"] = lambda tag, data: True
    return opts, salt.loader.states(opts, functions, salt.loader.utils(opts), {})
