"""
A real salt-master and salt-minion (pytest-salt-factories) driving fake cells through the stub tools.

The master serves this repository as its file_roots (``states/`` for the SLS files, the repository
root for ``_modules/`` and ``_states/``), exactly as the README tells users to deploy it. Each minion
is a cell: its pillar points the module at the stub tools, through small wrappers that tell the tools
which fake cell they act on, and at that cell's REST API. The daemons start once per session; each
test gets a fresh fake cell behind the same URL.
"""

import contextlib
import json
import pathlib

import pytest

from simulator.model import Cell, CellConfig
from simulator.pillar import vcd_cell_pillar
from simulator.server import CellServer, quiet_request_log

REPO = pathlib.Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "vmware-Adm1n"
STATE_TIMEOUT = 180


@pytest.fixture(scope="session")
def pillar_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("pillar")


@pytest.fixture(scope="session")
def salt_master(salt_factories, pillar_dir):
    quiet_request_log()
    overrides = {
        "file_roots": {"base": [str(REPO / "states"), str(REPO)]},
        "pillar_roots": {"base": [str(pillar_dir)]},
    }
    master = salt_factories.salt_master_daemon("vcd-master", overrides=overrides)
    with master.started():
        yield master


@pytest.fixture(scope="session")
def salt_cli(salt_master):
    return salt_master.salt_cli(timeout=STATE_TIMEOUT)


@pytest.fixture(scope="session")
def salt_run_cli(salt_master):
    return salt_master.salt_run_cli(timeout=STATE_TIMEOUT)


@pytest.fixture(scope="session")
def cell_server():
    """One fake cell server for the session's cell1 minion; tests swap in fresh cells."""
    with CellServer(Cell(CellConfig(cell_name="cell1", admin_password=ADMIN_PASSWORD))) as server:
        yield server


@pytest.fixture(scope="session")
def register_pillar(pillar_dir):
    """``register_pillar(minion_id, pillar)``: that minion's pillar, in a top file naming every minion."""

    def register(minion_id, pillar):
        (pillar_dir / f"{minion_id}.sls").write_text(json.dumps(pillar))
        minions = sorted(path.stem for path in pillar_dir.glob("*.sls") if path.stem != "top")
        (pillar_dir / "top.sls").write_text(json.dumps({"base": {m: [m] for m in minions}}))

    return register


@pytest.fixture(scope="session")
def cell_minion(salt_master, salt_cli, register_pillar, tmp_path_factory):
    """
    ``with cell_minion(minion_id, server) as minion:`` a started minion whose cell is the fake cell
    ``server``, its modules synced from the master's file_roots and its pillar loaded.
    """

    @contextlib.contextmanager
    def start(minion_id, server):
        tools = tmp_path_factory.mktemp(f"{minion_id}-tools")
        register_pillar(minion_id, vcd_cell_pillar(server, tools, cli_timeout=60, event_interval=1))
        minion = salt_master.salt_minion_daemon(minion_id)
        with minion.started():
            synced = salt_cli.run("saltutil.sync_all", minion_tgt=minion_id)
            assert synced.returncode == 0, synced
            assert "states.vcd_cell" in synced.data["states"]
            refreshed = salt_cli.run("saltutil.refresh_pillar", "wait=True", minion_tgt=minion_id)
            assert refreshed.returncode == 0, refreshed
            yield minion

    return start


@pytest.fixture(scope="session")
def cell1_minion(cell_minion, cell_server):
    """The minion ``cell1``, driving the session's fake cell server."""
    with cell_minion("cell1", cell_server) as minion:
        yield minion


@pytest.fixture
def fake_cell1(cell_server, cell1_minion):
    """
    A factory for cell1's fake cell: ``fake_cell1(version="5.1", jobs=[1.0, 2.0])`` serves a new cell
    with jobs of those durations (``None``: until cancelled) and returns it.
    """

    def make(jobs=(), **config):
        cell = Cell(CellConfig(cell_name="cell1", admin_password=ADMIN_PASSWORD, **config))
        for seconds in jobs:
            cell.add_job(seconds=seconds, name="vappDeploy", owner="alice")
        return cell_server.replace_cell(cell)

    return make


def state_result(ret):
    """The single state result of a state.apply return, with a readable failure when there is none."""
    assert ret.returncode in (0, 1), ret
    assert isinstance(ret.data, dict) and ret.data, ret
    (result,) = ret.data.values()
    return result


@pytest.fixture
def apply_state(salt_cli):
    """``apply_state("vcd.drained", pillar={...}, test=True)`` on cell1; returns the state's result."""

    def apply(sls, minion="cell1", pillar=None, test=False):
        kwargs = {}
        if pillar:
            kwargs["pillar"] = pillar
        if test:
            kwargs["test"] = True
        ret = salt_cli.run("state.apply", sls, minion_tgt=minion, _timeout=STATE_TIMEOUT, **kwargs)
        return state_result(ret)

    return apply


def events_of(cell, *kinds):
    return [e for e in cell.events() if e["event"] in kinds]
