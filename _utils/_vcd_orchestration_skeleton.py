"""
The skeleton both master-side orchestrations (``vcd_rolling``, ``vcd_upgrade``) run in, written once:
reach the cells (their minions, or salt-ssh's roster), resolve the targets, check the plan's arguments
and build the plan (what every plan holds, its record and its events, made here), claim its cells for
this run's window (:mod:`_vcd_orchestration_window`: a cell another run holds refuses the run), run its
checks before it touches anything (the precheck's, on a run that resumes nothing), run the plan, end
the claim, close the connection, and judge the return (Salt's exit code). An argument refused, a cell
held by another run, or a check that refuses, at any point, touches nothing and says so.
"""

import dataclasses
import typing

from salt.exceptions import SaltInvocationError

import _vcd_cell_defaults as defaults
import _vcd_cell_values as valid
import _vcd_orchestration as orchestration
import _vcd_orchestration_journal as journals
import _vcd_orchestration_ssh as transports
import _vcd_orchestration_window as windowing
import _vcd_progress as progress


def succeeded(ret):
    """An orchestration's return says it did what it was asked."""
    return ret.get("result") is True


def orchestrate(
    opts,
    loader_context,
    where,
    targets,
    prepare,
    run,
    judge=succeeded,
    reporting=None,
):
    """
    One run of an orchestration. ``where``: its ``(cache bank, event prefix)``; ``targets``: ``(cells,
    tgt_type, timeout, ssh)`` as the runner was given them; ``prepare(planned, ordered)`` checks the other
    arguments against the resolved cells (raising SaltInvocationError) and returns the plan, which it
    builds with ``planned(kind, plan_id, **fields)`` (:func:`planner`); the plan's ``gate`` step, when
    it has one, runs first (:func:`_checked`); ``run(plan)`` returns the orchestration's return, with the
    gate's warnings and failures under ``precheck``. A return ``judge`` does not find good (by default:
    its ``result`` is not True) gets ``retcode: 1``, and so does the job (``loader_context``: the
    runner's ``__context__``), so ``salt-run`` exits non-zero; a refusal always does.

    With ``reporting`` (a :class:`Reporting`: a window's run, not a precheck), the plan's cells are
    claimed for this run as the plan is made (:func:`_claimed`), before any is read, and the claim ended
    with the run; every event of a run that has its plan is written in its journal, its report (the path
    under ``report`` in the return) written from it as the run goes (:func:`_reported`), and said as the
    job's progress.
    """
    cells, tgt_type, timeout, ssh = targets
    try:
        if reporting is not None:
            valid.whole_number("report_keep", reporting.keep, 1)
        calls = transports.reach(opts, timeout, ssh)
    except SaltInvocationError as exc:
        return _judged(loader_context, refused(exc), succeeded)
    claimed = []
    try:
        ordered = orchestration.resolve_cells(calls, cells, tgt_type)
        windowed = (claimed, ssh) if reporting is not None else None
        plan = prepare(planner(opts, where, calls, ordered, timeout, windowed), ordered)

        def checked_and_run():
            try:
                ret = _checked(plan) or run(plan)
            except SaltInvocationError as exc:
                return _judged(loader_context, refused(exc), succeeded)
            if plan.found.precheck is not None:
                ret["precheck"] = plan.found.precheck
            _with_window(ret, plan.window)
            return _judged(loader_context, ret, judge)

        if reporting is None:
            return checked_and_run()
        return _reported(opts, where[0], plan, reporting, checked_and_run)
    except SaltInvocationError as exc:
        return _judged(loader_context, refused(exc), succeeded)
    finally:
        for held in claimed:
            # Done, or starting over: released. A record kept to resume: the claim stays, ended.
            held.window.end(finished=not held.record.kept())
        calls.close()


def planner(opts, where, calls, ordered, timeout, windowed=None):
    """
    ``planned(kind, plan_id, **fields)``: the plan of this run, ``kind`` (:class:`Rollout
    <_vcd_orchestration_plan.Rollout>` or ``Upgrade``) with ``fields``, over the ``ordered`` cells reached
    through ``calls``, its record in ``where``'s cache bank under ``plan_id``, its events under
    ``where``'s prefix. ``windowed``: ``(claimed, ssh)`` for a window's run, whose cells the plan
    claims as it is made (:func:`_claimed`), put in the list ``claimed``.
    """
    bank, prefix = where

    def planned(kind, plan_id, **fields):
        plan = kind(
            id=plan_id,
            order=ordered,
            cells=calls,
            record=orchestration.Record(opts, bank, plan_id),
            fire=orchestration.events(opts, prefix),
            timeout=timeout,
            **fields,
        )
        if windowed is not None:
            claimed, ssh = windowed
            _claimed(opts, bank, plan, ssh)
            claimed.append(plan)
        return plan

    return planned


def _claimed(opts, bank, plan, ssh):
    """
    The plan's cells claimed for this run (or :class:`_vcd_orchestration_window.WindowRefused`), its
    heartbeat begun; every function that changes a cell and every state run then acts for this window.
    """
    window = windowing.Window(opts, plan.cells, bank, plan.id, plan.order, ssh)
    window.take()
    window.heartbeat()
    plan.window = window
    plan.cells.window = window.run
    plan.cell_pillar = window.pillar(plan.cell_pillar)


def _with_window(ret, window):
    """The run's window in its return (``window``: its run id, whom it took over from), said in the comment."""
    if window is None:
        return
    ret["window"] = {"run": window.run, "took_over": window.took_over}
    if window.took_over:
        ret["comment"] = f"{ret.get('comment', '')} Took over from {window.took_over}.".strip()


# The plan's fields a report names as the plan (scalars only: no pillar, which may hold a password).
REPORTED_FIELDS = (
    "version",
    "backup",
    "db_cell",
    "install_sls",
    "on_failure",
    "min_active",
    "switchover",
    "pause",
    "timeout",
    "health_timeout",
)


class Reporting(typing.NamedTuple):
    """How a window's run is reported: ``keep`` (the newest reports kept), ``jid_event`` (the runner's
    ``__jid_event__``, through which its progress is said; None: not said)."""

    keep: int = defaults.REPORT_KEEP
    jid_event: typing.Any = None


def _reported(opts, bank, plan, reporting, run):
    """
    ``run()`` with every event of ``plan`` written in its journal (a resumed run's, or a new one) and
    said as progress, between a ``run/start`` and a ``run/finish`` event (the result, the comment, the
    report's path); the return with the report's path under ``report``.
    """
    journal, resumed = journals.begin(opts, bank, plan, reporting.keep)
    fire = journals.recording(plan.fire, journal)
    # The job's progress travels on the master's bus (salt-run prints it from there): none without one.
    progress_of = progress.reporter(reporting.jid_event if orchestration.master_listens(opts) else None)

    def fire_and_say(tag, data):
        fire(tag, data)
        progress_of(tag, data)

    plan.fire = fire_and_say
    fields = {f.name: getattr(plan, f.name) for f in dataclasses.fields(plan) if f.name in REPORTED_FIELDS}
    plan.fire(
        "run/start",
        {
            "orchestration": bank,
            "id": plan.id,
            "cells": list(plan.order),
            "user": journals.who(),
            "plan": fields,
            "resumed": resumed,
            "window": plan.window.run if plan.window else None,
            "took_over": plan.window.took_over if plan.window else None,
        },
    )
    ret = {"result": False, "comment": "the run ended in an error (the master's log says which)"}
    try:
        ret = run()
        return ret
    finally:
        ret["report"] = journal.report
        plan.fire(
            "run/finish",
            {"result": ret.get("result") is True, "comment": ret.get("comment", ""), "report": journal.report},
        )


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


def release(opts, loader_context, bank, run, force=False, cells=None, ssh=None):
    """
    ``salt-run <orchestration>.release``: run ``run``'s claim released by hand
    (:func:`_vcd_orchestration_window.release`), judged (``retcode: 1`` when refused or not complete).
    """
    try:
        valid.text("run", run, "a run's id (a refusal names it; salt-run vcd_report.show shows it)")
        valid.flag("force", force)
        if ssh is not None:
            valid.flag("ssh", ssh)
        if cells is not None and not (isinstance(cells, list) and cells and all(isinstance(c, str) for c in cells)):
            raise SaltInvocationError("cells must be a list of the minion ids (or roster targets) the run holds")
        ret = windowing.release(opts, bank, run, force=force, cells=cells, ssh=ssh)
    except SaltInvocationError as exc:
        ret = {"result": False, "comment": f"{exc}. Nothing was released.", "cells": {}}
    return _judged(loader_context, ret, succeeded)


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
