"""
A real salt-master and salt-minion (pytest-salt-factories) driving fake cells through the stub tools.

The master serves this repository as its file_roots (``states/`` for the SLS files, the repository
root for ``_modules/``, ``_states/``, ``_runners/`` and ``_utils/``, as a clean clone holds them), exactly
as the docs tell users to deploy it. Each minion
is a cell: its pillar points the module at the stub tools, through small wrappers that tell the tools
which fake cell they act on, and at that cell's REST API. The daemons start once per session; each
test gets a fresh fake cell behind the same URL.
"""

import concurrent.futures
import contextlib
import json
import pathlib
import subprocess
from types import SimpleNamespace

import psutil
import pytest

from simulator import file_roots
from simulator.appliance import AUTOMATIC, appliance_group
from simulator.group import ServerGroup
from simulator.model import Cell, CellConfig
from simulator.pillar import vcd_cell_pillar, write_installer
from simulator.server import ApplianceServer, CellServer, quiet_request_log
from tests.conftest import APPLIANCE_ROOT_PASSWORD
from tests.e2e import ssh
from tests.support import assert_every_shutdown_follows_a_drained_reading, wait_for

REPO = pathlib.Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "vmware-Adm1n"
STATE_TIMEOUT = 180
# The shared daemons log at debug (salt-factories' default), so a secret in anything the extension, a job,
# an event or a state logs is caught in their log files. Salt's plumbing says nothing of jobs there (the
# loader listing and loading modules, the file server, the transport, asyncio, salt-factories' own engine):
# it logs at info. Logging was about a tenth of the tests' CPU (py-spy), two thirds of it this plumbing.
QUIET_PLUMBING = {
    "log_granular_levels": dict.fromkeys(
        (
            "salt.loader",
            "salt.utils.lazy",
            "salt.fileserver",
            "salt.fileclient",
            "salt.transport",
            "salt.utils.process",
            "salt.utils.decorators",
            "asyncio",
            "saltfactories",
        ),
        "info",
    )
}


# The cells reached through salt-ssh (tests/e2e/ssh.py).
ssh_files = ssh.ssh_files
sshd = ssh.sshd
ssh_targets = ssh.ssh_targets
salt_ssh_cli = ssh.salt_ssh_cli
master_without_daemon = ssh.master_without_daemon
another_master_without_daemon = ssh.another_master_without_daemon


@pytest.fixture(scope="session")
def pillar_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("pillar")


@pytest.fixture(scope="session")
def extension_root(tmp_path_factory):
    """The repository as a clean clone serves it: the loader directories, and the SLS the tests add."""
    return file_roots.extension_root(tmp_path_factory.mktemp("srv"), "tests/e2e/sls")


@pytest.fixture(scope="session")
def salt_master(salt_factories, pillar_dir, extension_root, ssh_files):
    quiet_request_log()
    overrides = {
        **QUIET_PLUMBING,
        "file_roots": {"base": [str(REPO / "states"), str(extension_root)]},
        "pillar_roots": {"base": [str(pillar_dir)]},
        # The cells without a minion, reached through salt-ssh (tests/e2e/ssh.py).
        **ssh.master_ssh_config(ssh_files),
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
def runners_synced(salt_run_cli):
    """The master's runners and their machinery (_utils) synced from its file_roots, as the docs tell users to do."""
    synced = salt_run_cli.run("saltutil.sync_all")
    assert synced.returncode == 0, synced
    listed = salt_run_cli.run("doc.runner")
    assert {"vcd_rolling.rollout", "vcd_upgrade.upgrade"} <= set(listed.data), listed


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


def start_all(minions):
    """Start salt-factories daemons at once, each in a thread of its own: each start waits on its own."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(minions)) as pool:
        for started in [pool.submit(minion.start) for minion in minions]:
            started.result()


@pytest.fixture(scope="session")
def cell_minions(salt_master, salt_cli, register_pillar, tmp_path_factory):
    """
    ``with cell_minions({minion_id: (server, settings)}, overrides=None) as minions:`` started minions
    (started at once, with ``overrides`` of their configuration),
    each whose cell is the fake cell ``server``, their modules synced from the master's file_roots and
    their pillar loaded, with ``settings`` added to each one's ``vcd_cell`` pillar. Every cell mounts
    the same transfer share.
    """
    export = tmp_path_factory.mktemp("transfer-export")

    @contextlib.contextmanager
    def start(cells, overrides=None):
        for minion_id, (server, settings) in cells.items():
            tools = tmp_path_factory.mktemp(f"{minion_id}-tools")
            pillar = vcd_cell_pillar(
                server, tools, transfer_export=export, cli_timeout=60, event_interval=1, **settings
            )
            register_pillar(minion_id, pillar)
        minions = {
            minion_id: salt_master.salt_minion_daemon(minion_id, overrides=dict(QUIET_PLUMBING, **(overrides or {})))
            for minion_id in cells
        }
        targets = ",".join(minions)
        try:
            start_all(minions.values())
            synced = salt_cli.run("-L", "saltutil.sync_all", minion_tgt=targets)
            assert synced.returncode == 0, synced
            # salt-factories unwraps the answer of a lone minion.
            answers = synced.data if len(minions) > 1 else {targets: synced.data}
            assert all("states.vcd_cell" in answers[m]["states"] for m in minions), synced
            refreshed = salt_cli.run("-L", "saltutil.refresh_pillar", "wait=True", minion_tgt=targets)
            assert refreshed.returncode == 0, refreshed
            yield minions
            # A drain a test left failed holds a lease: its keeper must not outlive the tests.
            salt_cli.run("-L", "vcd_cell.release_lease", minion_tgt=targets)
        finally:
            for minion in minions.values():
                minion.terminate()

    return start


@pytest.fixture(scope="session")
def upgrade_cells(cell_minions, tmp_path_factory):
    """
    ``with upgrade_cells(names, version) as cells:`` a fake cell server per name, each behind a started
    minion with an installer of ``version``: ``cells.servers``, ``cells.minions``. Tests serve fresh
    server groups behind them.
    """

    @contextlib.contextmanager
    def start(names, version):
        installers = tmp_path_factory.mktemp("installers")
        with contextlib.ExitStack() as stack:
            servers = {
                name: stack.enter_context(CellServer(Cell(CellConfig(cell_name=name, admin_password=ADMIN_PASSWORD))))
                for name in names
            }
            cells = {
                name: (server, {"installer": write_installer(installers / name, server.url, version)})
                for name, server in servers.items()
            }
            yield SimpleNamespace(servers=servers, minions=stack.enter_context(cell_minions(cells)))

    return start


@pytest.fixture
def ssh_group(fake_cell, ssh_targets, tmp_path):
    """
    ``ssh_group(names, jobs, installer=None, **config)``: fresh fake cells behind those roster targets, each
    with ``jobs`` running (their seconds) and, with ``installer`` (a version), an installer of that version;
    the cells one server group (vCD lists each: the orchestrations' precheck reads it).
    """

    def make(names, jobs, installer=None, **config):
        servers = {name: fake_cell(cell_name=name, admin_password=ADMIN_PASSWORD, **config) for name in names}
        for server in servers.values():
            for seconds in jobs:
                server.cell.add_job(seconds=seconds, name="vappDeploy", owner="alice")
        ssh_targets(
            {
                name: (
                    server,
                    {"installer": write_installer(tmp_path / name, server.url, installer)} if installer else {},
                )
                for name, server in servers.items()
            }
        )
        ServerGroup([server.cell for server in servers.values()])
        return {name: server.cell for name, server in servers.items()}

    return make


def fresh_appliances(servers, roles, jobs=(0.5, 1.0), appliance=None, failover=AUTOMATIC, **config):
    """
    A new group of fake appliances (``roles``: ``{cell name: role}``) served behind ``servers``, each
    appliance configured with ``appliance.get(name, {})`` and each cell with ``config`` and ``jobs``
    running; returns the group.
    """
    settings = {
        name: dict({"root_password": APPLIANCE_ROOT_PASSWORD}, **(appliance or {}).get(name, {})) for name in roles
    }
    group = appliance_group(roles, failover=failover, appliances=settings, admin_password=ADMIN_PASSWORD, **config)
    for member in group.appliances:
        name = member.cell.config.cell_name
        servers[name].cell.replace_cell(member.cell)
        servers[name].api.replace_appliance(member)
        for seconds in jobs:
            member.cell.add_job(seconds=seconds, name="vappDeploy", owner="alice")
    return group


@pytest.fixture(scope="session")
def appliance_minions(cell_minions):
    """
    ``with appliance_minions(roles, **settings) as appliances:`` fake appliances (``roles``: ``{cell
    name: role}``), each its cell and its appliance API served, behind started minions with ``settings``
    added to their ``vcd_cell`` pillar. ``appliances.servers[name].cell`` / ``.api``,
    ``appliances.minions``, and ``appliances.fresh(jobs=..., appliance=..., **config)``, which serves a
    new group behind them (:func:`fresh_appliances`).
    """

    @contextlib.contextmanager
    def start(roles, **settings):
        first = appliance_group(roles, admin_password=ADMIN_PASSWORD)
        with contextlib.ExitStack() as stack:
            servers = {}
            for member in first.appliances:
                member.config.root_password = APPLIANCE_ROOT_PASSWORD
                cell = stack.enter_context(CellServer(member.cell))
                servers[member.name] = SimpleNamespace(cell=cell, api=stack.enter_context(ApplianceServer(member)))
            cells = {name: (server.cell, dict(settings, appliance=server.api)) for name, server in servers.items()}
            minions = stack.enter_context(cell_minions(cells))
            yield SimpleNamespace(
                servers=servers,
                minions=minions,
                fresh=lambda **changes: fresh_appliances(servers, roles, **changes),
            )

    return start


@pytest.fixture(scope="session")
def cell_minion(cell_minions):
    """
    ``with cell_minion(minion_id, server, overrides=None, **settings) as minion:`` one minion, as
    :func:`cell_minions` starts them.
    """

    @contextlib.contextmanager
    def start(minion_id, server, overrides=None, **settings):
        with cell_minions({minion_id: (server, settings)}, overrides) as minions:
            yield minions[minion_id]

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


class BackgroundRun:
    """A ``salt`` command running in its own process, so a test can act while it runs, or abandon it."""

    def __init__(self, cmdline):
        self.process = subprocess.Popen(cmdline, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(self, timeout=180):
        """The state's result, as :func:`state_result` reads it."""
        out, err = self.process.communicate(timeout=timeout)
        data = json.loads(out) if out.strip().startswith("{") else out
        (answer,) = data.values() if isinstance(data, dict) else (data,)
        return state_result(SimpleNamespace(returncode=self.process.returncode, data=answer, stderr=err))

    def abandon(self):
        self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture
def in_background(salt_cli):
    """``in_background(sls, pillar)`` starts a state.apply on cell1 and returns its :class:`BackgroundRun`."""
    runs = []

    def start(sls, pillar=None):
        kwargs = {"pillar": pillar} if pillar else {}
        runs.append(BackgroundRun(salt_cli.cmdline("state.apply", sls, minion_tgt="cell1", **kwargs)))
        return runs[-1]

    yield start
    for run in runs:
        if run.process.poll() is None:
            run.abandon()


def wait_for_event(cell, kind):
    return wait_for(lambda: events_of(cell, kind), f"a {kind} event on the fake cell")


def kill_midway_and_restart_master(command, reached, what, salt_master, minions, salt_cli):
    """
    Start ``command`` (an orchestration), kill it once ``reached()`` holds, restart the master, and wait
    until every minion of ``minions`` answers it again.
    """
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(reached, what, deadline=120)
    finally:
        first.kill()
        first.wait(timeout=30)
    salt_master.terminate()
    salt_master.start()
    # A salt-minion restarts itself when its master went away (its keepalive); salt-factories starts
    # minions with the keepalive off, so the test does that restart.
    for minion in minions.values():
        minion.terminate()
    start_all(minions.values())

    def all_answer():
        return all(salt_cli.run("test.ping", minion_tgt=name, _timeout=10).data is True for name in minions)

    wait_for(all_answer, "the minions to reconnect to the restarted master", deadline=120, pause=1)


def run_orchestration(salt_run_cli, sls, pillar):
    """``salt-run state.orchestrate SLS pillar=...``; returns (its result, the runner's return)."""
    ret = salt_run_cli.run("state.orchestrate", sls, pillar=pillar, _timeout=STATE_TIMEOUT * 2)
    assert isinstance(ret.data, dict), ret
    return orchestration_return(ret.data)


def orchestration_return(data):
    """(result, the runner's return) of what ``salt-run state.orchestrate`` printed as JSON."""
    (master_states,) = data["data"].values()
    (state,) = master_states.values()
    return state["result"], state["changes"]["return"]


def kill_with_its_jobs(minion):
    """
    SIGKILL a minion daemon and every process it started (its running jobs and the tools they run), as
    an OOM kill or a service restart ends them, then let salt-factories forget it; ``minion.start()``
    starts it again.
    """
    daemon = psutil.Process(minion.pid)
    processes = [daemon, *daemon.children(recursive=True)]
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(processes, timeout=30)
    minion.terminate()


def absolute(cell, event):
    """An event's time on the axis shared by cells made with the same clock."""
    return cell.epoch + event["t"]


def assert_nothing_lost(cells):
    """Each cell shut down once, drained (0 jobs, scheduler inactive), no job aborted."""
    for name, cell in cells.items():
        assert not events_of(cell, "job_abort"), name
        assert_every_shutdown_follows_a_drained_reading(cell)
        (shutdown,) = events_of(cell, "shutdown")
        assert (shutdown["job_count"], shutdown["active"]) == (0, False), name


def assert_one_after_another(cells, order):
    """Each cell (``cells``: ``{name: fake cell}``, in ``order``) serving again before the next was quiesced."""
    serving_again = [absolute(cells[n], events_of(cells[n], "serving")[-1]) for n in order]
    quiesced = [absolute(cells[n], events_of(cells[n], "quiesce")[0]) for n in order]
    assert all(serving_again[i] < quiesced[i + 1] for i in range(len(order) - 1)), (serving_again, quiesced)


def assert_a_finish_event_each(event_listener, master, names, after_time):
    """The rollout fired on the master's bus a ``vcd/rolling/<cell>/finish`` event per cell, each ``done``."""

    def finish_events():
        tags = [(master.id, f"vcd/rolling/{name}/finish") for name in names]
        found = event_listener.get_events(tags, after_time=after_time)
        return found if len(found) == len(names) else None

    finished = wait_for(finish_events, "a finish event per cell")
    assert sorted(e.data["cell"] for e in finished) == sorted(names)
    assert all(e.data["result"] == "done" for e in finished)
