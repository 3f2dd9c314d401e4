"""
Faults a fake cell plays when armed through its control API (``POST /sim/faults``), each firing written
to the cell's timeline as a ``fault`` event, so a test knows what happened and when:

- a tool fails once, fails every time, or hangs past its time limit, at its Nth run from now (``tool``:
  cell-management-tool, vmware-vcd-cell, the installer, the database upgrade utility, vamicli, the backup,
  the reboot, or ``any``: whichever runs);
- the cell's REST/cells API, or its appliance's API, answers 503 or does not answer, for ``seconds``;
- the host's next reboot takes ``seconds`` longer, or it never comes back until the faults are cleared.

A crash of the cell is ``POST /sim/crash``: the service dies and the jobs it ran are recorded as aborted
by the crash (``job_abort`` with ``by: crash``). ``DELETE /sim/faults`` clears every fault, and lets a
host held down by ``never`` boot.
"""

import math
import threading
import time
from dataclasses import dataclass

TOOLS = (
    "cell-management-tool",
    "vmware-vcd-cell",
    "vmware-vcloud-director-distribution.bin",
    "upgrade",
    "vamicli",
    "create-backup.sh",
    "reboot",
)
# Whichever tool runs next on the cell (its version and boot-id readers too).
ANY_TOOL = "any"
TOOL_MODES = ("fail-once", "fail-always", "hang")
APIS = ("rest", "appliance")
API_MODES = ("unavailable", "silent")
REBOOT_MODES = ("slow", "never")
# How long a "silent" API holds one request at most: a stalled server, not a dead thread pool.
SILENT_HOLD_SECONDS = 30


@dataclass
class ToolFault:
    tool: str
    mode: str
    # The run, counted from when the fault was armed, at which it first fires (1: the next run).
    at_call: int = 1
    runs: int = 0
    fired: int = 0

    def meets(self):
        """Whether this run of the tool fails ("fail") or hangs ("hang"); counts the run."""
        self.runs += 1
        if self.runs < self.at_call or (self.mode == "fail-once" and self.fired):
            return None
        self.fired += 1
        return "hang" if self.mode == "hang" else "fail"


def _positive_whole(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
    return value


def _seconds(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)


class Faults:
    """The faults armed on one cell; ``now`` and ``record(t, event, **details)`` are the cell's."""

    def __init__(self, now, record):
        self._now = now
        self._record = record
        self._lock = threading.Lock()
        self.tools = {}
        self.outages = {}
        self.reboot = None
        # Requests each API served, armed or not: what a fault on it would have met.
        self.requests = dict.fromkeys(APIS, 0)

    def arm(self, spec):
        """
        Arm one fault from its description: ``{"tool": T, "mode": M, "at_call": N}``, ``{"api": A, "mode":
        M, "seconds": S}`` or ``{"reboot": "slow", "seconds": S}`` / ``{"reboot": "never"}``. Returns it.
        """
        spec = dict(spec)
        kind = next((kind for kind in ("tool", "api", "reboot") if kind in spec), None)
        if kind is None:
            raise ValueError("a fault names a tool, an api or the reboot")
        with self._lock:
            armed = getattr(self, f"_arm_{kind}")(spec)
        self._record(self._now(), "fault_armed", **armed)
        return armed

    def _arm_tool(self, spec):
        tool, mode = spec.pop("tool"), spec.pop("mode", None)
        if tool not in (*TOOLS, ANY_TOOL):
            raise ValueError(f"tool must be one of {', '.join(TOOLS)} or {ANY_TOOL}, not {tool!r}")
        if mode not in TOOL_MODES:
            raise ValueError(f"mode must be one of {', '.join(TOOL_MODES)}, not {mode!r}")
        at_call = _positive_whole("at_call", spec.pop("at_call", 1))
        _no_more(spec)
        self.tools[tool] = ToolFault(tool, mode, at_call)
        return {"tool": tool, "mode": mode, "at_call": at_call}

    def _arm_api(self, spec):
        api, mode = spec.pop("api"), spec.pop("mode", None)
        if api not in APIS:
            raise ValueError(f"api must be one of {', '.join(APIS)}, not {api!r}")
        if mode not in API_MODES:
            raise ValueError(f"mode must be one of {', '.join(API_MODES)}, not {mode!r}")
        seconds = _seconds("seconds", spec.pop("seconds", None))
        _no_more(spec)
        self.outages[api] = (mode, self._now() + seconds)
        return {"api": api, "mode": mode, "seconds": seconds}

    def _arm_reboot(self, spec):
        mode = spec.pop("reboot")
        if mode not in REBOOT_MODES:
            raise ValueError(f"reboot must be one of {', '.join(REBOOT_MODES)}, not {mode!r}")
        seconds = _seconds("seconds", spec.pop("seconds", None)) if mode == "slow" else math.inf
        _no_more(spec)
        self.reboot = seconds
        return {"reboot": mode, "seconds": None if mode == "never" else seconds}

    def clear(self):
        """Every fault cleared (the cell then lets a host held down by ``never`` boot)."""
        with self._lock:
            self.tools, self.outages, self.reboot = {}, {}, None
        self._record(self._now(), "faults_cleared")

    # -- what the tools and the APIs meet -----------------------------------------------------------

    def tool_run(self, tool):
        """``"fail"``, ``"hang"`` or None for this run of ``tool``; a firing is on the timeline."""
        with self._lock:
            fault = self.tools.get(tool) or self.tools.get(ANY_TOOL)
            outcome = fault.meets() if fault else None
        if outcome:
            self._record(self._now(), "fault", tool=tool, mode=fault.mode, run=fault.runs)
        return outcome

    def api_outage(self, api):
        """``(mode, seconds left)`` while ``api`` is out, else None; counts the request."""
        with self._lock:
            self.requests[api] += 1
            outage = self.outages.get(api)
            if outage is None:
                return None
            mode, until = outage
            left = until - self._now()
            if left <= 0:
                del self.outages[api]
                return None
            return mode, left

    def reboot_delay(self):
        """Seconds a reboot now takes beyond its own (``inf``: until the faults are cleared); used once."""
        with self._lock:
            delay, self.reboot = self.reboot or 0.0, None
        if delay:
            never = delay == math.inf
            self._record(self._now(), "fault", reboot="never" if never else "slow", seconds=None if never else delay)
        return delay


def simulated_outage(cell, api):
    """
    For a request to ``api`` of ``cell``: while a "silent" outage lasts, hold the request (at most
    ``SILENT_HOLD_SECONDS``) and then answer it as usual (None); during an "unavailable" one, the message of
    a 503.
    """
    outage = cell.faults.api_outage(api)
    if outage is None:
        return None
    mode, left = outage
    if mode == "silent":
        time.sleep(min(left, SILENT_HOLD_SECONDS))
        return None
    return f"Service unavailable for {left:.0f} s more (a fault armed on the simulator)"


def describe(faults):
    """What ``GET /sim/faults`` answers: the faults armed now and the requests each API served."""
    return {
        "tools": {tool: {"mode": f.mode, "at_call": f.at_call, "fired": f.fired} for tool, f in faults.tools.items()},
        "apis": {api: mode for api, (mode, _) in faults.outages.items()},
        "reboot": "never" if faults.reboot == math.inf else faults.reboot,
        "requests": dict(faults.requests),
    }


def _no_more(spec):
    if spec:
        raise ValueError(f"unknown fault field(s): {', '.join(sorted(spec))}")
