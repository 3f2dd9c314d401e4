"""The skeleton both orchestrations run in (`_utils/_vcd_orchestration_skeleton.py`)."""

from unittest import mock

import pytest
import salt.config
from salt.exceptions import SaltInvocationError

import _vcd_cell_defaults as defaults
import _vcd_orchestration_plan as plans
from tests.support import load_salt_module

skeleton = load_salt_module("_utils/_vcd_orchestration_skeleton.py", "vcd_orchestration_skeleton_under_test")
orchestration = skeleton.orchestration
TARGETS = (["cell1", "cell2"], "glob", 60, False)
WHERE = ("vcd_rolling", "vcd/rolling")
ROLLOUT = {"min_active": 1, "steps": [], "switchover": True, "pause": 0}


def a_plan(gate=None, done=()):
    """A plan as ``prepare`` returns it: its ``gate`` step, a record with ``done``, nothing found yet."""
    plan = _rollout(gate)
    plan.record.data = {"done": list(done)}
    return plan


def _rollout(gate):
    return plans.Rollout(
        id="p",
        order=["cell1", "cell2"],
        cells=None,
        record=mock.create_autospec(orchestration.Record, instance=True),
        fire=mock.Mock(),
        timeout=60,
        health_timeout=30,
        cell_pillar=None,
        gate=gate,
        **ROLLOUT,
    )


@pytest.fixture(name="calls")
def _calls(monkeypatch):
    """The cells as the skeleton reaches them: a :class:`Cells` that touches no minion."""
    calls = mock.create_autospec(orchestration.Cells, instance=True)
    monkeypatch.setattr(
        skeleton.transports, "reach", mock.create_autospec(skeleton.transports.reach, return_value=calls)
    )
    return calls


def test_a_plan_that_ran_returns_its_return_with_the_cells_reached_closed(calls):
    plan = a_plan()
    prepare = mock.Mock(return_value=plan)
    run = mock.Mock(return_value={"result": True, "comment": "done"})
    context = {}
    ret = skeleton.orchestrate({}, context, WHERE, TARGETS, prepare, run)
    assert ret == {"result": True, "comment": "done"}
    prepare.assert_called_once_with(mock.ANY, ["cell1", "cell2"])
    run.assert_called_once_with(plan)
    calls.close.assert_called_once_with()
    assert "retcode" not in context
    skeleton.transports.reach.assert_called_once_with({}, 60, False)


def test_a_failed_run_sets_salts_exit_code_and_keeps_its_return(calls):
    # salt-run's exit code comes from the return's "retcode", the job's success from __context__'s.
    context = {}
    prepare = mock.Mock(return_value=a_plan())
    ret = skeleton.orchestrate({}, context, WHERE, TARGETS, prepare, mock.Mock(return_value={"result": False}))
    assert ret == {"result": False, "retcode": 1} and context["retcode"] == 1
    calls.close.assert_called_once_with()


def test_a_run_is_judged_by_the_judge_it_is_given(calls):
    context = {}
    ready = mock.Mock(return_value={"ready": True})
    judge = lambda ret: ret.get("ready") is True  # noqa: E731 - as the precheck judges its report
    prepare = mock.Mock(return_value=a_plan())
    assert skeleton.orchestrate({}, context, WHERE, TARGETS, prepare, ready, judge) == {"ready": True}
    assert "retcode" not in context
    not_ready = mock.Mock(return_value={"ready": False})
    assert skeleton.orchestrate({}, context, WHERE, TARGETS, prepare, not_ready, judge)["retcode"] == 1


@pytest.mark.parametrize("where", ["prepare", "run"])
def test_an_argument_refused_anywhere_touches_nothing_more_and_says_so(calls, where):
    refusal = SaltInvocationError("batch must be a whole number of at least 1, not 0")
    prepare = mock.Mock(side_effect=refusal if where == "prepare" else None, return_value=a_plan())
    run = mock.Mock(side_effect=refusal if where == "run" else None)
    context = {}
    ret = skeleton.orchestrate({}, context, WHERE, TARGETS, prepare, run)
    assert ret == {
        "result": False,
        "comment": "batch must be a whole number of at least 1, not 0. Nothing was touched.",
        "cells": {},
        "retcode": 1,
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
    ret = skeleton.orchestrate({}, context, WHERE, TARGETS, prepare, mock.Mock())
    assert ret["comment"] == "ssh must be true or false. Nothing was touched." and context["retcode"] == 1
    prepare.assert_not_called()


def test_a_target_that_matches_no_cell_is_refused_naming_it(calls):
    calls.target_types = orchestration.TARGET_TYPES
    calls.what = "accepted minion"
    calls.targets.return_value = []
    context = {}
    ret = skeleton.orchestrate({}, context, WHERE, ("vcd*", "glob", 60, False), mock.Mock(), mock.Mock())
    assert ret["comment"] == "The target 'vcd*' (glob) matches no accepted minion. Nothing was touched."
    calls.close.assert_called_once_with()


def _cache_opts(tmp_path):
    """A master's default options, its cache (where the records are kept) in ``tmp_path``."""
    # Salt 3006's cache loader needs the module options a master has (an empty dict loads no driver).
    return dict(salt.config.DEFAULT_MASTER_OPTS, cachedir=str(tmp_path), sock_dir=str(tmp_path))


def test_the_plan_prepared_holds_the_cells_reached_and_keeps_its_record_under_its_orchestration(calls, tmp_path):
    opts = _cache_opts(tmp_path)
    # Not the default lease (900 s): read from the pillar.
    pillar = {"vcd_cell": {"drain": {"lease": 1200}}}

    def prepare(planned, ordered):
        return planned(plans.Rollout, "p1", health_timeout=30, cell_pillar=pillar, **ROLLOUT)

    def run(plan):
        assert (plan.id, plan.order, plan.cells, plan.timeout, plan.lease) == (
            "p1",
            ["cell1", "cell2"],
            calls,
            60,
            1200,
        )
        plan.record.mark_done(["cell1"])
        return {"result": True}

    assert skeleton.orchestrate(opts, {}, WHERE, TARGETS, prepare, run) == {"result": True}
    assert orchestration.Record(opts, "vcd_rolling", "p1").done("cell1")
    assert not orchestration.Record(opts, "vcd_upgrade", "p1").done("cell1")


def test_a_plan_without_drain_settings_takes_the_default_lease(tmp_path):
    planned = skeleton.planner(_cache_opts(tmp_path), WHERE, None, ["cell1"], 60)
    assert planned(plans.Rollout, "p2", health_timeout=30, cell_pillar=None, **ROLLOUT).lease == defaults.DRAIN["lease"]


def test_the_gate_runs_first_and_its_warnings_come_with_the_return(calls):
    def gate(cells, plan):
        plan.found.precheck = {"ready": True, "checks": [{"check": "clock", "result": "warn"}]}
        return dict.fromkeys(cells)

    plan = a_plan(gate=mock.Mock(side_effect=gate))
    run = mock.Mock(return_value={"result": True})
    ret = skeleton.orchestrate({}, {}, WHERE, TARGETS, mock.Mock(return_value=plan), run)
    assert ret == {"result": True, "precheck": {"ready": True, "checks": [{"check": "clock", "result": "warn"}]}}
    plan.gate.assert_called_once_with(["cell1", "cell2"], plan)
    run.assert_called_once_with(plan)


def test_a_gate_that_refuses_stops_the_run_before_it_touches_anything(calls):
    def gate(cells, plan):
        plan.found.precheck = {"ready": False, "checks": []}
        return {"cell1": None, "cell2": "versions: runs vCD 10.4.0 while the group runs 10.5.0"}

    run = mock.Mock()
    context = {}
    ret = skeleton.orchestrate({}, context, WHERE, TARGETS, mock.Mock(return_value=a_plan(gate=gate)), run)
    run.assert_not_called()
    assert ret["result"] is False and ret["retcode"] == 1 and context["retcode"] == 1
    assert ret["comment"] == (
        "Stopped at cell2, step precheck: versions: runs vCD 10.4.0 while the group runs 10.5.0. "
        "Nothing was touched: fix it and run again."
    )
    assert ret["cells"]["cell1"] == {"result": "not started", "step": "precheck", "comment": ""}
    assert ret["cells"]["cell2"]["result"] == "failed" and ret["precheck"] == {"ready": False, "checks": []}


def test_a_run_that_resumes_is_not_checked_again(calls):
    gate = mock.Mock()
    run = mock.Mock(return_value={"result": True})
    plan = a_plan(gate=gate, done=["cell1"])
    assert skeleton.orchestrate({}, {}, WHERE, TARGETS, mock.Mock(return_value=plan), run) == {"result": True}
    gate.assert_not_called()


def a_reported_plan():
    """A plan whose events go to a stand-in for the master's bus."""
    plan = a_plan()
    plan.fire = mock.Mock()
    return plan


def test_a_reported_run_writes_its_journal_says_its_progress_and_returns_its_reports_path(calls, tmp_path):
    plan = a_reported_plan()
    bus, jid_event = plan.fire, mock.Mock()
    (tmp_path / "master_event_pull.ipc").touch()  # a salt-master listens
    opts = {"cachedir": str(tmp_path), "sock_dir": str(tmp_path)}

    def run(plan):
        plan.fire("drain/start", {"rollout": "p", "cells": ["cell1"]})
        return {"result": True, "comment": "2 cell(s) rolled through maintenance"}

    ret = skeleton.orchestrate(
        opts, {}, WHERE, TARGETS, mock.Mock(return_value=plan), run, reporting=skeleton.Reporting(5, jid_event)
    )
    report = ret["report"]
    assert report.startswith(str(tmp_path / "vcd_reports" / "vcd_rolling-p-")) and report.endswith(".html")
    report_id = report.rsplit("/", 1)[1][: -len(".html")]
    tags = [e["tag"] for e in skeleton.journals.entries(opts, report_id)]
    assert tags == ["run/start", "drain/start", "run/finish"]
    # Each event still goes on the bus, and is said as the job's progress.
    assert [c.args[0] for c in bus.call_args_list] == tags
    said = [c.args[0]["message"][9:] for c in jid_event.fire_event.call_args_list]
    assert said == [
        "vcd_rolling p begins on cell1, cell2",
        "drain: started on cell1",
        f"done: 2 cell(s) rolled through maintenance (report: {report})",
    ]
    assert plan.record.data["journal"] == report_id


def test_a_run_refused_on_its_way_still_reports_where_its_report_is(calls, tmp_path):
    plan = a_reported_plan()
    bus = plan.fire
    refusal = SaltInvocationError("cell(s) did not answer: cell2 (its job was lost)")
    jid_event = mock.Mock()
    ret = skeleton.orchestrate(
        {"cachedir": str(tmp_path), "sock_dir": str(tmp_path)},  # no salt-master: salt-ssh alone
        {},
        WHERE,
        TARGETS,
        mock.Mock(return_value=plan),
        mock.Mock(side_effect=refusal),
        reporting=skeleton.Reporting(jid_event=jid_event),
    )
    assert ret["comment"] == "cell(s) did not answer: cell2 (its job was lost). Nothing was touched."
    assert ret["retcode"] == 1 and ret["report"].endswith(".html")
    (finish,) = [c.args[1] for c in bus.call_args_list if c.args[0] == "run/finish"]
    assert finish == {"result": False, "comment": ret["comment"], "report": ret["report"]}
    # With no salt-master to carry the job's progress, none is sent (each would wait a second for one).
    jid_event.fire_event.assert_not_called()


def test_report_keep_is_checked_before_anything_is_asked(calls):
    prepare = mock.Mock()
    ret = skeleton.orchestrate({}, {}, WHERE, TARGETS, prepare, mock.Mock(), reporting=skeleton.Reporting(0))
    assert ret["comment"].startswith("report_keep must be") and ret["retcode"] == 1
    prepare.assert_not_called()
