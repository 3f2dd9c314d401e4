"""
The claim of a window: which run of an orchestration holds a cell, and whether that run is alive.

Every run of ``vcd_rolling.rollout`` and ``vcd_upgrade.upgrade`` claims each of its cells before it reads
or touches any (:mod:`_vcd_orchestration_window`, on the master), in the master's cache and on each
cell's host next to the quiesce lease (:mod:`_vcd_cell_window`), so that a second run, from this master,
another master or salt-ssh on another host, meets it. A claim is a plain record (:func:`claim_of`); this
file decides, the same way on both sides, whether the run that made it is alive (:func:`judge`).

What proves a run alive, in this order:

- it ended (its runner returned, leaving its window unfinished: a record to resume): not alive, but its
  claim stays until the same plan finishes it or it is released;
- its process runs on this very host (same host name and boot): the process check decides, at once, and
  a pid reused by another process since does not pass (its start time differs);
- else its heartbeat: the run refreshes it from a thread every :data:`HEARTBEAT_SECONDS` (in the master's
  cache) and :data:`CELL_HEARTBEAT_SECONDS` (on the cells), whatever its steps wait for; a heartbeat older
  than :data:`STALE_SECONDS` is a dead run's (its master rebooted, its ``salt-run`` killed elsewhere).

Each age is measured by the clock that wrote it (a cell's own claim by the cell's clock), so clocks that
differ between the master and the cells do not matter.
"""

import datetime
import os
import socket
import time

try:
    import psutil
except ImportError:  # salt-ssh's thin carries no psutil: the process check reads /proc alone then
    psutil = None

# Seconds between two heartbeats of a live run: in the master's cache, and on every cell (a Salt call).
HEARTBEAT_SECONDS = 10
CELL_HEARTBEAT_SECONDS = 30
# A heartbeat older than this is a dead run's: four of the cells' intervals, so that one or two calls that
# could not reach a cell (a reboot, a slow minion) do not make a live run look dead.
STALE_SECONDS = 120
# A process whose start time differs from the claim's by more than this is another process on a reused pid.
PID_START_SLACK = 1.0
# The functions that change a cell, which refuse on a cell another run's live window holds (unless forced);
# the orchestrations pass their own claim to each (their ``window`` keyword).
GUARDED = (
    "vcd_cell.quiesce",
    "vcd_cell.unquiesce",
    "vcd_cell.maintenance_mode",
    "vcd_cell.shutdown",
    "vcd_cell.start",
    "vcd_cell.maintenance_message",
    "vcd_cell.drain",
    "vcd_cell.cancel_tasks",
    "vcd_cell.install",
    "vcd_cell.upgrade_database",
    "vcd_cell.reboot",
    "vcd_cell.switchover",
    "vcd_cell.backup_database",
)


def host():
    """This host as a claim names it: its name and its boot (a rebooted host's pids are all gone)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="utf-8") as boot:
            boot_id = boot.read().strip()
    except OSError:
        boot_id = None
    return {"host": socket.gethostname(), "boot": boot_id}


def claim_of(run, orchestration, plan, cells, master, user, route):
    """
    A new run's claim: its ``run`` id, its ``orchestration`` (the cache bank: ``vcd_upgrade``), its
    ``plan`` id, its ``cells``, the ``master`` (its id, or ``salt-ssh``), the ``user``, the ``route``
    (``minion`` or ``salt-ssh``), and what proves it alive: this process, this host, its heartbeat.
    """
    now = time.time()
    return {
        "run": run,
        "orchestration": orchestration,
        "plan": plan,
        "cells": list(cells),
        "master": master,
        **host(),
        "pid": os.getpid(),
        "pid_started": _started(os.getpid()),
        "user": user,
        "route": route,
        # Over salt-ssh the cells get no heartbeat: two salt-ssh calls at once on one host, from one
        # master, share its thin directory and one breaks the other.
        "cell_heartbeat": route != "salt-ssh",
        "started": now,
        "since": stamp(now),
        "heartbeat": now,
        "ended": None,
    }


def stamp(epoch):
    """An epoch as a person reads it, in UTC."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def judge(claim, age=None):
    """
    ``(alive, why)`` of the run that made ``claim``: ``why`` says what proved it, in words a person reads
    after "alive: " or "not running: ". ``age``: seconds since its heartbeat on the cell that answered
    (by that cell's clock); by default from the claim's ``heartbeat`` in the master's cache and this
    clock. A cell's claim made over salt-ssh has no heartbeat there: off its run's own host it holds
    until it ends, is released or taken over.
    """
    ended = _number(claim.get("ended"))
    if ended:
        return False, f"it ended at {stamp(ended)} without finishing its window"
    here = host()
    if claim.get("host") == here["host"] and claim.get("boot") and claim.get("boot") == here["boot"]:
        if _runs(claim.get("pid"), claim.get("pid_started")):
            return True, f"pid {claim.get('pid')} runs on {here['host']}"
        return False, f"pid {claim.get('pid')} gone"
    if claim.get("host") == here["host"] and claim.get("boot"):
        return False, f"its host {here['host']} has rebooted since"
    if age is not None and claim.get("cell_heartbeat") is False:
        return True, "its run reaches the cells over salt-ssh, which keeps no heartbeat there: held until it ends"
    age = _number(age)
    if age is None:
        age = time.time() - (_number(claim.get("heartbeat")) or 0)
    if age <= STALE_SECONDS:
        return True, f"its heartbeat is {max(0, round(age))}s old"
    return False, f"no heartbeat for {round(age)}s"


def _number(value):
    """A claim's number (a time, an age), or None where it holds none: a claim is read, never trusted."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _started(pid):
    """When process ``pid`` started (epoch seconds), None where it does not run or cannot be told."""
    if psutil is None:
        return None
    try:
        process = psutil.Process(pid)
        return None if process.status() == psutil.STATUS_ZOMBIE else process.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _runs(pid, started):
    """Whether process ``pid`` runs and is the one that started at ``started`` (not a reused pid)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if psutil is None or started is None:
        return os.path.exists(f"/proc/{pid}")
    now_started, started = _started(pid), _number(started)
    return now_started is not None and (started is None or abs(now_started - started) <= PID_START_SLACK)


def describe(claim):
    """Who holds a cell, for a person: the run, its orchestration and plan, from where, by whom, since when."""
    where = claim.get("master") or "?"
    if claim.get("host") and claim.get("host") != where:
        where = f"{where} on {claim['host']}"
    return (
        f"run {claim.get('run')} of {claim.get('orchestration')} (plan {claim.get('plan')}), by "
        f"{claim.get('user')} from {where}, pid {claim.get('pid')}, since {claim.get('since')}"
    )


def same_plan(claim, other):
    """Whether two claims are runs of one plan: the same orchestration and plan id (a resume of it)."""
    return (claim.get("orchestration"), claim.get("plan")) == (other.get("orchestration"), other.get("plan"))


def follow_command(claim):
    """The command that shows the holding run as it goes, on its master."""
    return f"salt-run vcd_watch.follow run={claim.get('plan')}"


def release_command(claim):
    """The command that releases a dead run's claim by hand."""
    return f"salt-run {claim.get('orchestration')}.release run={claim.get('run')}"
