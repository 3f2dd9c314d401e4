"""
Running a cell's tools: ``cell-management-tool`` on a pseudo-terminal (answering its password prompt,
so the password is never on an argument list), the installers' and the database utility's yes/no
dialogues, ``vmware-vcd-cell`` and other commands that need no secret, and reading ``cell --status``.
"""

import logging
import os
import re
import select
import shutil
import time

import salt.utils.vt
from salt.exceptions import CommandExecutionError, SaltInvocationError

import _vcd_cell_errors as errors

log = logging.getLogger(__name__)

PASSWORD_PROMPT = "password:"
# A yes/no question of an installer or of the upgrade utility: "... [y/n]", "[Y/N]:", "(y/n)?".
QUESTION = re.compile(r"[\[(]\s*y(es)?\s*/\s*n(o)?\s*[\])]\s*[:?]?\s*$", re.IGNORECASE)
# LSB init script status codes: 0 running; 3 not running; 1 and 2 "dead" (a stale pid or lock file). The
# script's own codes are not documented, and a status that fails exits 1 too, so 1 and 2 count as "not
# running" only when the script says so: an error must never read as a stopped cell, which a drain would
# take for one drained already.
LSB_RUNNING, LSB_STOPPED, LSB_DEAD = 0, 3, (1, 2)
SAYS_NOT_RUNNING = re.compile(r"not running|stopped|\bdead\b|inactive", re.IGNORECASE)
# How often a waiting loop looks at a running tool.
TOOL_POLL_SECONDS = 0.01
# How long a tool killed with SIGKILL may take to be gone before it is reported as unkillable.
KILL_WAIT_SECONDS = 30
STATUS_FIELDS = {
    "job_count": re.compile(r"Job\s+count\s*=\s*(\S*)", re.IGNORECASE),
    "active": re.compile(r"Is\s+Active\s*=\s*(\S*)", re.IGNORECASE),
    "maintenance": re.compile(r"In\s+Maintenance\s+Mode\s*=\s*(\S*)", re.IGNORECASE),
}


def require_executable(path, key):
    """The program's full path; a program named without a directory is looked up on the PATH."""
    found = path if os.sep in path else shutil.which(path)
    if not (found and os.path.isfile(found) and os.access(found, os.X_OK)):
        raise errors.ToolError(f"{path} is missing or not executable: check vcd_cell:{key}")
    return found


def run_command(settings, argv, key, timeout=None):
    """
    Run a command that needs no secret through cmd.run_all, within ``timeout`` seconds (by default the
    module's ``cli_timeout``).
    """
    require_executable(argv[0], key)
    timeout = timeout or settings.cli_timeout
    started = time.monotonic()
    try:
        result = settings.salt["cmd.run_all"](
            argv, python_shell=False, timeout=timeout, ignore_retcode=True, output_loglevel="debug"
        )
    except CommandExecutionError as exc:  # Salt's own, when the command cannot be run at all
        raise errors.ToolError(str(exc)) from None
    # cmd.run_all reports a timeout as exit 1 with a message on stdout; the clock tells it apart.
    if time.monotonic() - started >= timeout:
        raise errors.ToolTimeout(f"{' '.join(argv)} did not finish within {timeout}s and was killed")
    return result


def first_line(settings, argv, key, what):
    """The first non-empty line the command ``argv`` (setting ``key``) prints; an error naming ``what`` else."""
    path = require_executable(argv[0], key)
    result = run_command(settings, [path, *argv[1:]], key)
    lines = [line.strip() for line in result["stdout"].splitlines() if line.strip()]
    if result["retcode"] != 0 or not lines:
        detail = (result["stdout"] + " " + result["stderr"]).strip() or "no output"
        raise errors.ToolError(f"Cannot read {what} with {' '.join(argv)} (exit {result['retcode']}): {detail}")
    return lines[0]


def cell_pid(settings):
    """The cell's process id for ``cell -i PID``, from ``pid_command``."""
    result = run_command(settings, settings.pid_command, "pid_command")
    digits = [line.strip() for line in result["stdout"].splitlines() if line.strip().isdigit()]
    if result["retcode"] != 0 or not digits:
        detail = (result["stdout"] + " " + result["stderr"]).strip()
        raise errors.ToolError(
            f"Cannot get the cell's process id from {' '.join(settings.pid_command)} "
            f"(exit {result['retcode']}): {detail or 'no output'}"
        )
    return digits[-1]


class TerminalRun:
    """
    One run of a cell's tool on a pseudo-terminal, as a person would run it: what it printed, and its
    exit code once it ended. Subclasses answer what it asks (:meth:`_answer`). Output is kept, not logged.
    """

    def __init__(self, settings, argv, display):
        self.settings = settings
        self.display = display
        self.output = ""
        self.exit_code = None
        self.started = time.monotonic()
        log.debug("vcd_cell: running %s", argv)
        try:
            self._terminal = salt.utils.vt.Terminal(
                argv, shell=False, stream_stdout=False, stream_stderr=False, rows=24, cols=200
            )
        except salt.utils.vt.TerminalException as exc:
            raise errors.ToolError(f"Cannot start {argv[0]}: {exc}") from None

    def _answer(self):
        """Answer what the tool asks now, if anything; the default answers nothing."""

    def _read(self):
        """Collect what the tool printed and answer it. True once the tool has ended."""
        stdout, stderr = self._terminal.recv()
        self.output += (stdout or "") + (stderr or "")
        self._answer()
        quiet = (stdout is None and stderr is None) or not self._terminal.has_unread_data
        if quiet and not self._terminal.isalive():
            self.output += self._printed_last()
            self.exit_code = self._terminal.exitstatus
            return True
        return False

    def _printed_last(self):
        """
        What the tool printed as it ended and vt did not read. vt looks for output, then whether the
        tool lives: a tool that prints its last line (its reason for failing) and exits in between is
        declared ended with that line unread. (Found by an upgrade whose installer's "rpm exited 1" was
        missing from the failure.)
        """
        printed = b""
        for fd in (self._terminal.child_fd, self._terminal.child_fde):
            while fd is not None and select.select([fd], [], [], 0)[0]:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: a pseudo-terminal whose tool has gone and whose output is all read
                    break
                if not chunk:
                    break
                printed += chunk
        return printed.decode(errors="replace").replace("\r\n", "\n")

    def wait(self, seconds):
        """Wait up to ``seconds`` for the tool to end; True when it has."""
        deadline = time.monotonic() + seconds
        while self.exit_code is None:
            if self._read():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(TOOL_POLL_SECONDS)
        return True

    def kill(self):
        """End the tool (SIGHUP, SIGINT, then SIGKILL) and wait until it is gone; an error if it never goes."""
        if self.exit_code is not None:
            return
        try:
            self._terminal.close(terminate=True, kill=True)
        except salt.utils.vt.TerminalException:
            # vt gives a killed tool 0.1 s to go; on a loaded host its exit takes longer than that.
            self._await_killed()

    def _await_killed(self):
        deadline = time.monotonic() + KILL_WAIT_SECONDS
        while self._terminal.isalive():
            if time.monotonic() >= deadline:
                raise errors.ToolError(
                    f"{self.display} did not end within {KILL_WAIT_SECONDS}s of SIGKILL (pid {self._terminal.pid})"
                )
            time.sleep(TOOL_POLL_SECONDS)

    def printed(self):
        """What the tool printed, the password blanked out."""
        return self.settings.redact(self.output).replace("\r\n", "\n")

    def shown_output(self):
        """The output for a message to a person."""
        return self.printed().strip() or "no output"

    def result(self):
        """What the tool printed, once it ended with exit 0; a :class:`~_vcd_cell_errors.ToolError` otherwise."""
        if self.exit_code != 0:
            raise errors.ToolError(f"{self.display} failed (exit {self.exit_code}): {self.shown_output()}")
        return self.printed()

    def finish(self, timeout):
        """Wait for the tool to end within ``timeout`` seconds, killing it if it does not."""
        if not self.wait(timeout):
            self.kill()
            raise errors.ToolTimeout(
                f"{self.display} did not finish within {timeout}s and was killed; output: {self.shown_output()}"
            )
        return self.result()


class ToolRun(TerminalRun):
    """
    One run of ``cell-management-tool cell OPTION...``.

    The real tool reads the password from its terminal, so with ``auth: password`` the run answers the
    ``Password:`` prompt; the password is never on the argument list.
    """

    def __init__(self, settings, option_args):
        require_executable(settings.cmt_path, "cmt_path")
        if settings.auth == "pid":
            argv = [settings.cmt_path, "cell", "-i", cell_pid(settings), *option_args]
        else:
            argv = [settings.cmt_path, "-u", settings.username, "cell", *option_args]
        self._password_due = settings.auth == "password"
        super().__init__(settings, argv, "cell-management-tool cell " + " ".join(option_args))
        # Answer the prompt now, so the tool never waits on whatever its caller does next.
        deadline = self.started + settings.cli_timeout
        while self._password_due and not self._read() and time.monotonic() < deadline:
            time.sleep(TOOL_POLL_SECONDS)

    def _answer(self):
        if self._password_due and self.output.rstrip().lower().endswith(PASSWORD_PROMPT):
            self._password_due = False
            self._terminal.sendline(self.settings.password)

    def printed(self):
        """What the tool printed after its password prompt, the password blanked out."""
        return re.sub(r"^\s*Password:[ \t]*\n?", "", super().printed(), flags=re.IGNORECASE)


class Dialogue(TerminalRun):
    """
    A run of an installer or of the database upgrade utility, whose yes/no questions are answered by
    their meaning: ``rules`` pairs a pattern with ``"y"``, ``"n"``, or a callable that returns the answer
    or raises. The wording is undocumented and varies, so a question no rule knows stops the run, and
    the error quotes it. ``asked`` lists each question with its answer.
    """

    def __init__(self, settings, argv, display, rules):
        self.rules = rules
        self.asked = []
        self.unknown = None
        self._answered_upto = 0
        super().__init__(settings, argv, display)

    def _answer(self):
        pending = self.output[self._answered_upto :]
        question = pending.replace("\r\n", "\n").rsplit("\n", 1)[-1].strip()
        if not QUESTION.search(question):
            return
        self._answered_upto = len(self.output)
        for pattern, answer in self.rules:
            if re.search(pattern, question, re.IGNORECASE):
                reply = answer(question) if callable(answer) else answer
                self.asked.append({"question": question, "answer": reply})
                self._terminal.sendline(reply)
                return
        self.unknown = question
        self.kill()

    def finish(self, timeout):
        try:
            return super().finish(timeout)
        except errors.ToolError:
            if self.unknown is not None:
                raise errors.ToolError(
                    f"{self.display} asked a question this module does not know how to answer, so it was "
                    f"stopped: {self.unknown!r}"
                ) from None
            raise


def cell_tool(settings, *option_args):
    return ToolRun(settings, list(option_args)).finish(settings.cli_timeout)


def cell_script(settings, action, expected=(0,)):
    """
    Run ``vmware-vcd-cell ACTION``; its exit code, which must be one of ``expected``, else the error
    quotes what the script said.
    """
    result = run_command(settings, [settings.cell_script, action], "cell_script")
    if result["retcode"] not in expected:
        said = (result["stdout"] + result["stderr"]).strip() or "no output"
        raise errors.ToolError(f"{settings.cell_script} {action} failed (exit {result['retcode']}): {said}")
    return result["retcode"]


def service_runs(settings):
    """
    Whether the cell's service runs, by ``vmware-vcd-cell status``; a :class:`~_vcd_cell_errors.ToolError` quoting the
    script when its answer does not say (see ``SAYS_NOT_RUNNING``).
    """
    result = run_command(settings, [settings.cell_script, "status"], "cell_script")
    said = (result["stdout"] + result["stderr"]).strip()
    if result["retcode"] == LSB_RUNNING:
        return True
    if result["retcode"] == LSB_STOPPED or (result["retcode"] in LSB_DEAD and SAYS_NOT_RUNNING.search(said)):
        return False
    raise errors.ToolError(
        f"{settings.cell_script} status failed (exit {result['retcode']}): {said or 'no output'}. Whether the "
        "cell runs is not known"
    )


def parse_status(output):
    """
    Parse the fields of ``cell --status`` from ``output``, whatever the layout.

    Accepts two or three fields, one per line or all on one line, CRLF line ends and unrelated lines
    (JVM or log noise) around them. Raises :class:`~_vcd_cell_errors.StatusUnreadable` quoting the
    output when a field is missing, repeated with different values, or malformed.
    """
    if not isinstance(output, str):
        raise SaltInvocationError(f"output must be the text the tool printed, not {type(output).__name__}")
    found = {}
    for field, pattern in STATUS_FIELDS.items():
        values = {match.group(1) for match in pattern.finditer(output or "")}
        if len(values) > 1:
            raise errors.StatusUnreadable(f"The cell status shows {field} twice with different values: {output!r}")
        found[field] = values.pop() if values else None
    for required in ("job_count", "active"):
        if found[required] is None:
            raise errors.StatusUnreadable(f"The cell status has no {required} field: {output!r}")
    if not found["job_count"].isdigit():
        raise errors.StatusUnreadable(f"The cell status has a malformed job count {found['job_count']!r}: {output!r}")
    status = {"job_count": int(found["job_count"])}
    for field in ("active", "maintenance"):
        value = found[field]
        if value is not None and value.lower() not in ("true", "false"):
            raise errors.StatusUnreadable(f"The cell status has a malformed {field} value {value!r}: {output!r}")
        status[field] = None if value is None else value.lower() == "true"
    return status


def read_status(settings):
    """The cell's ``--status`` reading, parsed."""
    return parse_status(cell_tool(settings, "--status"))
