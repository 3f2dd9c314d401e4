"""
The file_roots route without the package: the modules, states and runners synced from file_roots find
their machinery (``_utils``) through Salt's loader alone, and a sync that leaves it behind says so.

Salt runs here with ``python -S``: no site initialisation, so the editable install of this package (a
``.pth`` finder) is not there to help, exactly as on a minion that never installed it.
"""

import json
import subprocess
import sys
import sysconfig

import pytest

from simulator.file_roots import extension_root

TIMEOUT = 180


def salt_without_the_package(tmp_path, script, role, *options):
    """
    ``run(*args)``: Salt's ``script`` (``salt_call``, ``salt_run``) as ``role`` (minion, master) under
    ``tmp_path``, its file_roots serving this repository as a clone would, the package out of reach.
    """
    conf = tmp_path / role
    conf.mkdir()
    config = {
        "id": "cell1",
        "root_dir": str(tmp_path),
        "file_client": "local",
        "file_roots": {"base": [str(extension_root(tmp_path / "srv"))]},
        "cachedir": str(tmp_path / "cache" / role),
        "pki_dir": str(tmp_path / "pki" / role),
        "log_file": str(tmp_path / f"{role}.log"),
    }
    (conf / role).write_text(json.dumps(config))
    # salt-run with no master ever started needs its cache's proc directory.
    (tmp_path / "cache" / role / "proc").mkdir(parents=True)
    env = {"PYTHONPATH": sysconfig.get_paths()["purelib"], "PATH": "/usr/bin:/bin"}
    program = f"import sys, salt.scripts; sys.argv[0] = {script!r}; salt.scripts.{script}()"

    def run(*args):
        command = [sys.executable, "-S", "-c", program, *options, f"--config-dir={conf}", "--out=json", *args]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=TIMEOUT)
        try:
            answer = json.loads(done.stdout)
        except ValueError:
            return done.stdout + done.stderr
        return answer.get("local", answer) if isinstance(answer, dict) else answer

    return run


@pytest.fixture
def salt_call(tmp_path):
    """A masterless ``salt-call --local``."""
    return salt_without_the_package(tmp_path, "salt_call", "minion", "--local")


@pytest.fixture
def salt_run(tmp_path):
    """``salt-run`` on a master's configuration, no master daemon needed for what it runs here."""
    return salt_without_the_package(tmp_path, "salt_run", "master")


def test_without_the_package_the_extension_is_not_there(salt_call):
    assert salt_call("sys.list_functions", "vcd_cell") == []


def test_synced_from_file_roots_the_modules_and_states_import_their_machinery(salt_call):
    synced = salt_call("saltutil.sync_all")
    assert "utils._vcd_cell_drain" in synced["utils"], synced
    assert salt_call("vcd_cell.parse_status", "Job count = 2 Is Active = true") == {
        "job_count": 2,
        "active": True,
        "maintenance": None,
    }
    assert "vcd_cell.drained" in salt_call("sys.list_state_functions", "vcd_cell")


def test_synced_to_the_master_the_runners_import_theirs(salt_run):
    synced = salt_run("saltutil.sync_all")
    assert "runners.vcd_rolling" in synced["runners"] and "utils._vcd_orchestration" in synced["utils"], synced
    # Checked by the shared machinery before anything is touched: the runner loaded with it.
    refused = salt_run("vcd_rolling.rollout", "cells=[]")
    assert refused["result"] is False and "cells must be a non-empty list" in refused["comment"], refused


def test_a_sync_that_leaves_the_machinery_behind_says_so(salt_call):
    salt_call("saltutil.sync_modules")
    answer = salt_call("vcd_cell.parse_status", "Job count = 2 Is Active = true")
    assert "cannot import _vcd_cell_" in str(answer) and "saltutil.sync_all" in str(answer), answer
