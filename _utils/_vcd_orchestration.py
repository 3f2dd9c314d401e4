"""
What the master-side orchestrations share: reading the plan's arguments, running functions and states
on the cells' minions, events on the master's bus, the record in the master's cache a re-run resumes
from, and the loop that runs a plan's steps.

A plan's steps are named functions, each ``step(cells, plan)`` (the plan: a
:class:`_vcd_orchestration_plan.Plan`) returning ``{cell: None or why it failed}``. :func:`run_steps`
runs them in order, records each one done, fires ``<step>/start`` and ``<step>/finish`` (or per-cell
events, as the orchestration chooses) and stops at the first failure.
"""

import copy
import hashlib
import json
import os
import time

import salt.cache
import salt.client
import salt.utils.event
import salt.utils.minions
from salt.exceptions import SaltInvocationError

import _vcd_cell_values as valid
import _vcd_window as windows

HEALTH_CALL_TIMEOUT = 60
# Seconds a quiesce is given to return; a newer tool that waits for the jobs is stopped then, and the
# cell stays quiesced: what follows (the drain, the switchover) goes on from there.
QUIESCE_WAIT = 30
# How long a job may go without a sign of life before it is taken for lost: Salt asks a minion that has
# not returned whether it still runs the job (saltutil.find_job) once this has passed, and again every
# gather_job_timeout (10 s by default) while it does. A job lost with its minion (restarted, upgraded,
# OOM-killed, its host down) is so known within about this plus twice gather_job_timeout, not after the
# step's own deadline (the plan's timeout, 2 hours by default), which is kept apart from it.
LIVENESS_SECONDS = 15
# How often the wait for a job's returns looks at the master's event bus.
RETURN_POLL_SECONDS = 0.05
# How often a wait for rebooted hosts asks again, and how long one ask may wait for a minion (one whose
# host is down answers nothing).
WAIT_POLL_SECONDS = 0.5
WAIT_CALL_TIMEOUT = 10
# How a minion says a function failed: by the return code its return event carries (LocalClient's
# get_iter_returns passes it on as "retcode"), never by what the return's text starts with. What Salt
# 3006.29 and 3008 do alike (salt/minion.py, _thread_return and _thread_multi_return):
# - a job of one function: "retcode" is an int, non-zero when the function raised (CommandExecutionError
#   and SaltInvocationError give "ERROR: ..." as the return), is not available, set
#   __context__["retcode"], or returned a dict with "result" or "success" false (no vcd_cell function
#   returns such a dict);
# - a job of several functions (call_each): "retcode" is a dict {function: code}, and a function that
#   raised has no entry at all (its return is the traceback, its "success" stays false); so a missing
#   entry is a failure too. __context__["retcode"] is not reset between the functions of one job: a code
#   set by one (state functions, cmd.run) is reported for those after it, which is why call_each never
#   mixes such functions with the vcd_cell ones.
# salt-ssh's route (_vcd_orchestration_ssh) gives each answer its return code the same way.
TARGET_TYPES = (
    "glob",
    "pcre",
    "list",
    "grain",
    "grain_pcre",
    "pillar",
    "pillar_pcre",
    "nodegroup",
    "compound",
    "ipcidr",
)


# -- the plan's arguments --------------------------------------------------------------------------


def resolve_cells(calls, cells, tgt_type):
    """
    The cells in order: a list as given, or the targets an expression matches, sorted (the accepted
    minions, or the roster's over salt-ssh: ``calls`` is a :class:`Cells`).
    """
    if isinstance(cells, (list, tuple)):
        if not cells or not all(isinstance(cell, str) and cell for cell in cells):
            raise SaltInvocationError("cells must be a non-empty list of minion ids or a target expression")
        if len(set(cells)) != len(cells):
            raise SaltInvocationError(f"cells lists a minion twice: {cells}")
        return list(cells)
    if not isinstance(cells, str) or not cells:
        raise SaltInvocationError("cells must be a non-empty list of minion ids or a target expression")
    valid.choice("tgt_type", tgt_type, calls.target_types)
    matched = calls.targets(cells, tgt_type)
    if not matched:
        raise SaltInvocationError(f"The target {cells!r} ({tgt_type}) matches no {calls.what}")
    return matched


def with_cell_setting(pillar, section, key, value):
    """A copy of the cells' ``pillar`` with ``vcd_cell:<section>:<key>`` set to ``value``."""
    merged = copy.deepcopy(pillar or {})
    merged.setdefault("vcd_cell", {}).setdefault(section, {})[key] = value
    return merged


def active_pillar(cell_pillar, health_timeout):
    """The pillar for ``vcd.active``, whose own wait for the cell to serve is the health gate."""
    return with_cell_setting(cell_pillar, "active", "health_timeout", health_timeout)


def route(calls, cells):
    """
    ``"appliance"`` when every cell is a vCD appliance (``vcd_cell:appliance_api_url`` set), ``"linux"``
    when none is; a mix (a server group VMware does not support) or a cell that does not answer is a
    SaltInvocationError naming the cells. Asks the cells (``calls``: :class:`Cells`), touching nothing.
    """
    answers = calls.call(cells, "config.get", arg=["vcd_cell:appliance_api_url"])
    silent = [f"{cell} ({answers.why_silent(cell)})" for cell in cells if cell not in answers]
    if silent:
        raise SaltInvocationError(f"cell(s) did not answer: {', '.join(silent)}")
    appliances = [cell for cell in cells if answers[cell]]
    if appliances and len(appliances) != len(cells):
        linux = [cell for cell in cells if cell not in appliances]
        raise SaltInvocationError(
            f"the plan mixes vCD appliances ({', '.join(appliances)}) and Linux cells ({', '.join(linux)}): VMware "
            "does not support a mixed server group"
        )
    return "appliance" if appliances else "linux"


def plan_id(*parts):
    """The same plan makes the same id, so a re-run finds its record."""
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


# -- talking to the cells --------------------------------------------------------------------------


class Cells:
    """Runs functions and states on the cells' minions and reads their answers."""

    target_types = TARGET_TYPES
    what = "accepted minion"
    #: The run id of the window the calls act for: passed to each function that changes a cell.
    window = None

    def __init__(self, opts, timeout):
        self.opts = opts
        self.client = salt.client.get_local_client(opts["conf_file"])
        self.timeout = timeout
        self.changed = {}

    def targets(self, expression, tgt_type):
        """The accepted minions matching ``expression``, sorted."""
        return sorted(salt.utils.minions.CkMinions(self.opts).check_minions(expression, tgt_type)["minions"])

    def call(self, cells, fun, arg=(), kwarg=None, timeout=None):
        """
        ``{cell: return}`` (:class:`Answers`) within ``timeout`` seconds (default the plan's); a cell that
        returned nothing is missing, and ``why_silent(cell)`` says why: its job lost, or no return in time.
        """
        if not cells:
            return Answers()
        return self._job(cells, fun, list(arg), self.windowed(fun, kwarg), timeout or self.timeout)

    def windowed(self, fun, kwarg):
        """``kwarg`` of a call of ``fun``, with the window it acts for where ``fun`` changes a cell."""
        if self.window is None or fun not in windows.GUARDED:
            return kwarg
        return dict(kwarg or {}, window=self.window)

    def call_each(self, cells, calls, timeout=None):
        """
        Several functions in one job (Salt's compound command: one publish, one return per cell), each
        a ``(fun, args, kwargs)``: ``{fun: {cell: return}}``, as :meth:`call` answers each.
        """
        if not cells:
            return {fun: Answers() for fun, _, _ in calls}
        funs = [fun for fun, _, _ in calls]
        args = []
        for fun, arg, kwarg in calls:
            kwarg = self.windowed(fun, kwarg)
            args.append(list(arg) + ([dict(kwarg, __kwarg__=True)] if kwarg else []))
        answers = self._job(cells, funs, args, None, timeout or self.timeout)
        return {
            fun: Answers(
                {cell: answer[fun] for cell, answer in answers.items() if isinstance(answer, dict) and fun in answer},
                answers.silent,
                {cell: _code_of(code, fun) for cell, code in answers.codes.items()},
            )
            for fun in funs
        }

    def _job(self, cells, fun, arg, kwarg, timeout):
        """Publish one job to ``cells`` and wait for its returns (:meth:`_returns`)."""
        published = self.client.run_job(
            list(cells), fun, arg=arg, tgt_type="list", kwarg=kwarg, timeout=LIVENESS_SECONDS, listen=True
        )
        if not published or "jid" not in published:
            return Answers(silent=dict.fromkeys(cells, "the salt-master did not publish the job (is it running?)"))
        jid = published["jid"]
        try:
            return self._returns(jid, _named(fun), set(cells), timeout)
        finally:
            self.client.event.unsubscribe(f"salt/job/{jid}")

    def _returns(self, jid, what, cells, timeout):
        """
        The returns of job ``jid`` as they come, until every cell returned, a cell's job is known lost, or
        ``timeout`` seconds passed. Salt's own liveness check decides "lost" (see ``LIVENESS_SECONDS``), and
        one more ``saltutil.find_job`` confirms it, so a minion slow to answer that check is not given up.
        """
        answers, silent, codes = {}, {}, {}
        deadline = time.monotonic() + timeout
        while pending := cells - answers.keys() - silent.keys():
            returns = self.client.get_iter_returns(
                jid, set(pending), timeout=LIVENESS_SECONDS, tgt_type="list", block=False
            )
            for returned in returns:
                if returned is None:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(RETURN_POLL_SECONDS)
                    continue
                for cell, data in returned.items():
                    if cell in pending and isinstance(data, dict) and "ret" in data:
                        answers[cell] = data["ret"]
                        codes[cell] = data.get("retcode")
            pending -= answers.keys()
            if pending and time.monotonic() >= deadline:
                silent.update(dict.fromkeys(pending, no_return(what, timeout, jid)))
            elif pending:
                still = self._still_running(jid, pending)
                silent.update(dict.fromkeys(pending - still, job_lost(what, jid)))
        return Answers(answers, silent, codes)

    def _still_running(self, jid, cells):
        """The cells among ``cells`` whose minion says it still runs job ``jid``."""
        found = self.client.cmd(
            list(cells), "saltutil.find_job", arg=[jid], tgt_type="list", timeout=self.opts["gather_job_timeout"]
        )
        return {cell for cell, job in found.items() if isinstance(job, dict) and job}

    def serving(self, cells):
        """The cells among ``cells`` whose health check answers "Service is up." right now."""
        answers = self.call(cells, "vcd_cell.health", timeout=HEALTH_CALL_TIMEOUT)
        return [cell for cell in cells if isinstance(answers.get(cell), dict) and answers[cell].get("up")]

    def quiesce_running(self, cells, lease, running=None):
        """
        Every running cell among ``cells`` quiesced under a quiesce lease of ``lease`` seconds (``running``:
        their ``vcd_cell.is_running`` answers, when just asked): ``(the cells it quiesced or tried to,
        {cell: None or why it is not quiesced})``; a stopped cell has nothing to quiesce.
        """
        running = running or self.call(cells, "vcd_cell.is_running")
        outcome = answered(running, cells, "vcd_cell.is_running")
        up = [cell for cell in cells if running.get(cell) is True]
        answers = self.call(up, "vcd_cell.quiesce", kwarg={"timeout": QUIESCE_WAIT, "lease": lease})
        for cell in up:
            answer = answers[cell] if cell in answers else answers.why_silent(cell)
            if not (isinstance(answer, dict) and answer.get("quiesced")):
                outcome[cell] = f"vcd_cell.quiesce: {answer}"
        return up, outcome

    def apply(self, cells, sls, pillar):
        """``state.apply sls`` on ``cells`` at once; ``{cell: None or why it failed}``."""
        return self._states(cells, "state.apply", [sls], pillar)

    def single(self, cells, state, name, kwargs, pillar):
        """One state (``state.single``) on ``cells`` at once; ``{cell: None or why it failed}``."""
        return self._states(cells, "state.single", [state, name], pillar, kwargs)

    def _states(self, cells, fun, arg, pillar, kwargs=None):
        # queue: a state run still going on a cell (one a dead orchestration started) is waited for.
        kwarg = dict(kwargs or {}, queue=True)
        if pillar:
            kwarg["pillar"] = pillar
        answers = self.call(cells, fun, arg=arg, kwarg=kwarg)
        self.keep_changes(answers)
        return {cell: state_failure(answers[cell]) if cell in answers else answers.why_silent(cell) for cell in cells}

    def keep_changes(self, answers):
        """What each cell's state run changed that a report tells (:data:`REPORTED_CHANGES`), until taken."""
        for cell, answer in answers.items():
            found = reported_changes(answer)
            if found:
                self.changed[cell] = found

    def changes(self, cells):
        """``{cell: what its last state run changed}`` for ``cells`` (each taken once)."""
        return {cell: self.changed.pop(cell) for cell in cells if cell in self.changed}

    def wait_for_each(self, cells, calls, lacking, timeout):
        """
        Ask ``cells`` the functions ``calls`` (one job a round, as :meth:`call_each`) until
        ``lacking(cell, answers)`` says nothing is lacking any more (None) for each, within ``timeout``
        seconds; ``{cell: None, or what it still lacked}``.
        """
        pending, deadline = dict.fromkeys(cells, "not asked yet"), time.monotonic() + timeout
        while pending:
            asked = time.monotonic()
            answers = self.call_each(list(pending), calls, timeout=WAIT_CALL_TIMEOUT)
            for cell in list(pending):
                pending[cell] = lacking(cell, answers)
                if pending[cell] is None:
                    del pending[cell]
            if pending and time.monotonic() >= deadline:
                return {
                    cell: f"not back within {timeout}s: {pending[cell]}" if cell in pending else None for cell in cells
                }
            time.sleep(max(0.0, WAIT_POLL_SECONDS - (time.monotonic() - asked)) if pending else 0)
        return dict.fromkeys(cells)

    def reboot(self, cells, timeout, back=None):
        """
        Reboot the hosts of ``cells`` (``vcd_cell.reboot``) and wait until each runs again on a new boot
        id and, with ``back(cell, answers)``, nothing else is lacking (asked with ``back.calls``);
        ``{cell: None, or why it is not back}``.
        """
        before = self.call(cells, "vcd_cell.boot_id")
        outcome = answered(before, cells, "vcd_cell.boot_id")
        if any(outcome.values()):
            return outcome
        started = self.call(cells, "vcd_cell.reboot")
        outcome = answered(started, cells, "vcd_cell.reboot")
        # An error refused the reboot. No answer at all may be a reboot that ended the connection (salt-ssh)
        # or took the minion down before its return went out: only a new boot id tells, so it is waited for.
        refused = {cell: why for cell, why in outcome.items() if why and cell in started}
        if refused:
            return dict(dict.fromkeys(cells), **refused)
        unanswered = [cell for cell in cells if cell not in started]

        def lacking(cell, answers):
            boot_ids = answers["vcd_cell.boot_id"]
            now = boot_ids.get(cell)
            if not isinstance(now, str) or boot_ids.failed(cell) or now == before[cell]:
                if cell in unanswered:
                    return "it did not answer vcd_cell.reboot and has not come back on a new boot id"
                return "its host has not come back from the reboot yet"
            return back(cell, answers) if back else None

        extra = list(back.calls) if back else []
        return self.wait_for_each(cells, [("vcd_cell.boot_id", (), None), *extra], lacking, timeout)

    def close(self):
        self.client.destroy()


class Answers(dict):
    """
    ``{cell: return}`` of one job, with why each cell that returned nothing did not (``silent``) and the
    return code each return came with (``codes``: see the note on return codes at the top).
    """

    def __init__(self, answers=(), silent=None, codes=None):
        super().__init__(answers)
        self.silent = dict(silent or {})
        self.codes = {cell: code for cell, code in (codes or {}).items() if code is not None}

    def why_silent(self, cell):
        return self.silent.get(cell, "the minion did not answer")

    def failed(self, cell):
        """Whether the cell's return code says its function failed (False where none came)."""
        return self.codes.get(cell, 0) != 0


def _code_of(code, fun):
    """One function's return code in a job of several; a function that raised has none: 1."""
    if isinstance(code, dict):
        return code.get(fun, 1)
    return code


def _named(fun):
    return fun if isinstance(fun, str) else ", ".join(fun)


def no_return(what, timeout, jid=None):
    """Why a cell is silent that returned nothing within the step's ``timeout``: its job runs on there."""
    return f"{what} returned nothing within {timeout}s" + (f" (job {jid})" if jid else "")


def job_lost(what, jid=None):
    """Why a cell is silent whose job was lost with its minion."""
    job = f"its job {jid} ({what})" if jid else f"its job ({what})"
    return (
        f"{job} was lost: the minion returned nothing and no longer runs it (the minion restarted or died, "
        "or its host went down)"
    )


def state_failure(answer):
    """None when a state run succeeded, else a sentence saying why it did not."""
    if answer is None:
        return "the minion did not answer"
    if not isinstance(answer, dict):
        return "; ".join(answer) if isinstance(answer, list) else str(answer)
    failed = [result for result in answer.values() if not isinstance(result, dict) or not result.get("result")]
    if not failed:
        return None
    return " ".join(str(r.get("comment", "")) if isinstance(r, dict) else str(r) for r in failed) or "a state failed"


# What a state run's changes say that a run's report shows (vcd.drained's: the jobs it waited for, those
# it cancelled, how long it took); the rest (a maintenance SLS's packages) is left to the state's return.
REPORTED_CHANGES = ("jobs", "cancelled", "drain_seconds")


def reported_changes(answer):
    """:data:`REPORTED_CHANGES` of every state in a state run's ``answer``, merged."""
    found = {}
    if isinstance(answer, dict):
        for result in answer.values():
            changes = result.get("changes") if isinstance(result, dict) else None
            if isinstance(changes, dict):
                found.update({key: changes[key] for key in REPORTED_CHANGES if key in changes})
    return found


def answered(answers, cells, fun):
    """
    ``{cell: None or why}``: whether each cell answered ``fun`` (its :class:`Answers`) without an error,
    as its return code says.
    """
    outcome = {}
    for cell in cells:
        answer = answers.get(cell)
        if cell not in answers:
            outcome[cell] = answers.why_silent(cell)
        elif answer is None:
            outcome[cell] = "the minion did not answer"
        elif answers.failed(cell):
            outcome[cell] = f"{fun}: {_said(answer)}"
        else:
            outcome[cell] = None
    return outcome


def _said(answer):
    """What a failed answer says, in a line: a traceback's last line is the exception itself."""
    text = answer if isinstance(answer, str) else repr(answer)
    return text.strip().splitlines()[-1] if text.startswith("Traceback") else text


# -- progress and records ----------------------------------------------------------------------------


def events(opts, prefix):
    """
    How an orchestration tells its progress, the one way every step does: ``fire(tag, data)`` puts
    ``<prefix>/<tag>`` on the master's bus (:func:`fire`).
    """

    def fire_under_prefix(tag, data):
        fire(opts, f"{prefix}/{tag}", data)

    return fire_under_prefix


def fire(opts, tag, data):
    """
    An event on the master's bus, for ``salt-run state.event`` watchers; none when no salt-master runs
    (salt-ssh needs none): the orchestration's return says everything then.
    """
    if not master_listens(opts):
        return
    event = salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False)
    try:
        event.fire_event(data, tag)
    finally:
        event.destroy()


def master_listens(opts):
    """
    Whether a salt-master takes events here: without one (salt-ssh needs none) every event sent would
    wait a second for a connection that never comes.
    """
    return os.path.exists(os.path.join(opts["sock_dir"], "master_event_pull.ipc"))


class Record:
    """What an orchestration has done, in the master's cache under ``bank``/``key``, so a re-run resumes."""

    def __init__(self, opts, bank, key):
        self.cache = salt.cache.factory(opts)
        self.bank = bank
        self.key = key
        self.data = self.cache.fetch(bank, key) or {"done": []}

    def done(self, name):
        return name in self.data["done"]

    def mark_done(self, names):
        self.data["done"] = self.data["done"] + [n for n in names if n not in self.data["done"]]
        self.save()

    def save(self):
        self.cache.store(self.bank, self.key, self.data)

    def kept(self):
        """Whether the record is in the cache (a run to resume), not forgotten."""
        return bool(self.cache.fetch(self.bank, self.key))

    def forget(self):
        self.cache.flush(self.bank, self.key)


def announcer(plan, key, prefix=""):
    """
    ``announce(step, cells, outcome)`` for :func:`run_steps`: ``<prefix><step>/start`` with the cells, and
    ``<prefix><step>/finish`` with each cell's result (``done`` or why it failed) and what its state run
    changed that a report tells (``changes``), each with the plan's id under ``key``.
    """

    def announce(step, cells, outcome):
        if outcome is None:
            plan.fire(f"{prefix}{step}/start", {key: plan.id, "cells": list(cells)})
            return
        finished = {key: plan.id, "results": {cell: why or "done" for cell, why in outcome.items()}}
        changes = plan.cells.changes(list(outcome))
        if changes:
            finished["changes"] = changes
        plan.fire(f"{prefix}{step}/finish", finished)

    return announce


def run_steps(steps, cells, plan, report, announce=None, record=None):
    """
    Run ``steps`` (``(name, function)`` pairs) on ``cells`` in order; ``announce(step, cells, outcome)``
    tells of each one starting (``outcome`` None) and finishing, and ``record`` (a :class:`Record`)
    keeps each step done. Each cell's ``report`` entry lists the steps it went through. Returns the
    first failure as ``(cell, step, why, outcome)``, or None.
    """
    for name, step in steps:
        if announce:
            announce(name, cells, None)
        outcome = step(cells, plan)
        for cell in cells:
            report[cell].setdefault("steps", []).append(name)
        if announce:
            announce(name, cells, outcome)
        failures = {cell: why for cell, why in outcome.items() if why}
        if failures:
            cell = next(iter(failures))
            return cell, name, failures[cell], outcome
        if record is not None:
            record.mark_done([name])
    return None
