"""A cell's tool run on a pseudo-terminal (`_utils/_vcd_cell_tools.py`): ending one that outlived its time."""

import signal
import sys
import time
from types import SimpleNamespace
from unittest import mock

import pytest

import _vcd_cell_errors as errors
from tests.support import load_salt_module

tools = load_salt_module("_utils/_vcd_cell_tools.py", "vcd_cell_tools_under_test")

# A tool that ignores the polite signals vt sends first (SIGHUP, SIGINT), as a hung JVM may.
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time\n"
    "for s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM): signal.signal(s, signal.SIG_IGN)\n"
    "print('started', flush=True)\n"
    "time.sleep(600)\n",
]


def started(argv):
    run = tools.TerminalRun(SimpleNamespace(redact=lambda text: text), argv, "stubborn-tool")
    end = time.monotonic() + 60
    while "started" not in run.output:
        assert not run._read(), run.output
        assert time.monotonic() < end, "the tool never started"
        time.sleep(0.01)
    return run


def test_a_tool_that_ignores_sigint_is_killed_and_reaped():
    run = started(STUBBORN)
    run.kill()
    assert not run._terminal.isalive()


def test_a_kill_slower_than_vts_own_wait_is_awaited_not_raised():
    # What a loaded host does: SIGKILL sent, but the tool not yet gone when vt looks 0.1 s later.
    run = started(STUBBORN)
    real_terminate = run._terminal.terminate

    def slow_terminate(force=False):
        real_terminate(force)
        return False

    with mock.patch.object(run._terminal, "terminate", side_effect=slow_terminate):
        run.kill()
    assert not run._terminal.isalive()


def test_a_tool_that_never_goes_is_reported_by_name(monkeypatch):
    run = started(STUBBORN)
    monkeypatch.setattr(tools, "KILL_WAIT_SECONDS", 0.2)
    never_goes = (
        mock.patch.object(run._terminal, "terminate", return_value=False),
        mock.patch.object(run._terminal, "isalive", return_value=True),
    )
    named = pytest.raises(errors.ToolError, match=r"stubborn-tool did not end within 0.2s")
    with never_goes[0], never_goes[1], named:
        run.kill()
    # Gone for real now, so that the test leaves no process behind.
    run._terminal.send_signal(signal.SIGKILL)


def test_the_last_line_of_a_tool_that_ends_as_vt_looks_is_kept():
    # vt looks for output, then whether the tool lives: between the two it printed its reason and ended.
    argv = [sys.executable, "-c", "import sys; print('Installing ...', flush=True); sys.exit('rpm exited 1')"]
    run = tools.TerminalRun(SimpleNamespace(redact=lambda text: text), argv, "installer")
    end = time.monotonic() + 60
    while run._terminal.isalive():
        assert time.monotonic() < end, "the tool never ended"
        time.sleep(0.01)
    with mock.patch.object(run._terminal, "recv", return_value=(None, None)):
        assert run._read()
    with pytest.raises(errors.ToolError, match=r"(?s)installer failed \(exit 1\): Installing \.\.\..*rpm exited 1"):
        run.result()
