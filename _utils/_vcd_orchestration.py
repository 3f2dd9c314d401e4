"""
What the master-side orchestrations share: reading the plan's arguments, running functions and states
on the cells' minions, events on the master's bus, the record in the master's cache a re-run resumes
from, and the loop that runs a plan's steps.

A plan is a list of named steps, each a function ``step(cells, context)`` returning ``{cell: None or
why it failed}``. :func:`run_steps` runs them in order, records each one done, fires ``<step>/start`` and
``<step>/finish`` (or per-cell events, as the orchestration chooses) and stops at the first failure.
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

HEALTH_CALL_TIMEOUT = 60
# How often a wait for rebooted hosts asks again, and how long one ask may wait for a minion (one whose
# host is down answers nothing).
WAIT_POLL_SECONDS = 0.5
WAIT_CALL_TIMEOUT = 10
# How a minion's return says a function failed: its error, an unforeseen exception, a missing function,
# and, in a job of several functions, the traceback of one that raised.
SALT_ERRORS = ("ERROR", "Error", "The minion function caused an exception", "'vcd_cell", "Traceback")
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


def whole_number(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SaltInvocationError(f"{name} must be a whole number of at least {minimum}, not {value!r}")
    return value


def seconds(name, value, minimum=0):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise SaltInvocationError(f"{name} must be a number of seconds of at least {minimum}, not {value!r}")
    return value


def optional_text(name, value, what):
    if value is not None and (not isinstance(value, str) or not value):
        raise SaltInvocationError(f"{name} must be {what}, not {value!r}")
    return value


def optional_dict(name, value):
    if value is not None and not isinstance(value, dict):
        raise SaltInvocationError(f"{name} must be a dictionary")
    return value


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
    if tgt_type not in calls.target_types:
        raise SaltInvocationError(f"tgt_type must be one of {', '.join(calls.target_types)}, not {tgt_type!r}")
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
    silent = [cell for cell in cells if cell not in answers]
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

    def __init__(self, opts, timeout):
        self.opts = opts
        self.client = salt.client.get_local_client(opts["conf_file"])
        self.timeout = timeout

    def targets(self, expression, tgt_type):
        """The accepted minions matching ``expression``, sorted."""
        return sorted(salt.utils.minions.CkMinions(self.opts).check_minions(expression, tgt_type)["minions"])

    def call(self, cells, fun, arg=(), kwarg=None, timeout=None):
        """``{cell: return}``; a cell that did not answer is missing."""
        if not cells:
            return {}
        return self.client.cmd(cells, fun, arg=list(arg), kwarg=kwarg, tgt_type="list", timeout=timeout or self.timeout)

    def call_each(self, cells, calls, timeout=None):
        """
        Several functions in one job (Salt's compound command: one publish, one return per cell), each
        a ``(fun, args, kwargs)``: ``{fun: {cell: return}}``, as :meth:`call` answers each.
        """
        if not cells:
            return {fun: {} for fun, _, _ in calls}
        funs = [fun for fun, _, _ in calls]
        args = [list(arg) + ([dict(kwarg, __kwarg__=True)] if kwarg else []) for _, arg, kwarg in calls]
        answers = self.client.cmd(cells, funs, arg=args, tgt_type="list", timeout=timeout or self.timeout)
        return {
            fun: {cell: answer[fun] for cell, answer in answers.items() if isinstance(answer, dict) and fun in answer}
            for fun in funs
        }

    def serving(self, cells):
        """The cells among ``cells`` whose health check answers "Service is up." right now."""
        answers = self.call(cells, "vcd_cell.health", timeout=HEALTH_CALL_TIMEOUT)
        return [cell for cell in cells if isinstance(answers.get(cell), dict) and answers[cell].get("up")]

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
        return {cell: state_failure(answers.get(cell)) for cell in cells}

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
            now = answers["vcd_cell.boot_id"].get(cell)
            if not isinstance(now, str) or answered({cell: now}, [cell], "")[cell] or now == before[cell]:
                if cell in unanswered:
                    return "it did not answer vcd_cell.reboot and has not come back on a new boot id"
                return "its host has not come back from the reboot yet"
            return back(cell, answers) if back else None

        extra = list(back.calls) if back else []
        return self.wait_for_each(cells, [("vcd_cell.boot_id", (), None), *extra], lacking, timeout)

    def close(self):
        self.client.destroy()


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


def answered(answers, cells, fun):
    """``{cell: None or why}``: whether each cell answered ``fun`` without an error."""
    outcome = {}
    for cell in cells:
        answer = answers.get(cell)
        if answer is None:
            outcome[cell] = "the minion did not answer"
        elif isinstance(answer, str) and answer.startswith(SALT_ERRORS):
            # A traceback's last line is the exception itself.
            outcome[cell] = f"{fun}: {answer.strip().splitlines()[-1] if answer.startswith('Traceback') else answer}"
        else:
            outcome[cell] = None
    return outcome


# -- progress and records ----------------------------------------------------------------------------


def fire(opts, tag, data):
    """
    An event on the master's bus, for ``salt-run state.event`` watchers; none when no salt-master runs
    (salt-ssh needs none): the orchestration's return says everything then.
    """
    if not os.path.exists(os.path.join(opts["sock_dir"], "master_event_pull.ipc")):
        return
    event = salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False)
    try:
        event.fire_event(data, tag)
    finally:
        event.destroy()


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

    def forget(self):
        self.cache.flush(self.bank, self.key)


def run_steps(steps, cells, context, report, announce=None, record=None):
    """
    Run ``steps`` (``(name, function)`` pairs) on ``cells`` in order; ``announce(step, cells, outcome)``
    tells of each one starting (``outcome`` None) and finishing, and ``record`` (a :class:`Record`)
    keeps each step done. Each cell's ``report`` entry lists the steps it went through. Returns the
    first failure as ``(cell, step, why, outcome)``, or None.
    """
    for name, step in steps:
        if announce:
            announce(name, cells, None)
        outcome = step(cells, context)
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
