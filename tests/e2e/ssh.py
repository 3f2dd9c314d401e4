"""
Cells with no agent: a real OpenSSH server (the distribution's ``sshd``) on a free loopback port, with
throwaway host and client keys, and salt-ssh reaching it through a roster, as the docs tell users to
set it up. Every roster target is a fake cell of its own, with its own thin directory on the host (all
on this machine), its ``vcd_cell`` pillar served by the master's pillar_roots like a minion's.

Two traps of test machines are avoided as the docs say: scp needs the server's sftp subsystem, and
``set_path`` puts the system's ``/usr/bin`` first, since root's ``python3`` may be a pyenv shim (a shell
script) that breaks salt-ssh's shim.
"""

import contextlib
import getpass
import json
import os
import pathlib
import signal
import subprocess

import pytest

import _vcd_cell_lease as leases
from demo.ssh import SSHD, SYSTEM_PATH
from simulator.pillar import vcd_cell_pillar
from tests.support import descendants

REPO = pathlib.Path(__file__).resolve().parents[2]
# Debian's sshd refuses to start without its privilege separation directory.
PRIVSEP_DIR = pathlib.Path("/run/sshd")


@pytest.fixture(scope="session")
def ssh_files(tmp_path_factory):
    """The roster, the known hosts, the targets' thin and lease directories."""
    return tmp_path_factory.mktemp("ssh")


def master_ssh_config(ssh_files):
    """What a master's configuration needs for salt-ssh: the roster, and the server's host keys."""
    return {"roster_file": str(ssh_files / "roster"), "known_hosts_file": str(ssh_files / "known_hosts")}


@pytest.fixture(scope="session")
def sshd(salt_factories, ssh_files):
    """The OpenSSH server, started for the session; its host keys are the only ones salt-ssh trusts."""
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    # StrictModes: pytest's directories are under /tmp, which sshd would find too open for the keys.
    daemon = salt_factories.get_sshd_daemon(
        script_name=SSHD, sshd_config_dict={"Subsystem": "sftp internal-sftp", "StrictModes": "no"}
    )
    with daemon.started():
        (ssh_files / "known_hosts").write_text("".join(f"{key}\n" for key in daemon.get_host_keys()))
        yield daemon


@pytest.fixture(scope="session")
def ssh_targets(sshd, ssh_files, register_pillar, tmp_path_factory):
    """
    ``ssh_targets({target: (server, settings)})``: roster targets whose cells are the fake cells
    ``server`` (their ``vcd_cell`` pillar with ``settings``); returns their lease directories. Leases
    the tests left are ended at the session's end, so no keeper outlives the tests.
    """
    roster, leases = {}, {}
    export = ssh_files / "transfer-export"  # the group's transfer share, mounted by every target
    export.mkdir()

    def add(cells):
        for target, (server, settings) in cells.items():
            tools = tmp_path_factory.mktemp(f"{target}-ssh-tools")
            leases[target] = ssh_files / "leases" / target
            settings = dict({"lease_dir": str(leases[target])}, **settings)
            pillar = vcd_cell_pillar(
                server, tools, transfer_export=export, cli_timeout=60, event_interval=1, **settings
            )
            register_pillar(target, pillar)
            roster[target] = {
                "host": sshd.listen_address,
                "port": sshd.listen_port,
                "user": getpass.getuser(),
                "priv": str(sshd.client_key),
                "thin_dir": str(ssh_files / "thin" / target),
                "set_path": SYSTEM_PATH,
            }
        (ssh_files / "roster").write_text(json.dumps(roster))
        return {target: leases[target] for target in cells}

    yield add
    for directory in leases.values():
        end_lease(directory)


def end_lease(lease_dir):
    """End a lease a test left behind: its keeper sees it gone and ends quietly."""
    (pathlib.Path(lease_dir) / leases.LEASE_FILE).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def salt_ssh_cli(salt_master, sshd, ssh_files):
    """The real ``salt-ssh`` command, with the session master's configuration, roster and client key."""
    return salt_master.salt_ssh_cli(roster_file=str(ssh_files / "roster"), client_key=str(sshd.client_key), timeout=300)


@pytest.fixture(scope="session")
def master_without_daemon(salt_factories, ssh_files, pillar_dir, extension_root):
    """
    A master's configuration whose salt-master never runs, as most salt-ssh users have none: what
    ``salt-run`` needs (its cachedir's ``proc``, the runners synced from the file_roots), no more.
    """
    return without_daemon(salt_factories, "vcd-ssh-only", ssh_files, pillar_dir, extension_root)


@pytest.fixture(scope="session")
def another_master_without_daemon(salt_factories, ssh_files, pillar_dir, extension_root):
    """A second such configuration, with a cache of its own: salt-ssh run from another host, as it were."""
    return without_daemon(salt_factories, "vcd-ssh-elsewhere", ssh_files, pillar_dir, extension_root)


def without_daemon(salt_factories, name, ssh_files, pillar_dir, extension_root):
    """The configuration ``name`` of a master that never runs (see :func:`master_without_daemon`)."""
    overrides = {
        "file_roots": {"base": [str(REPO / "states"), str(extension_root)]},
        "pillar_roots": {"base": [str(pillar_dir)]},
        **master_ssh_config(ssh_files),
    }
    master = salt_factories.salt_master_daemon(name, overrides=overrides)
    pathlib.Path(master.config["cachedir"], "proc").mkdir(parents=True, exist_ok=True)
    synced = master.salt_run_cli().run("saltutil.sync_all")
    assert synced.returncode == 0, synced
    assert not pathlib.Path(master.config["sock_dir"], "master_event_pull.ipc").exists()
    return master


def ssh_return(ret, target):
    """What salt-ssh printed for ``target`` (salt-factories unwraps the answer of a lone target)."""
    assert ret.data is not None, ret
    return ret.data[target] if isinstance(ret.data, dict) and list(ret.data) == [target] else ret.data


def state_of(ret, target):
    """The single state result of a salt-ssh state run on ``target``."""
    states = ssh_return(ret, target)
    assert isinstance(states, dict) and len(states) == 1, ret
    (result,) = states.values()
    return result


class Background:
    """A salt-ssh process run in the background, in a process group of its own, so a test can kill it."""

    def __init__(self, cli, *args, target):
        self.process = subprocess.Popen(
            cli.cmdline(*args, minion_tgt=target),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def ended(self):
        """Whether salt-ssh has exited."""
        return self.process.poll() is not None

    def kill(self):
        """
        SIGKILL to salt-ssh and its ssh client: the connection drops with no goodbye. The client is found
        first: salt-ssh starts it on a terminal of its own, so in a session of its own, out of the group;
        it would die of the terminal's hangup, unless SIGHUP is ignored (as under nohup).
        """
        clients = descendants(self.process.pid)
        os.killpg(self.process.pid, signal.SIGKILL)
        for pid in clients:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.communicate(timeout=60)

    def result(self, timeout=300):
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, json.loads(out) if out.strip().startswith("{") else out, err
