"""
What the stub CLIs share: finding their fake cell and talking to its ``/sim/tool/`` back end.

Standard library only, so the stubs run under any ``python3`` on the host, like the real tools run
under the cell's own JVM whatever Python the caller uses; and few modules of it, without ``site``
(``python3 -S``): an orchestration runs the tools hundreds of times, and ``urllib.request`` alone took
the stub longer to import than the rest of its run.
"""

import json
import os
import socket
import sys
import time

URL_VARIABLE = "VCD_SIM_URL"
REQUEST_TIMEOUT = 30


class ToolError(Exception):
    """A failure the tool reports on stderr before exiting with ``exit_code``."""

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code


def cell_url():
    url = os.environ.get(URL_VARIABLE)
    if not url:
        raise ToolError(f"{URL_VARIABLE} is not set: the simulator's tools need the URL of their fake cell")
    return url.rstrip("/")


def call(path, payload):
    """POST ``payload`` as JSON to the cell; returns (HTTP status, decoded JSON body)."""
    url = cell_url()
    if not url.startswith("http://"):
        raise ToolError(f"{URL_VARIABLE} must be the fake cell's http:// control URL, not {url}")
    address, slash, prefix = url[len("http://") :].partition("/")
    host, _, port = address.rpartition(":")
    body = json.dumps(payload).encode()
    request = (
        f"POST {slash}{prefix}{path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=REQUEST_TIMEOUT) as connection:
            connection.sendall(request)
            answer = b"".join(iter(lambda: connection.recv(65536), b""))
    except (OSError, ValueError) as exc:
        raise ToolError(f"Cannot connect to the cell at {url}: {exc}") from None
    head, _, content = answer.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise ToolError(f"The cell at {url} did not answer HTTP") from None
    try:
        return status, json.loads(content)
    except ValueError:
        return status, {"error": f"HTTP {status} from the cell"}


def process_age():
    """
    Seconds since this process was started, by the kernel's clock (``/proc/self/stat``): the timeline
    places the run at its start, not after the stub's own imports, which a real tool does not have.
    """
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def announce(tool, argv, java=False):
    """
    Record this run in the cell's timeline and return the cell's knobs. A ``java`` tool then waits
    ``cli_delay`` like a JVM starting; the shell scripts and ``rpm`` start at once.
    """
    status, config = call("/sim/tool/invocation", {"tool": tool, "argv": list(argv), "age": process_age()})
    if status != 200:
        raise ToolError(config.get("error", f"HTTP {status} from the cell"))
    if config.get("fault") == "fail":
        raise ToolError(f"{tool} failed (a fault armed on the simulator)")
    if config.get("fault") == "hang":
        # Past any time limit: the caller must kill it.
        while True:
            time.sleep(3600)
    if java:
        time.sleep(config.get("cli_delay", 0))
    return config


def run(main, argv):
    """Run a tool's ``main(argv)`` turning a :class:`ToolError` into a message and an exit code."""
    try:
        return main(argv)
    except ToolError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
