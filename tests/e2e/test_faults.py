"""
The fault matrix: each fault ends in a clear error and no unsafe action, through a real master and
minion. "Unsafe" is read off the fake cell's timeline: no shutdown with jobs, no job aborted.
"""

import contextlib
import socket
import time

import psutil
import pytest
import requests

from simulator.server import CellServer
from simulator.tls import Authority
from tests.e2e.conftest import events_of, wait_for_event
from tests.support import assert_every_shutdown_follows_a_drained_reading, end_running_jobs, wait_for

RUN_TOOLS = ("cell-management-tool", "vmware-vcd-cell")


def assert_nothing_unsafe(cell):
    assert not events_of(cell, "job_abort")
    assert_every_shutdown_follows_a_drained_reading(cell)


def tool_processes(url):
    """
    Stub tool processes still alive on this machine for the fake cell at ``url`` (each tool's wrapper
    names its cell in the tool's environment): the other tests' tools, running beside it, are theirs.
    """
    alive = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if any(f"/{tool} " in cmdline or cmdline.endswith(f"/{tool}") for tool in RUN_TOOLS):
            with contextlib.suppress(psutil.Error):
                if process.environ().get("VCD_SIM_URL") == url:
                    alive.append(cmdline)
    return alive


# -- the tool itself fails -------------------------------------------------------------------------


def test_a_missing_tool_is_named(fake_cell1, apply_state):
    cell = fake_cell1(jobs=[None])
    result = apply_state("vcd.drained", pillar={"vcd_cell": {"cmt_path": "/nonexistent/cell-management-tool"}})
    assert result["result"] is False
    assert (
        "/nonexistent/cell-management-tool is missing or not executable: check vcd_cell:cmt_path" in result["comment"]
    )
    assert not events_of(cell, "quiesce", "shutdown")


def test_a_tool_that_is_not_executable_is_named(fake_cell1, apply_state, tmp_path):
    tool = tmp_path / "cell-management-tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o644)
    cell = fake_cell1(jobs=[None])
    result = apply_state("vcd.drained", pillar={"vcd_cell": {"cmt_path": str(tool)}})
    assert result["result"] is False
    assert "missing or not executable" in result["comment"]
    assert not events_of(cell, "quiesce", "shutdown")


def test_a_hanging_tool_is_killed_at_its_time_limit(fake_cell1, apply_state, cell_server):
    cell = fake_cell1(jobs=[None], tool_fault="hang", tool_fault_option="status")
    result = apply_state("vcd.drained", pillar={"vcd_cell": {"cli_timeout": 2}})
    assert result["result"] is False
    assert "cell-management-tool cell --status did not finish within 2s and was killed" in result["comment"]
    assert not events_of(cell, "quiesce", "shutdown")
    wait_for(lambda: not tool_processes(cell_server.url), "the hung tool to be gone", deadline=30)


@pytest.mark.parametrize(
    "fault, message",
    [("garbage", "The cell status has no job_count field: 'Job cnt: lots"), ("truncated", "has no active field")],
)
def test_unreadable_status_output_is_quoted_and_stops_the_drain(fake_cell1, apply_state, fault, message):
    cell = fake_cell1(jobs=[None], tool_fault=fault, tool_fault_option="status")
    result = apply_state("vcd.drained")
    assert result["result"] is False
    assert message in result["comment"]
    assert not events_of(cell, "quiesce", "shutdown")


def test_a_failing_quiesce_stops_before_any_shutdown(fake_cell1, apply_state):
    cell = fake_cell1(jobs=[0.5], tool_fault="exit", tool_fault_option="quiesce")
    result = apply_state("vcd.drained")
    assert result["result"] is False
    assert "cell-management-tool cell --quiesce true failed (exit 1)" in result["comment"]
    assert "internal error" in result["comment"]
    assert cell.snapshot()["quiesced"] is False
    assert not events_of(cell, "shutdown")


def test_wrong_credentials_are_tried_once_only(fake_cell1, apply_state):
    cell = fake_cell1(jobs=[None], lockout_after=3)
    result = apply_state("vcd.drained", pillar={"vcd_cell": {"password": "not-the-password"}})
    assert result["result"] is False
    assert "Authentication failed" in result["comment"]
    assert len(events_of(cell, "auth_failure")) == 1
    assert cell.failed_logins == 1


# -- the cell dies under the drain -----------------------------------------------------------------


@pytest.mark.parametrize("version", ["8.10", "10.5"], ids=["quiesce-returns", "quiesce-blocks"])
def test_a_cell_crashing_during_the_drain_is_a_failure_naming_the_lost_jobs(fake_cell1, in_background, version):
    cell = fake_cell1(jobs=[None], version=version)
    (job,) = cell.snapshot()["jobs"]
    run = in_background("vcd.drained", pillar={"vcd_cell": {"drain": {"interval": 1}}})
    wait_for_event(cell, "quiesce")
    cell.crash()
    result = run.result()
    assert result["result"] is False
    assert "The cell stopped during the drain, before it was drained" in result["comment"]
    assert job["id"] in result["comment"] and "lost" in result["comment"]
    assert not events_of(cell, "shutdown")


# -- the REST API fails: waiting falls back to the tool, cancelling says it cannot ----------------------


@pytest.fixture
def broken_api(cell_server):
    """``broken_api(kind)``: the pillar that points cell1's module at a REST API that fails that way."""
    servers = []

    def make(kind):
        if kind == "down":
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                closed_port = probe.getsockname()[1]
            return {"api_url": f"http://127.0.0.1:{closed_port}"}, "did not answer"
        if kind == "unauthorized":
            cell_server.cell.reconfigure(api_fault="unauthorized")
            return {}, "refused the credentials of administrator@System (HTTP 401)"
        tls = CellServer(cell_server.cell, tls=True).start()
        servers.append(tls)
        return {"api_url": tls.url}, "TLS verification failed"

    yield make
    for server in servers:
        server.stop()


API_FAULTS = ["down", "unauthorized", "tls"]


def test_a_cells_certificate_is_read_from_its_https_address_and_trusted_with_the_ca_file(
    fake_cell1, cell_server, apply_state, tmp_path
):
    fake_cell1(jobs=[])
    authority = Authority()
    tls = CellServer(cell_server.cell, tls=authority.serving(days=12)).start()
    try:
        read = {}
        for verify in (authority.ca_file(tmp_path), True):
            pillar = {"vcd_cell": {"api_url": tls.url, "api_verify": verify}}
            result = apply_state("tests.e2e.sls.readiness", pillar=pillar)
            assert result["result"] is True, result
            read[verify is True] = result["changes"]["return"]["certificate"]
        # Renewed late, through the cell's control API: the next handshake presents the new certificate.
        ca_file = authority.ca_file(tmp_path)
        requests.patch(f"{tls.url}/sim/certificate", json={"days": 2}, verify=ca_file, timeout=10).raise_for_status()
        pillar = {"vcd_cell": {"api_url": tls.url, "api_verify": ca_file}}
        renewed = apply_state("tests.e2e.sls.readiness", pillar=pillar)["changes"]["return"]["certificate"]
    finally:
        tls.stop()
    assert 1.9 * 86400 < renewed["expires_at"] - time.time() <= 2 * 86400 and renewed["verified"] is True
    trusted, system = read[False], read[True]
    assert (trusted["url"], trusted["verified"], trusted["problem"]) == (tls.url, True, None)
    assert 11.9 * 86400 < trusted["expires_at"] - time.time() <= 12 * 86400
    # The same certificate, which the system's CAs do not vouch for: read all the same, and said.
    assert system["expires_at"] == trusted["expires_at"] and system["verified"] is False
    assert system["problem"].startswith("not trusted by this cell's client (vcd_cell:api_verify)")


@pytest.mark.parametrize("kind", API_FAULTS)
def test_without_a_working_api_the_drain_polls_the_tool(fake_cell1, apply_state, broken_api, kind):
    cell = fake_cell1(jobs=[1.0], version="8.10")
    settings, _ = broken_api(kind)
    result = apply_state("vcd.drained", pillar={"vcd_cell": dict(settings, drain={"interval": 1})})
    assert result["result"] is True, result["comment"]
    assert_nothing_unsafe(cell)
    assert events_of(cell, "shutdown")


@pytest.mark.parametrize("kind", API_FAULTS)
def test_without_a_working_api_cancel_says_it_cannot_and_nothing_is_shut_down(
    fake_cell1, apply_state, broken_api, kind
):
    cell = fake_cell1(jobs=[None], version="8.10")
    settings, message = broken_api(kind)
    drain = {"timeout": 1, "interval": 1, "on_timeout": "cancel", "cancel_grace": 1}
    result = apply_state("vcd.drained", pillar={"vcd_cell": dict(settings, drain=drain)})
    assert result["result"] is False
    assert message in result["comment"]
    assert not events_of(cell, "shutdown", "job_cancel")
    assert cell.snapshot()["quiesced"] is True


# -- the minion dies under the drain ----------------------------------------------------------------


def test_a_minion_restarted_during_a_drain_completes_it_when_reapplied(
    fake_cell1, in_background, apply_state, cell1_minion, salt_cli, cell_server
):
    cell = fake_cell1(jobs=[None], version="8.10")
    run = in_background("vcd.drained", pillar={"vcd_cell": {"drain": {"interval": 1}}})
    wait_for_event(cell, "quiesce")
    cell1_minion.terminate()
    run.abandon()
    cell1_minion.start()
    wait_for(lambda: salt_cli.run("test.ping", minion_tgt="cell1").data is True, "cell1 to answer again")
    # The job outlived the killed drain; it ends now, and the re-applied drain completes.
    end_running_jobs(cell_server.url)
    result = apply_state("vcd.drained")
    assert result["result"] is True, result["comment"]
    assert len(events_of(cell, "shutdown")) == 1
    assert_nothing_unsafe(cell)
    assert cell.snapshot()["service"] == "stopped"
