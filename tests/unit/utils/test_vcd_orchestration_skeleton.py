"""The skeleton both orchestrations run in (`_utils/_vcd_orchestration_skeleton.py`)."""

from unittest import mock

import pytest
from salt.exceptions import SaltInvocationError

from tests.support import load_salt_module

skeleton = load_salt_module("_utils/_vcd_orchestration_skeleton.py", "vcd_orchestration_skeleton_under_test")
orchestration = skeleton.orchestration
TARGETS = (["cell1", "cell2"], "glob", 60, False)


@pytest.fixture(name="calls")
def _calls(monkeypatch):
    """The cells as the skeleton reaches them: a :class:`Cells` that touches no minion."""
    calls = mock.create_autospec(orchestration.Cells, instance=True)
    monkeypatch.setattr(
        skeleton.transports, "reach", mock.create_autospec(skeleton.transports.reach, return_value=calls)
    )
    return calls


def test_a_plan_that_ran_returns_its_return_with_the_cells_reached_closed(calls):
    prepare = mock.Mock(return_value={"plan": 1})
    run = mock.Mock(return_value={"result": True, "comment": "done"})
    context = {}
    ret = skeleton.orchestrate({}, context, TARGETS, prepare, run)
    assert ret == {"result": True, "comment": "done"}
    prepare.assert_called_once_with(calls, ["cell1", "cell2"])
    run.assert_called_once_with({"plan": 1})
    calls.close.assert_called_once_with()
    assert "retcode" not in context
    skeleton.transports.reach.assert_called_once_with({}, 60, False)


def test_a_failed_run_sets_salts_exit_code_and_keeps_its_return(calls):
    context = {}
    ret = skeleton.orchestrate({}, context, TARGETS, mock.Mock(), mock.Mock(return_value={"result": False}))
    assert ret == {"result": False} and context["retcode"] == 1
    calls.close.assert_called_once_with()


@pytest.mark.parametrize("where", ["prepare", "run"])
def test_an_argument_refused_anywhere_touches_nothing_more_and_says_so(calls, where):
    refusal = SaltInvocationError("batch must be a whole number of at least 1, not 0")
    prepare = mock.Mock(side_effect=refusal if where == "prepare" else None)
    run = mock.Mock(side_effect=refusal if where == "run" else None)
    context = {}
    ret = skeleton.orchestrate({}, context, TARGETS, prepare, run)
    assert ret == {
        "result": False,
        "comment": "batch must be a whole number of at least 1, not 0. Nothing was touched.",
        "cells": {},
    }
    assert context["retcode"] == 1
    assert run.called is (where == "run")
    calls.close.assert_called_once_with()


def test_cells_that_cannot_be_reached_are_refused_before_anything_is_asked(monkeypatch):
    reach = mock.create_autospec(
        skeleton.transports.reach, side_effect=SaltInvocationError("ssh must be true or false")
    )
    monkeypatch.setattr(skeleton.transports, "reach", reach)
    prepare = mock.Mock()
    context = {}
    ret = skeleton.orchestrate({}, context, TARGETS, prepare, mock.Mock())
    assert ret["comment"] == "ssh must be true or false. Nothing was touched." and context["retcode"] == 1
    prepare.assert_not_called()


def test_a_target_that_matches_no_cell_is_refused_naming_it(calls):
    calls.target_types = orchestration.TARGET_TYPES
    calls.what = "accepted minion"
    calls.targets.return_value = []
    context = {}
    ret = skeleton.orchestrate({}, context, ("vcd*", "glob", 60, False), mock.Mock(), mock.Mock())
    assert ret["comment"] == "The target 'vcd*' (glob) matches no accepted minion. Nothing was touched."
    calls.close.assert_called_once_with()
