"""
The skeleton both master-side orchestrations (``vcd_rolling``, ``vcd_upgrade``) run in, written once:
reach the cells (their minions, or salt-ssh's roster), resolve the targets, check the plan's arguments,
run the plan, close the connection, and judge the return (Salt's exit code). An argument refused, at
any point, touches nothing and says so.
"""

from salt.exceptions import SaltInvocationError

import _vcd_orchestration as orchestration
import _vcd_orchestration_ssh as transports


def orchestrate(opts, loader_context, targets, prepare, run):
    """
    One run of an orchestration. ``targets``: ``(cells, tgt_type, timeout, ssh)`` as the runner was
    given them; ``prepare(calls, ordered)`` checks the other arguments against the resolved cells
    (raising SaltInvocationError) and returns the plan (:mod:`_vcd_orchestration_plan`); ``run(plan)`` returns the
    orchestration's return. A return whose ``result`` is not True sets the exit code
    (``loader_context``: the runner's ``__context__``), so ``salt-run`` exits non-zero.
    """
    cells, tgt_type, timeout, ssh = targets
    try:
        calls = transports.reach(opts, timeout, ssh)
    except SaltInvocationError as exc:
        return _judged(loader_context, refused(exc))
    try:
        ordered = orchestration.resolve_cells(calls, cells, tgt_type)
        return _judged(loader_context, run(prepare(calls, ordered)))
    except SaltInvocationError as exc:
        return _judged(loader_context, refused(exc))
    finally:
        calls.close()


def refused(exc):
    """The return of a run refused before it touched anything."""
    return {"result": False, "comment": f"{exc}. Nothing was touched.", "cells": {}}


def _judged(loader_context, ret):
    if ret.get("result") is not True:
        loader_context["retcode"] = 1
    return ret
