"""
Cells with no salt-minion, reached through a real OpenSSH server by real ``salt-ssh`` processes
(tests/e2e/ssh.py): the drain, ``vcd.active``, test mode and the module's functions, with the same
safety as through a minion, proven on the fake cell's timeline and the host's log.
"""

from types import SimpleNamespace

import pytest

import _vcd_cell_lease as leases
from tests.e2e.conftest import ADMIN_PASSWORD, events_of
from tests.e2e.masterless import MasterlessMinion
from tests.e2e.ssh import Background, end_lease, ssh_return, state_of
from tests.support import (
    SALT_SSH_3006_SHIPS_NO_UTILS,
    CommandLineSampler,
    assert_every_shutdown_follows_a_drained_reading,
    command_lines,
    end_running_jobs,
    wait_for,
)

TARGET = "ssh-cell"


@pytest.fixture
def ssh_cell(fake_cell, ssh_targets, ssh_files):
    """``ssh_cell(jobs=[...], **config)``: a new fake cell behind the roster target ``ssh-cell``."""

    def make(jobs=(), settings=None, **config):
        server = fake_cell(cell_name=TARGET, admin_password=ADMIN_PASSWORD, **config)
        for seconds in jobs:
            server.cell.add_job(seconds=seconds, name="vappDeploy", owner="alice")
        (lease_dir,) = ssh_targets({TARGET: (server, settings or {})}).values()
        return server, lease_dir

    return make


def held(lease_dir, lock):
    """Whether a live process holds ``lock`` in the lease directory (the drain's claim, the keeper)."""
    return leases.held_by_a_live_process(SimpleNamespace(lease_dir=str(lease_dir)), lock)


def read_lease(lease_dir):
    return leases.read_lease(SimpleNamespace(lease_dir=str(lease_dir)))


def ssh_clients(port):
    """The ssh client processes connected to the test's sshd."""
    clients = [raw.split(b"\0") for raw in command_lines()]
    return [argv for argv in clients if argv[0].endswith(b"ssh") and str(port).encode() in b" ".join(argv)]


def host_log(ssh_files):
    """The log salt-ssh's salt-call keeps on the host, in the target's thin directory."""
    path = ssh_files / "thin" / TARGET / "running_data" / "salt-call.log"
    return path.read_text() if path.exists() else ""


def assert_drained_safely(cell):
    kinds = [e["event"] for e in cell.events()]
    assert kinds.index("quiesce") < kinds.index("shutdown"), kinds
    (shutdown,) = events_of(cell, "shutdown")
    assert (shutdown["job_count"], shutdown["active"]) == (0, False)
    assert not events_of(cell, "job_abort")
    assert_every_shutdown_follows_a_drained_reading(cell)


@pytest.mark.every_salt
@SALT_SSH_3006_SHIPS_NO_UTILS
def test_a_drain_and_active_over_ssh_lose_no_job_and_leak_no_password(ssh_cell, salt_ssh_cli, ssh_files):
    server, _ = ssh_cell(jobs=[None, None], version="8.10")
    cell = server.cell
    with CommandLineSampler(ADMIN_PASSWORD) as sampler:
        run = Background(salt_ssh_cli, "state.apply", "vcd.drained", target=TARGET)
        # Or salt-ssh's end, which tells at once why there was none (as on Salt 3006, see its mark).
        wait_for(lambda: events_of(cell, "quiesce") or run.ended(), "the drain to quiesce the cell over ssh", 120)
        assert events_of(cell, "quiesce"), run.result()
        # Its jobs end once the drain has told its progress with them running (in the host's log, live).
        wait_for(lambda: f"vcd/cell/{TARGET}/drain" in host_log(ssh_files), "the drain's progress", deadline=120)
        assert cell.snapshot()["service"] == "running"
        end_running_jobs(server.url)
        code, data, err = run.result()
    assert code == 0, (data, err)
    (result,) = data[TARGET].values()
    assert result["result"] is True, result["comment"]
    assert "drained of 2 job(s)" in result["comment"]
    assert_drained_safely(cell)
    # No bus from the host: its log says what happened, the progress included.
    log = host_log(ssh_files)
    assert f"vcd/cell/{TARGET}/drain" in log and '"job_count": 2' in log, log
    assert f"vcd/cell/{TARGET}/drained" in log and "drained of 2 job(s)" in log
    back = state_of(salt_ssh_cli.run("state.apply", "vcd.active", minion_tgt=TARGET), TARGET)
    assert back["result"] is True and back["changes"].get("started") is True, back
    assert cell.snapshot()["service"] == "running" and cell.snapshot()["quiesced"] is False
    # The password went to the tool's prompt on the host: no command line held it, nor the return or log.
    assert sampler.samples > 10 and not sampler.leaks, sampler.leaks
    cli_runs = [e["argv"] for e in events_of(cell, "cli")]
    assert cli_runs and not any(ADMIN_PASSWORD in " ".join(argv) for argv in cli_runs)
    assert ADMIN_PASSWORD not in str(data) + err + str(back) + host_log(ssh_files)


def test_test_mode_over_ssh_touches_nothing(ssh_cell, salt_ssh_cli):
    server, _ = ssh_cell(jobs=[None], version="8.10")
    result = state_of(salt_ssh_cli.run("state.apply", "vcd.drained", "test=True", minion_tgt=TARGET), TARGET)
    assert result["result"] is None and "would be quiesced" in result["comment"], result
    assert not events_of(server.cell, "quiesce", "shutdown")
    end_running_jobs(server.url)


def test_the_modules_functions_over_ssh_with_the_pillar_through_a_state_run(ssh_cell, salt_ssh_cli):
    server, _ = ssh_cell(jobs=[None], version="8.10")
    # On its own, an execution function gets no pillar over salt-ssh: the error names the missing setting.
    alone = ssh_return(salt_ssh_cli.run("vcd_cell.status", minion_tgt=TARGET), TARGET)
    assert "vcd_cell:cmt_path" in str(alone), alone
    called = state_of(
        salt_ssh_cli.run("state.single", "vcd_cell.call", "name=vcd_cell.status", minion_tgt=TARGET), TARGET
    )
    assert called["result"] is True, called
    assert called["changes"]["return"]["job_count"] == 1 and called["changes"]["return"]["active"] is True
    refused = state_of(salt_ssh_cli.run("state.single", "vcd_cell.call", "name=test.ping", minion_tgt=TARGET), TARGET)
    assert refused["result"] is False and "not a function of the vcd_cell execution module" in refused["comment"]
    end_running_jobs(server.url)


def test_a_killed_salt_ssh_leaves_the_cell_drained_safely_or_released_by_its_lease(
    ssh_cell, salt_ssh_cli, ssh_files, sshd
):
    server, lease_dir = ssh_cell(jobs=[None], version="8.10")
    cell = server.cell
    pillar = '{"vcd_cell": {"drain": {"lease": 3, "interval": 1, "timeout": 600}}}'
    run = Background(salt_ssh_cli, "state.apply", "vcd.drained", f"pillar={pillar}", target=TARGET)
    (quiesce,) = wait_for(lambda: events_of(cell, "quiesce"), "the drain to quiesce the cell over ssh", deadline=120)
    wait_for(lambda: held(lease_dir, leases.KEEPER_LOCK), "the lease's keeper")
    run.kill()
    wait_for(lambda: not ssh_clients(sshd.listen_port), "the ssh connection to drop")
    assert not events_of(cell, "shutdown", "job_abort")
    if held(lease_dir, leases.DRAIN_LOCK):
        # The drain lives on, on the host, without its connection: it stops the cell only once drained.
        renewed = read_lease(lease_dir)["expires"]
        wait_for(lambda: read_lease(lease_dir)["expires"] > renewed, "the drain to renew its lease", deadline=30)
        assert not events_of(cell, "shutdown") and cell.snapshot()["service"] == "running"
        end_running_jobs(server.url)
        wait_for(lambda: events_of(cell, "shutdown"), "the host's drain to finish", deadline=60)
        assert_drained_safely(cell)
        wait_for(lambda: read_lease(lease_dir) is None, "the lease to be released")
        wait_for(lambda: f"vcd/cell/{TARGET}/drained" in host_log(ssh_files), "the drain's outcome in the host's log")
    else:
        # The drain died with its connection: the lease runs out and its keeper unquiesces the cell.
        (unquiesce,) = wait_for(lambda: events_of(cell, "unquiesce"), "the lease to unquiesce the cell", deadline=60)
        assert unquiesce["t"] - quiesce["t"] >= 3
        assert not events_of(cell, "shutdown", "job_abort")
        warning = wait_for(
            lambda: [line for line in host_log(ssh_files).splitlines() if "quiesce lease of 3s" in line],
            "the keeper's word in the host's log",
            deadline=10,
        )
        assert "unquiesced" in warning[0] and "salt-ssh" in warning[0]
        end_running_jobs(server.url)
    back = state_of(salt_ssh_cli.run("state.apply", "vcd.active", minion_tgt=TARGET), TARGET)
    assert back["result"] is True, back
    assert cell.snapshot()["service"] == "running" and cell.snapshot()["quiesced"] is False


def test_two_drains_at_once_over_ssh_and_salt_call_one_refused_naming_the_other(ssh_cell, salt_ssh_cli, tmp_path):
    server, lease_dir = ssh_cell(jobs=[None], version="8.10")
    cell = server.cell
    first = Background(salt_ssh_cli, "state.apply", "vcd.drained", target=TARGET)
    try:
        wait_for(lambda: events_of(cell, "quiesce"), "the first drain to quiesce the cell", deadline=120)
        tool_runs = len(events_of(cell, "cli"))
        second = state_of(salt_ssh_cli.run("state.apply", "vcd.drained", minion_tgt=TARGET), TARGET)
        assert second["result"] is False
        assert "Another drain of this cell is running: pid" in second["comment"], second
        assert "(salt-ssh, since" in second["comment"]
        # The same cell's salt-call on that host shares the claim through vcd_cell:lease_dir.
        local = MasterlessMinion(tmp_path, server, lease_dir=str(lease_dir))
        by_salt_call = local.apply("vcd.drained")
        assert by_salt_call["result"] is False and "(salt-ssh, since" in by_salt_call["comment"], by_salt_call
        assert len(events_of(cell, "quiesce")) == 1 and len(events_of(cell, "cli")) == tool_runs
        end_running_jobs(server.url)
        code, data, err = first.result()
        assert code == 0, (data, err)
        (result,) = data[TARGET].values()
        assert result["result"] is True, result["comment"]
    finally:
        if first.process.poll() is None:
            first.kill()
            end_lease(lease_dir)
    assert_drained_safely(cell)
