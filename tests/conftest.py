"""Fixtures shared by every test: fake cells on loopback and running the stub tools for real."""

import functools
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest
from saltfactories.plugins.event_listener import EventListener

from simulator import CELL_MANAGEMENT_TOOL, VMWARE_VCD_CELL
from simulator.appliance import AUTOMATIC, appliance_group
from simulator.model import Cell, CellConfig
from simulator.pillar import vcd_cell_pillar, write_update_package
from simulator.server import ApplianceServer, CellServer, quiet_request_log
from tests.faults.summary import pytest_terminal_summary  # noqa: F401  (the fault matrix's)
from tests.support import tool_env

TOOL_TIMEOUT = 60
EVENTS_KEPT_SECONDS = 3600
LOOPBACK = "127.0.0.1"
APPLIANCE_ROOT_PASSWORD = "r00t at the appliance: Pässwörd"

# Salt's log handlers, set up in this process by its loader and salt-factories, outlive pytest's captured
# streams and print "--- Logging error --- ... I/O operation on closed file" tracebacks at teardown. They
# are noise that would bury a real failure, so a handler that cannot write stays silent.
logging.raiseExceptions = False

# The stub tools start with ``#!/usr/bin/env -S python3 -S``: the tests' own interpreter comes first on
# the PATH of everything they start (minions, salt-call, the fault matrix's runs), not a wrapper found
# first (pyenv's shim is a shell script that took longer than the stub's whole run, hundreds of times a
# run). The stubs need nothing but the standard library, so any python3 is as faithful as this one.
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])


TESTS = pathlib.Path(__file__).parent
E2E = TESTS / "e2e"
# The files that take longest in make test's three processes, longest first (measured from a fresh clone:
# the time from a file's first test to its last, 310 s down to 100 s), started first so that the session
# does not end on one of them with the other processes idle: pytest-xdist's own order (its
# --loadscope-reorder, the files with the most tests first) started them last, and the order in which
# they are collected left the appliance upgrade's (150 s) to the end. Then the other files that run
# daemons or orchestrations (70 s at most), then the quick ones, which fill the gaps.
LONGEST_FIRST = (
    "faults/test_matrix.py",
    # The orchestrations over salt-ssh, each one test of 200 s or more since every run claims its cells and
    # keeps its heartbeat on them: a long tail when they started eighth.
    "e2e/test_ssh_upgrade.py",
    "e2e/test_ssh_rolling.py",
    "e2e/test_rolling.py",
    "e2e/test_upgrade.py",
    "e2e/test_lost_job.py",
    "e2e/test_upgrade_appliance.py",
    "e2e/test_drained.py",
    "e2e/test_rolling_appliance.py",
)
SLOW_DIRECTORIES = ("e2e/", "property/")
# A file renamed or removed would quietly drop out of the order above.
assert all((TESTS / path).is_file() for path in LONGEST_FIRST), "a file of LONGEST_FIRST is gone"


def _rank(item):
    path = item.path.relative_to(TESTS).as_posix()
    if path in LONGEST_FIRST:
        return LONGEST_FIRST.index(path)
    return len(LONGEST_FIRST) + (0 if path.startswith(SLOW_DIRECTORIES) else 1)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """
    The end-to-end tests marked ``e2e`` (one run on Salt 3006 takes ``-m "not e2e or every_salt"``), the
    longest files first (a stable sort: each file's tests keep their order).
    """
    for item in items:
        if E2E in item.path.parents:
            item.add_marker(pytest.mark.e2e)
    items.sort(key=_rank)


@pytest.fixture(scope="session")
def salt_factories_default_root_dir():
    """
    A directory of this session's own for salt-factories' daemons and the scripts that start them. Its
    default, the system's temporary directory, is shared by every session on the machine, and it writes
    each script (which puts the Salt it was generated with first on ``sys.path``) only where none is yet:
    so a Salt 3006 session ran the daemons of whichever Salt's session came first, 3008 in `make test`.
    Under the temporary directory still, keeping the daemons' socket paths short.
    """
    root = pathlib.Path(tempfile.mkdtemp(prefix="vcd-")).resolve()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def event_listener():
    """
    salt-factories' event listener, bound to loopback: its own default listens on every interface,
    and nothing of this project's tests may be reachable from outside the machine.
    """
    # Events kept for as long as a test may run (its own default drops them after 120 s): a test reads the
    # events of a whole orchestration once it ended, which on a loaded machine took over four minutes.
    listener = EventListener(timeout=EVENTS_KEPT_SECONDS)
    listener.host = LOOPBACK
    listener.address = f"tcp://{LOOPBACK}:{listener.port}"
    with listener:
        yield listener


@pytest.fixture
def fake_cell():
    """
    A factory: ``fake_cell(version="5.1", ...)`` serves a new fake cell on 127.0.0.1 and returns its
    :class:`~simulator.server.CellServer`; every cell started is stopped after the test.
    """
    quiet_request_log()
    servers = []

    def start(**config):
        server = CellServer(Cell(CellConfig(**config))).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def fake_appliances(tmp_path):
    """
    A group of three fake appliances, vcd1 the primary, vcd2 a standby, vcd3 a cell-type appliance, on
    vCD 10.5.0 with failover AUTOMATIC: each one's cell and appliance API served on loopback, its tools'
    wrappers written (``appliance.tools``: the ``vcd_cell`` settings for it, ``appliance.api``: its API
    server), and an update package of 10.6.0 (``group.package``: its URL).
    """
    quiet_request_log()
    group = appliance_group({"vcd1": "primary", "vcd2": "standby", "vcd3": "cell"}, failover=AUTOMATIC)
    servers = []
    for appliance in group.appliances:
        appliance.config.root_password = APPLIANCE_ROOT_PASSWORD
        cell_server = CellServer(appliance.cell).start()
        api_server = ApplianceServer(appliance).start()
        servers += [cell_server, api_server]
        appliance.api = api_server
        appliance.tools = vcd_cell_pillar(cell_server, tmp_path / appliance.name, appliance=api_server)["vcd_cell"]
    group.package = write_update_package(tmp_path / "package", "10.6.0", "24000000")
    yield group
    for server in servers:
        server.stop()


def run_stub(tool, server, *args, **kwargs):
    """Run a stub tool against ``server`` as a real subprocess in a session of its own: no terminal."""
    kwargs.setdefault("text", True)
    return subprocess.run(
        [tool, *args],
        env=tool_env(server),
        capture_output=True,
        timeout=TOOL_TIMEOUT,
        start_new_session=True,
        **kwargs,
    )


@pytest.fixture
def cmt():
    """``cmt(server, *args)``: the stub cell-management-tool, run for real."""
    return functools.partial(run_stub, CELL_MANAGEMENT_TOOL)


@pytest.fixture
def vcd_cell_script():
    """``vcd_cell_script(server, *args)``: the stub vmware-vcd-cell, run for real."""
    return functools.partial(run_stub, VMWARE_VCD_CELL)
