"""Every branch of the vcd_cell states, with the execution module replaced by mocks."""

from unittest.mock import MagicMock

import pytest
from salt.exceptions import CommandExecutionError

from tests.support import load_salt_module

vcd_cell_state = load_salt_module("_states/vcd_cell.py", "vcd_cell_state_module")
vcd_cell_module = load_salt_module("_modules/vcd_cell.py", "vcd_cell_execution_module_for_states")

TASK = {"id": "t-1", "name": "vappDeploy", "owner": "alice", "age_seconds": 42}
RUNNING = {"job_count": 2, "active": True, "maintenance": False}
DRAINED = {"job_count": 0, "active": False, "maintenance": False}


@pytest.fixture
def calls():
    """The execution module as the states see it: a mock per function, set for a cell that drains."""
    return {
        "vcd_cell.is_running": MagicMock(side_effect=[True, False]),
        "vcd_cell.status": MagicMock(return_value=dict(RUNNING)),
        "vcd_cell.drain": MagicMock(
            return_value={
                "drained": True,
                "status": DRAINED,
                "tasks": [],
                "jobs_at_start": 2,
                "elapsed": 3,
                "shut_down": True,
            }
        ),
        "vcd_cell.shutdown": MagicMock(return_value={"shutdown": True}),
        "vcd_cell.unquiesce": MagicMock(return_value=True),
        "vcd_cell.quiesce": MagicMock(return_value={"quiesced": True}),
        "vcd_cell.cancel_tasks": MagicMock(return_value={"cancelled": ["t-1"], "failed": {}}),
        "vcd_cell.wait_drained": MagicMock(
            return_value={"drained": True, "status": DRAINED, "tasks": [], "jobs_at_start": 1, "shut_down": True}
        ),
        "vcd_cell.maintenance_message": MagicMock(return_value=True),
        "vcd_cell.maintenance_mode": MagicMock(return_value=True),
        "vcd_cell.health": MagicMock(return_value={"up": False, "status_code": None, "maintenance_message": False}),
        "vcd_cell.start": MagicMock(return_value=True),
        "vcd_cell.wait_serving": MagicMock(return_value=True),
        "vcd_cell.release_lease": MagicMock(return_value=True),
        "vcd_cell.lease": MagicMock(return_value={"held": False}),
        "vcd_cell.claim": MagicMock(return_value=True),
        "vcd_cell.window_guard": MagicMock(return_value=None),
        "vcd_cell.describe_tasks": vcd_cell_module.describe_tasks,
    }


@pytest.fixture
def opts():
    return {"test": False}


@pytest.fixture
def configure_loader_modules(calls, opts):
    return {vcd_cell_state: {"__salt__": calls, "__opts__": opts}}


def timed_out(tasks=(TASK,)):
    return {
        "drained": False,
        "status": {"job_count": 1, "active": True, "maintenance": False},
        "tasks": list(tasks),
        "jobs_at_start": 1,
    }


def called(calls):
    """The functions called, but the window's guard (a reading, tested on its own)."""
    return {
        name
        for name, mock in calls.items()
        if isinstance(mock, MagicMock) and mock.called and name != "vcd_cell.window_guard"
    }


# -- drained ---------------------------------------------------------------------------------------


def test_drained_quiesces_waits_shuts_down_and_verifies(calls):
    ret = vcd_cell_state.drained("cell1", timeout=60, interval=2)
    assert ret["result"] is True
    assert set(ret["changes"]) == {"quiesced", "stopped", "jobs", "drain_seconds"} and ret["changes"]["jobs"] == 2
    # The module shuts down on the reading that found the cell drained; no separate, re-checking shutdown.
    calls["vcd_cell.drain"].assert_called_once_with(timeout=60, interval=2, lease=900, shutdown=True, quiesce=True)
    calls["vcd_cell.shutdown"].assert_not_called()
    calls["vcd_cell.release_lease"].assert_called_once_with()
    assert calls["vcd_cell.is_running"].call_count == 2
    # The status is read once, before anything is touched.
    calls["vcd_cell.status"].assert_called_once_with()
    assert "drained of 2 job(s)" in ret["comment"]


@pytest.mark.parametrize(
    "reading",
    [
        {"job_count": 1, "active": False, "maintenance": False},
        {"job_count": 1, "active": False, "maintenance": False, "quiesced": True},
    ],
    ids=["tool", "cells-api"],
)
def test_a_cell_already_quiesced_is_not_quiesced_again(calls, reading):
    calls["vcd_cell.status"].return_value = reading
    assert vcd_cell_state.drained("cell1")["result"] is True
    assert calls["vcd_cell.drain"].call_args.kwargs["quiesce"] is False


def test_a_cell_under_a_quiesce_lease_of_this_host_is_read_by_the_drain_itself(calls):
    calls["vcd_cell.lease"].return_value = {"held": True}
    ret = vcd_cell_state.drained("cell1")
    assert ret["result"] is True and "drained of 2 job(s)" in ret["comment"]
    assert calls["vcd_cell.drain"].call_args.kwargs["quiesce"] is False
    # No reading before the drain's own: that one, finding the cell drained, is the one it shuts down on.
    calls["vcd_cell.status"].assert_not_called()


def test_an_already_stopped_cell_is_left_alone(calls):
    calls["vcd_cell.is_running"].side_effect = None
    calls["vcd_cell.is_running"].return_value = False
    calls["vcd_cell.release_lease"].return_value = False
    ret = vcd_cell_state.drained("cell1")
    assert (ret["result"], ret["changes"]) == (True, {})
    assert called(calls) == {"vcd_cell.claim", "vcd_cell.is_running", "vcd_cell.release_lease"}


def test_a_stopped_cell_quiesced_under_a_lease_before_it_stopped_has_the_lease_ended(calls):
    # orch.vcd_upgrade's quiesce step took the lease, then the cell crashed before its drain: the quiesce
    # went with the service, and a lease left held would fail the upgrade's verify.
    calls["vcd_cell.is_running"].side_effect = None
    calls["vcd_cell.is_running"].return_value = False
    ret = vcd_cell_state.drained("cell1")
    assert (ret["result"], ret["changes"]) == (True, {"lease_released": True})
    assert "quiesce lease taken before it stopped is ended" in ret["comment"]
    calls["vcd_cell.release_lease"].assert_called_once_with()


def test_a_stopped_cell_keeps_its_lease_in_test_mode_and_with_leases_off(calls, opts):
    calls["vcd_cell.is_running"].side_effect = None
    calls["vcd_cell.is_running"].return_value = False
    assert vcd_cell_state.drained("cell1", lease=0)["changes"] == {}
    opts["test"] = True
    assert vcd_cell_state.drained("cell1")["changes"] == {}
    calls["vcd_cell.release_lease"].assert_not_called()


def test_a_drain_already_running_elsewhere_fails_this_one_before_it_touches_the_cell(calls):
    calls["vcd_cell.claim"].side_effect = CommandExecutionError("Another drain of this cell is running: pid 42")
    ret = vcd_cell_state.drained("cell1")
    assert (ret["result"], ret["changes"]) == (False, {})
    assert ret["comment"] == "Another drain of this cell is running: pid 42"
    assert called(calls) == {"vcd_cell.claim"}


def test_a_stopped_cell_gets_its_missing_maintenance_message(calls):
    calls["vcd_cell.is_running"].side_effect = None
    calls["vcd_cell.is_running"].return_value = False
    calls["vcd_cell.release_lease"].return_value = False
    ret = vcd_cell_state.drained("cell1", maintenance_message=True)
    assert (ret["result"], ret["changes"]) == (True, {"maintenance_message": True})
    calls["vcd_cell.maintenance_message"].assert_called_once_with(True)
    calls["vcd_cell.health"].return_value = {"up": False, "status_code": 503, "maintenance_message": True}
    calls["vcd_cell.maintenance_message"].reset_mock()
    assert vcd_cell_state.drained("cell1", maintenance_message=True)["changes"] == {}
    calls["vcd_cell.maintenance_message"].assert_not_called()


def test_test_mode_reports_and_touches_nothing(calls, opts):
    opts["test"] = True
    ret = vcd_cell_state.drained("cell1", maintenance_message=True)
    assert ret["result"] is None
    assert "2 running job(s)" in ret["comment"] and "maintenance message" in ret["comment"]
    assert ret["changes"] == {"quiesced": True, "stopped": True, "maintenance_message": True}
    assert called(calls) == {"vcd_cell.claim", "vcd_cell.is_running", "vcd_cell.lease", "vcd_cell.status"}


def test_timeout_fail_leaves_the_cell_quiesced_and_names_the_task(calls):
    calls["vcd_cell.drain"].return_value = timed_out()
    ret = vcd_cell_state.drained("cell1", timeout=30)
    assert ret["result"] is False
    assert "did not drain within 30s" in ret["comment"]
    assert "t-1 vappDeploy (owner alice, running 42s)" in ret["comment"]
    assert ret["changes"] == {"quiesced": True}
    assert "quiesce lease puts it back in service in 900s" in ret["comment"]
    for never in ("vcd_cell.shutdown", "vcd_cell.unquiesce", "vcd_cell.cancel_tasks", "vcd_cell.release_lease"):
        calls[never].assert_not_called()


def test_timeout_fail_without_rest_reports_the_tools_counts(calls):
    calls["vcd_cell.drain"].return_value = timed_out(tasks=())
    calls["vcd_cell.drain"].return_value["tasks"] = None
    ret = vcd_cell_state.drained("cell1")
    assert "the tool reports 1 job(s) and an active scheduler" in ret["comment"]


def test_timeout_abort_unquiesces(calls):
    calls["vcd_cell.drain"].return_value = timed_out()
    ret = vcd_cell_state.drained("cell1", on_timeout="abort")
    assert (ret["result"], ret["changes"]) == (False, {})
    calls["vcd_cell.unquiesce"].assert_called_once_with()
    calls["vcd_cell.release_lease"].assert_called_once_with()
    calls["vcd_cell.shutdown"].assert_not_called()


def test_timeout_cancel_cancels_waits_and_shuts_down(calls):
    calls["vcd_cell.drain"].return_value = timed_out()
    ret = vcd_cell_state.drained("cell1", on_timeout="cancel", cancel_grace=40, interval=5)
    assert ret["result"] is True
    assert ret["changes"]["cancelled"] == ["t-1"]
    calls["vcd_cell.wait_drained"].assert_called_once_with(timeout=40, interval=5, lease=900, shutdown=True)


def test_timeout_cancel_fails_without_shutdown_when_tasks_remain(calls):
    calls["vcd_cell.drain"].return_value = timed_out()
    calls["vcd_cell.wait_drained"].return_value = timed_out()
    calls["vcd_cell.cancel_tasks"].return_value = {"cancelled": [], "failed": {"t-1": "HTTP 400"}}
    ret = vcd_cell_state.drained("cell1", on_timeout="cancel", cancel_grace=10)
    assert ret["result"] is False
    assert "Not shut down" in ret["comment"] and "cancels refused" in ret["comment"]
    calls["vcd_cell.shutdown"].assert_not_called()


def test_timeout_cancel_without_rest_fails_and_keeps_the_cell_up(calls):
    calls["vcd_cell.drain"].return_value = timed_out()
    calls["vcd_cell.cancel_tasks"].side_effect = CommandExecutionError(
        "The vCD REST API is not configured: set vcd_cell:api_url"
    )
    ret = vcd_cell_state.drained("cell1", on_timeout="cancel")
    assert ret["result"] is False
    assert "set vcd_cell:api_url" in ret["comment"]
    calls["vcd_cell.shutdown"].assert_not_called()


def test_a_failed_shutdown_fails_the_state(calls):
    calls["vcd_cell.drain"].side_effect = CommandExecutionError(
        "cell-management-tool cell --shutdown failed (exit 1): Error: internal error"
    )
    ret = vcd_cell_state.drained("cell1")
    assert ret["result"] is False
    assert ret["comment"].startswith("cell-management-tool cell --shutdown failed")


def test_a_cell_still_running_after_shutdown_fails_the_state(calls):
    calls["vcd_cell.is_running"].side_effect = [True, True]
    ret = vcd_cell_state.drained("cell1")
    assert ret["result"] is False
    assert "still runs" in ret["comment"]


def test_the_maintenance_message_comes_after_the_shutdown(calls):
    order = []
    calls["vcd_cell.drain"].side_effect = lambda **kwargs: (
        order.append("drain and shutdown") or dict(calls["vcd_cell.drain"].return_value)
    )
    calls["vcd_cell.maintenance_message"].side_effect = lambda enabled: order.append(("message", enabled))
    ret = vcd_cell_state.drained("cell1", maintenance_message=True)
    assert ret["result"] is True
    assert order == ["drain and shutdown", ("message", True)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"timeout": "1h"}, "timeout must be a positive number"),
        ({"interval": -1}, "interval must be a positive number"),
        ({"timeout": 5, "interval": 10}, "interval (10) must not be longer than timeout (5)"),
        ({"maintenance_message": "yes"}, "maintenance_message must be true or false"),
        ({"on_timeout": "ignore"}, "on_timeout must be one of fail, abort, cancel"),
        ({"cancel_grace": 0}, "cancel_grace must be a positive number"),
        ({"lease": -1}, "lease must be a positive number"),
        ({"lease": 3, "interval": 5}, "lease (3) must be 0 (no lease) or longer than interval (5)"),
    ],
)
def test_invalid_arguments_fail_before_the_cell_is_touched(calls, kwargs, message):
    ret = vcd_cell_state.drained("cell1", **kwargs)
    assert (ret["result"], ret["changes"]) == (False, {})
    assert message in ret["comment"]
    assert called(calls) == set()


# -- quiesced --------------------------------------------------------------------------------------


def test_quiesced_quiesces_an_active_scheduler(calls):
    ret = vcd_cell_state.quiesced("cell1")
    assert (ret["result"], ret["changes"]) == (True, {"quiesced": True})
    calls["vcd_cell.quiesce"].assert_called_once_with()


def test_quiesced_leaves_an_inactive_scheduler_alone(calls):
    calls["vcd_cell.status"].return_value = dict(DRAINED)
    ret = vcd_cell_state.quiesced("cell1")
    assert (ret["result"], ret["changes"]) == (True, {})
    calls["vcd_cell.quiesce"].assert_not_called()


def test_quiesced_in_test_mode(calls, opts):
    opts["test"] = True
    assert vcd_cell_state.quiesced("cell1")["result"] is None
    calls["vcd_cell.quiesce"].assert_not_called()


# -- active ----------------------------------------------------------------------------------------


def test_active_starts_a_stopped_cell_and_waits_for_it_to_serve(calls):
    calls["vcd_cell.is_running"].side_effect = None
    calls["vcd_cell.is_running"].return_value = False
    calls["vcd_cell.health"].return_value = {"up": False, "status_code": 503, "maintenance_message": True}
    calls["vcd_cell.status"].return_value = {"job_count": 0, "active": True, "maintenance": False}
    ret = vcd_cell_state.active("cell1", health_timeout=120)
    assert ret["result"] is True
    assert ret["changes"] == {"maintenance_message": False, "started": True}
    calls["vcd_cell.maintenance_message"].assert_called_once_with(False)
    calls["vcd_cell.wait_serving"].assert_called_once_with(timeout=120)
    calls["vcd_cell.unquiesce"].assert_not_called()


def test_active_fails_when_the_cell_does_not_serve_in_time(calls):
    calls["vcd_cell.is_running"].side_effect = None
    calls["vcd_cell.is_running"].return_value = False
    calls["vcd_cell.wait_serving"].return_value = False
    ret = vcd_cell_state.active("cell1", health_timeout=30)
    assert ret["result"] is False
    assert "did not serve within 30s" in ret["comment"]


def test_active_is_idempotent_on_a_serving_cell(calls):
    calls["vcd_cell.is_running"].side_effect = None
    calls["vcd_cell.is_running"].return_value = True
    calls["vcd_cell.status"].return_value = {"job_count": 0, "active": True, "maintenance": False}
    ret = vcd_cell_state.active("cell1")
    assert (ret["result"], ret["changes"]) == (True, {})
    calls["vcd_cell.unquiesce"].assert_not_called()


def test_active_unquiesces_and_ends_maintenance_mode(calls):
    calls["vcd_cell.is_running"].side_effect = None
    calls["vcd_cell.is_running"].return_value = True
    calls["vcd_cell.status"].return_value = {"job_count": 0, "active": False, "maintenance": True}
    ret = vcd_cell_state.active("cell1")
    assert ret["changes"] == {"unquiesced": True, "maintenance_mode": False}
    calls["vcd_cell.maintenance_mode"].assert_called_once_with(False)


def test_active_unquiesces_when_jobs_could_hide_a_quiesce_without_claiming_a_change(calls):
    calls["vcd_cell.is_running"].side_effect = None
    calls["vcd_cell.is_running"].return_value = True
    ret = vcd_cell_state.active("cell1")
    assert (ret["result"], ret["changes"]) == (True, {})
    calls["vcd_cell.unquiesce"].assert_called_once_with()


def test_active_trusts_the_cells_api_on_whether_the_cell_is_quiesced(calls):
    calls["vcd_cell.is_running"].side_effect = None
    calls["vcd_cell.is_running"].return_value = True
    calls["vcd_cell.status"].return_value = {"job_count": 2, "active": True, "maintenance": False, "quiesced": False}
    assert vcd_cell_state.active("cell1")["changes"] == {}
    calls["vcd_cell.unquiesce"].assert_not_called()
    calls["vcd_cell.status"].return_value = {"job_count": 2, "active": False, "maintenance": False, "quiesced": True}
    assert vcd_cell_state.active("cell1")["changes"] == {"unquiesced": True}
    calls["vcd_cell.unquiesce"].assert_called_once_with()


def test_active_in_test_mode_on_a_stopped_cell(calls, opts):
    opts["test"] = True
    calls["vcd_cell.is_running"].side_effect = None
    calls["vcd_cell.is_running"].return_value = False
    ret = vcd_cell_state.active("cell1")
    assert (ret["result"], ret["changes"]) == (None, {"started": True})
    calls["vcd_cell.start"].assert_not_called()


def test_active_rejects_a_bad_health_timeout(calls):
    ret = vcd_cell_state.active("cell1", health_timeout=-1)
    assert ret["result"] is False and "health_timeout must be a positive number" in ret["comment"]
    assert called(calls) == set()


def test_lease_zero_drains_without_a_lease(calls):
    ret = vcd_cell_state.drained("cell1", lease=0)
    assert ret["result"] is True
    calls["vcd_cell.drain"].assert_called_once_with(timeout=3600, interval=5, lease=0, shutdown=True, quiesce=True)
    calls["vcd_cell.release_lease"].assert_not_called()


def test_a_failure_after_the_quiesce_keeps_the_lease(calls):
    calls["vcd_cell.drain"].side_effect = CommandExecutionError("cell-management-tool cell --shutdown failed (exit 1)")
    ret = vcd_cell_state.drained("cell1")
    assert ret["result"] is False
    calls["vcd_cell.release_lease"].assert_not_called()


def test_an_unforeseen_error_is_reported_without_its_message(calls):
    calls["vcd_cell.drain"].side_effect = UnicodeEncodeError("latin-1", "s3cr3t-€", 7, 8, "the password s3cr3t-€")
    ret = vcd_cell_state.drained("cell1")
    assert ret["result"] is False
    assert ret["comment"].startswith("Unexpected UnicodeEncodeError at ")
    assert "s3cr3t" not in ret["comment"]


# -- call (salt-ssh's way to the module with the pillar) ---------------------------------------------


def test_call_returns_what_the_function_returned(calls):
    result = vcd_cell_state.call("vcd_cell.status")
    assert (result["result"], result["changes"]) == (True, {"return": RUNNING})
    calls["vcd_cell.quiesce"].reset_mock()
    vcd_cell_state.call("vcd_cell.quiesce", kwarg={"lease": 900})
    calls["vcd_cell.quiesce"].assert_called_once_with(lease=900)


def test_call_fails_with_the_functions_error_and_never_calls_another_module(calls):
    calls["vcd_cell.status"].side_effect = CommandExecutionError("the tool is missing: check vcd_cell:cmt_path")
    failed = vcd_cell_state.call("vcd_cell.status")
    assert (failed["result"], failed["comment"]) == (False, "the tool is missing: check vcd_cell:cmt_path")
    assert vcd_cell_state.call("cmd.run", arg=["reboot"])["result"] is False
    assert "arg must be a list" in vcd_cell_state.call("vcd_cell.status", arg="x")["comment"]


def test_call_in_test_mode_calls_nothing(calls, opts):
    opts["test"] = True
    result = vcd_cell_state.call("vcd_cell.quiesce")
    assert result["result"] is None and not called(calls)
