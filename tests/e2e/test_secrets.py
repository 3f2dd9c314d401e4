"""
The administrator password never leaks: a full drain and return to service through a real master and
minion logging at trace level, with a password made to break careless quoting. Looked for everywhere:
every process's command line, sampled throughout, the daemons' logs, the state returns, the job cache
and the events.
"""

import json
import pathlib
import time

import pytest

from simulator.model import Cell, CellConfig
from simulator.pillar import vcd_cell_pillar
from simulator.server import CellServer
from tests.e2e.conftest import REPO, STATE_TIMEOUT, events_of, state_result
from tests.support import CommandLineSampler

PASSWORD = "Sp ace \"dq\" 'sq' $HOME \\back ñandú€"
MINION = "secret-cell"


@pytest.fixture(scope="module")
def secret_cell():
    with CellServer(Cell(CellConfig(cell_name=MINION, admin_password=PASSWORD))) as server:
        yield server


@pytest.fixture(scope="module")
def tracing_salt(salt_factories, secret_cell, tmp_path_factory, extension_root):
    """A master and a minion of their own, both logging at trace level to their log files."""
    pillar_dir = tmp_path_factory.mktemp("secret-pillar")
    pillar = vcd_cell_pillar(secret_cell, tmp_path_factory.mktemp("secret-tools"), event_interval=1)
    (pillar_dir / f"{MINION}.sls").write_text(json.dumps(pillar))
    (pillar_dir / "top.sls").write_text(json.dumps({"base": {MINION: [MINION]}}))
    trace = {"log_level_logfile": "trace"}
    master = salt_factories.salt_master_daemon(
        "secret-master",
        overrides=dict(
            trace,
            file_roots={"base": [str(REPO / "states"), str(extension_root)]},
            pillar_roots={"base": [str(pillar_dir)]},
        ),
    )
    with master.started():
        minion = master.salt_minion_daemon(MINION, overrides=trace)
        with minion.started():
            cli = master.salt_cli(timeout=STATE_TIMEOUT)
            assert cli.run("saltutil.sync_all", minion_tgt=MINION).returncode == 0
            yield master, minion, cli


def files_holding(root, secret):
    """Files under ``root`` whose bytes hold ``secret``."""
    needle = secret.encode()
    return [str(p) for p in pathlib.Path(root).rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_the_password_appears_nowhere(secret_cell, tracing_salt, event_listener):
    master, minion, cli = tracing_salt
    cell = secret_cell.cell
    cell.add_job(seconds=1.0, name="vappDeploy")
    started = time.time()
    with CommandLineSampler(PASSWORD) as sampler:
        drained = cli.run("state.apply", "vcd.drained", minion_tgt=MINION, _timeout=STATE_TIMEOUT)
        active = cli.run("state.apply", "vcd.active", minion_tgt=MINION, _timeout=STATE_TIMEOUT)
    assert state_result(drained)["result"] is True, drained
    assert state_result(active)["result"] is True, active
    # The drain really used the password: the tool asked for it, and the REST API logged in with it.
    tool_runs = [e["argv"] for e in events_of(cell, "cli") if e["tool"] == "cell-management-tool"]
    assert tool_runs and all(argv[:2] == ["-u", "administrator"] and "-p" not in argv for argv in tool_runs)
    assert not events_of(cell, "auth_failure")

    assert sampler.samples > 100 and sampler.leaks == []
    assert PASSWORD not in json.dumps(drained.data) + json.dumps(active.data)
    for log in (pathlib.Path(master.config["log_file"]), pathlib.Path(minion.config["log_file"])):
        assert "TRACE" in log.read_text(errors="replace")
        assert PASSWORD.encode() not in log.read_bytes(), log
    assert files_holding(pathlib.Path(master.config["cachedir"]) / "jobs", PASSWORD) == []
    assert files_holding(pathlib.Path(minion.config["cachedir"]) / "proc", PASSWORD) == []
    events = event_listener.get_events([(master.id, "*"), (minion.id, "*")], after_time=started)
    assert events and not [e.tag for e in events if PASSWORD in repr(e.data)]
