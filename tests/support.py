"""Helpers for tests that run the tools the way a person or Salt would."""

import importlib.util
import os
import pathlib
import pty
import select
import time

import pytest


def tool_env(server):
    """The environment a stub tool needs to find the fake cell ``server``."""
    return dict(os.environ, VCD_SIM_URL=server.url)


def run_on_terminal(argv, env, answer, deadline=30.0):
    """Run ``argv`` on a new pseudo-terminal, answer its ``Password:`` prompt; returns (exit code, screen)."""
    child, fd = pty.fork()
    if child == 0:
        os.execve(argv[0], argv, env)
    screen = b""
    answered = False
    end = time.monotonic() + deadline
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
            if not answered and screen.endswith(b"Password:"):
                os.write(fd, answer.encode() + b"\n")
                answered = True
    finally:
        os.close(fd)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status), screen.decode()


REPO = pathlib.Path(__file__).resolve().parents[1]


def load_salt_module(relative_path, name):
    """
    Import a Salt loader module from its file under ``name``: the execution and state modules are both
    ``vcd_cell.py``, so each needs a distinct import name.
    """
    spec = importlib.util.spec_from_file_location(name, REPO / relative_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_for(condition, what, deadline=60, pause=0.05):
    """Poll ``condition`` until it returns something true, failing after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(pause)
    pytest.fail(f"timed out after {deadline}s waiting for {what}")
