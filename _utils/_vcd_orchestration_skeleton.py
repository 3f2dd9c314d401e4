"""
The skeleton both master-side orchestrations (``vcd_rolling``, ``vcd_upgrade``) run in, written once:
reach the cells (their minions, or salt-ssh's roster), resolve the targets, check the plan's arguments
and build the plan (what every plan holds, its record and its events, made here), run its checks
before it touches anything (the precheck's, on a run that resumes nothing), run the plan, close the
connection, and judge the return (Salt's exit code). An argument refused, or a check that refuses, at
any point, touches nothing and says so.
"""

from salt.exceptions import SaltInvocationError

import _vcd_orchestration as orchestration
import _vcd_orchestration_ssh as transports


def succeeded(ret):
    """An orchestration's return says it did what it was asked."""
    return ret.get("result") is True


def orchestrate(opts, loader_context, where, targets, prepare, run, judge=succeeded):
    """
    One run of an orchestration. ``where``: its ``(cache bank, event prefix)``; ``targets``: ``(cells,
    tgt_type, timeout, ssh)`` as the runner was given them; ``prepare(planned, ordered)`` checks the other
    arguments against the resolved cells (raising SaltInvocationError) and returns the plan, which it
    builds with ``planned(kind, plan_id, **fields)`` (:func:`planner`); the plan's ``gate`` step, when
    it has one, runs first (:func:`_checked`); ``run(plan)`` returns the orchestration's return, with the
    gate's warnings and failures under ``precheck``. A return ``judge`` does not find good (by default:
    its ``result`` is not True) gets ``retcode: 1``, and so does the job (``loader_context``: the
    runner's ``__context__``), so ``salt-run`` exits non-zero; a refusal always does.
    """
    cells, tgt_type, timeout, ssh = targets
    try:
        calls = transports.reach(opts, timeout, ssh)
    except SaltInvocationError as exc:
        return _judged(loader_context, refused(exc), succeeded)
    try:
        ordered = orchestration.resolve_cells(calls, cells, tgt_type)
        plan = prepare(planner(opts, where, calls, ordered, timeout), ordered)
        ret = _checked(plan) or run(plan)
        if plan.found.precheck is not None:
            ret["precheck"] = plan.found.precheck
        return _judged(loader_context, ret, judge)
    except SaltInvocationError as exc:
        return _judged(loader_context, refused(exc), succeeded)
    finally:
        calls.close()


def planner(opts, where, calls, ordered, timeout):
    """
    ``planned(kind, plan_id, **fields)``: the plan of this run, ``kind`` (:class:`Rollout
    <_vcd_orchestration_plan.Rollout>` or ``Upgrade``) with ``fields``, over the ``ordered`` cells reached
    through ``calls``, its record in ``where``'s cache bank under ``plan_id``, its events under
    ``where``'s prefix.
    """
    bank, prefix = where

    def planned(kind, plan_id, **fields):
        return kind(
            id=plan_id,
            order=ordered,
            cells=calls,
            record=orchestration.Record(opts, bank, plan_id),
            fire=orchestration.events(opts, prefix),
            timeout=timeout,
            **fields,
        )

    return planned


def _checked(plan):
    """
    The plan's ``gate`` (:func:`_vcd_precheck.gate`) on every cell, before anything is touched, on a
    run whose record holds nothing done (a run that resumes was checked when it began, and a cell it
    left down is its own to bring back): None when it lets the run go on, else the run's return.
    """
    if plan.gate is None or plan.record.data["done"]:
        return None
    report = {cell: {} for cell in plan.order}
    failure = orchestration.run_steps([("precheck", plan.gate)], plan.order, plan, report)
    if failure is None:
        return None
    cell, _, why, outcome = failure
    return {
        "result": False,
        "comment": f"Stopped at {cell}, step precheck: {why}. Nothing was touched: fix it and run again.",
        "cells": {
            cell: {
                "result": "failed" if outcome[cell] else "not started",
                "step": "precheck",
                "comment": outcome[cell] or "",
            }
            for cell in plan.order
        },
    }


def refused(exc):
    """The return of a run refused before it touched anything."""
    return {"result": False, "comment": f"{exc}. Nothing was touched.", "cells": {}}


def _judged(loader_context, ret, judge):
    # salt-run takes its exit code from a "retcode" key in the runner's return (salt/cli/run.py); the
    # loader's __context__["retcode"] makes the job's "success" false (salt/client/mixins.py), which a
    # salt.runner state in an orchestration reads. Both, as a failed run is both.
    if not judge(ret):
        loader_context["retcode"] = ret["retcode"] = 1
    return ret
