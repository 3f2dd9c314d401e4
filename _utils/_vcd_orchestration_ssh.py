"""
The orchestrations' cells reached over salt-ssh, with no salt-minion on them (``ssh: true``).

:class:`SshCells` answers exactly as :class:`_vcd_orchestration.Cells` does, so the steps, checks,
records and events stay the same. The targets are the roster's. Salt-ssh runs each call in a
``salt-call`` it ships to the host; an execution function called on its own there gets no pillar (a
limitation of salt-ssh), so the ``vcd_cell.*`` functions are called inside a state run (the
``vcd_cell.call`` state), which gets the target's pillar in a file, never on a command line. Several
functions asked at once go in one state run: one connection per cell.
"""

import salt.client.ssh.client
import salt.roster

import _vcd_cell_values as valid
import _vcd_orchestration as orchestration

# What salt-ssh's rosters can match (salt.utils.roster_matcher).
TARGET_TYPES = ("glob", "pcre", "list", "nodegroup", "range")
# Seconds an SSH connection may take to open: a host that is down (rebooting) is "no answer" by then.
CONNECT_SECONDS = 30
MODULE = "vcd_cell."
STATE = "vcd_cell.call"


def reach(opts, timeout, ssh):
    """How the orchestration reaches its cells: their minions, or salt-ssh (``ssh: true``)."""
    valid.flag("ssh", ssh)
    return SshCells(opts, timeout) if ssh else orchestration.Cells(opts, timeout)


class SshCells(orchestration.Cells):
    """Runs functions and states on the cells through salt-ssh and reads their answers."""

    target_types = TARGET_TYPES
    what = "target of the roster"

    def __init__(self, opts, timeout):  # pylint: disable=super-init-not-called
        self.opts = opts
        self.client = salt.client.ssh.client.SSHClient(c_path=opts["conf_file"])
        self.timeout = timeout
        self.changed = {}

    def targets(self, expression, tgt_type):
        """The roster's targets matching ``expression``."""
        roster = salt.roster.Roster(self.opts, self.opts.get("roster", "flat"))
        return sorted(roster.targets(expression, tgt_type))

    def call(self, cells, fun, arg=(), kwarg=None, timeout=None):
        """``{cell: return}``; a cell that could not be reached is missing."""
        if fun.startswith(MODULE):
            return self.call_each(cells, [(fun, arg, kwarg)], timeout)[fun]
        return self._ssh(cells, fun, list(arg), kwarg, timeout)

    def call_each(self, cells, calls, timeout=None):
        """
        The ``vcd_cell.*`` functions of ``calls`` in one state run per cell; any other (``config.get``, read
        by salt-ssh's own wrapper with the pillar) on its own.
        """
        if not cells:
            return {fun: orchestration.Answers() for fun, _, _ in calls}
        high = {
            _chunk_id(index, fun): {
                "vcd_cell": [
                    "call",
                    {"name": fun},
                    {"arg": list(arg)},
                    {"kwarg": dict(self.windowed(fun, kwarg) or {})},
                ],
                "__env__": "base",
                "__sls__": "vcd_orchestration",
            }
            for index, (fun, arg, kwarg) in enumerate(calls)
            if fun.startswith(MODULE)
        }
        runs = self._ssh(cells, "state.high", [high], None, timeout) if high else orchestration.Answers()
        answers = {}
        for index, (fun, arg, kwarg) in enumerate(calls):
            if fun.startswith(MODULE):
                chunk = _chunk_id(index, fun)
                returned = {cell: _returned(run, chunk) for cell, run in runs.items()}
                answers[fun] = orchestration.Answers(
                    {cell: value for cell, (value, _) in returned.items()},
                    runs.silent,
                    {cell: code for cell, (_, code) in returned.items()},
                )
            else:
                answers[fun] = self._ssh(cells, fun, list(arg), kwarg, timeout)
        return answers

    def _states(self, cells, fun, arg, pillar, kwargs=None):
        # salt-ssh has no state queue: the run on a host is that connection's, and ends with it.
        kwarg = dict(kwargs or {})
        if pillar:
            kwarg["pillar"] = pillar
        answers = self._ssh(cells, fun, list(arg), kwarg, None)
        self.keep_changes(answers)
        return {
            cell: orchestration.state_failure(answers[cell]) if cell in answers else answers.why_silent(cell)
            for cell in cells
        }

    def _ssh(self, cells, fun, arg, kwarg, timeout):
        """
        ``fun`` on ``cells`` at once through salt-ssh: ``{cell: its return}`` (:class:`Answers`), unreachable
        cells left out with what ssh said. A connection cut while the call runs ends that ssh process, so
        it is known at once, as a host that cannot be reached is.
        """
        if not cells:
            return orchestration.Answers()
        answers = self.client.cmd(
            list(cells),
            fun,
            arg=arg,
            kwarg=kwarg,
            tgt_type="list",
            timeout=min(timeout or self.timeout, CONNECT_SECONDS),
        )
        silent = {
            cell: f"salt-ssh could not reach it or lost its connection ({_said(answers.get(cell))})"
            for cell in cells
            if cell not in answers or _unreachable(answers[cell])
        }
        unwrapped = {cell: _unwrapped(answer) for cell, answer in answers.items() if cell not in silent}
        return orchestration.Answers(
            {cell: value for cell, (value, _) in unwrapped.items()},
            silent,
            {cell: code for cell, (_, code) in unwrapped.items()},
        )

    def close(self):
        """Nothing stays open between salt-ssh's calls."""


def _chunk_id(index, fun):
    return f"{fun} #{index}"


def _unreachable(answer):
    """Whether salt-ssh never got to run anything: ssh itself failed (it exits 255 and says ``ssh:``)."""
    if not isinstance(answer, dict) or "_error" not in answer:
        return False
    said = f"{answer.get('stderr') or ''} {answer.get('stdout') or ''}"
    return answer.get("retcode") == 255 and ("ssh:" in said or "Permission denied" in said or not said.strip())


def _said(answer):
    """The last line ssh or salt-ssh said about an unreachable host."""
    if not isinstance(answer, dict):
        return "no answer"
    said = f"{answer.get('stderr') or ''}\n{answer.get('stdout') or ''}".strip().splitlines()
    return said[-1] if said else answer.get("_error", "no answer")


def _unwrapped(answer):
    """
    ``(what the function returned, its return code)``, as a minion's return carries them: salt-ssh's
    own return code where it says one, else 0; an error (``_error``) is what the host said last, code 1.
    """
    if isinstance(answer, dict) and "return" in answer:
        return answer["return"], answer.get("retcode") or 0
    if isinstance(answer, dict) and "_error" in answer:
        said = (answer.get("stderr") or answer.get("stdout") or "").strip().splitlines()
        return (said[-1] if said else answer["_error"]), answer.get("retcode") or 1
    return answer, 0


def _returned(run, chunk):
    """
    ``(what one function of a vcd_cell.call state run returned, its return code)``: the function's
    return, 0; its error (the state's comment), or the run's when it did not get that far, 1.
    """
    if not isinstance(run, dict):
        return ("; ".join(str(line) for line in run) if isinstance(run, list) else str(run)), 1
    for result in run.values():
        if isinstance(result, dict) and result.get("__id__") == chunk:
            if result.get("result"):
                return (result.get("changes") or {}).get("return"), 0
            return result.get("comment"), 1
    return f"{chunk} did not run", 1
