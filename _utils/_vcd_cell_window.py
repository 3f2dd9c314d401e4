"""
A window's claim on this cell's host: the file ``window.json`` beside the quiesce lease (in
``vcd_cell:lease_dir``), seen by every way Salt reaches the host (minion, ``salt-call``, salt-ssh), so a
run from another master or another salt-ssh host meets the claim a run made. Every change is made under
the lease's lock (:func:`_vcd_cell_lease.lease_lock`): two runs claiming the cell at once cannot both win.

The functions that change the cell (:data:`_vcd_window.GUARDED`) call :func:`guard` first: they refuse on
a cell that another run's live window holds, unless they are that run's own (``window``: its run id,
passed by the orchestration, or ``vcd_cell:window`` in the pillar of its state runs) or forced.
"""

import contextlib
import logging
import os
import threading
import time

import _vcd_cell_errors as errors
import _vcd_cell_lease as leases
import _vcd_window as windows

log = logging.getLogger(__name__)

WINDOW_FILE = "window.json"
# A state forced past a window (``force: True``) lets the functions it calls act for that window: per
# thread, as the state and its functions run in one (a minion's job, salt-call).
_OVERRIDE = threading.local()


def _path(settings):
    return leases.lease_file(settings, WINDOW_FILE)


def _read(settings):
    return leases.read_json(_path(settings))


def _answer(record):
    """What a caller is told of the claim: the claim itself and its heartbeat's age by this host's clock."""
    if not isinstance(record, dict) or not isinstance(record.get("claim"), dict):
        return None
    return {"claim": record["claim"], "age": round(time.time() - float(record.get("renewed_at") or 0), 1)}


def read(settings):
    """The claim on this cell (``{"claim", "age"}``), or None."""
    with leases.lease_lock(settings):
        return _answer(_read(settings))


def take(settings, claim, takeover=None):
    """
    Claim the cell for ``claim``'s run: ``{"taken": True, "previous": the claim it replaced or None}``,
    or ``{"taken": False, "holder": {"claim", "age"}}`` when another run's claim is there (that run's,
    ``takeover``, is replaced).
    """
    with leases.lease_lock(settings):
        held = _answer(_read(settings))
        holder = held["claim"] if held else None
        own = holder is not None and holder.get("run") == claim.get("run")
        if holder is not None and not own and holder.get("run") != takeover:
            return {"taken": False, "holder": held}
        leases._write_json(settings, WINDOW_FILE, {"claim": claim, "renewed_at": time.time()})  # pylint: disable=protected-access
        return {"taken": True, "previous": None if own else holder}


def renew(settings, run):
    """
    Run ``run``'s heartbeat on this cell, by this host's clock: whether it still holds the cell (a claim
    released or taken over meanwhile stays so, none is made anew).
    """
    with leases.lease_lock(settings):
        current = _read(settings)
        if _answer(current) is None or current["claim"].get("run") != run:
            return False
        leases._write_json(settings, WINDOW_FILE, dict(current, renewed_at=time.time()))  # pylint: disable=protected-access
        return True


def release(settings, run, keep=False):
    """
    End run ``run``'s claim: removed, or with ``keep`` marked ended (its window unfinished: the same plan
    takes it over, another refuses until it is released). Whether that run held the cell.
    """
    with leases.lease_lock(settings):
        current = _read(settings)
        held = _answer(current)
        if held is None or held["claim"].get("run") != run:
            return False
        if keep:
            claim = dict(held["claim"], ended=time.time())
            leases._write_json(settings, WINDOW_FILE, dict(current, claim=claim))  # pylint: disable=protected-access
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(_path(settings))
        return True


def report(settings):
    """The claim as a person reads it: ``held``, the ``claim``, whether its run is ``alive`` and ``why``."""
    held = read(settings)
    if held is None:
        return {"held": False, "claim": None, "alive": False, "why": None}
    alive, why = windows.judge(held["claim"], held["age"])
    return {"held": True, "claim": held["claim"], "alive": alive, "why": why, "age": held["age"]}


def guard(settings, window=None, force=False, doing="changing"):
    """
    Refuse (:class:`_vcd_cell_errors.WindowHeld`) ``doing`` on a cell that another run's live window holds;
    its own run (``window``, by default ``vcd_cell:window`` from the pillar of the window's state runs), a
    run a forced state acts for, ``force`` (logged) or a dead run's claim pass. Returns the run forced
    past (for :func:`acting_for`), else None.
    """
    held = read(settings)
    if held is None:
        return None
    claim = held["claim"]
    if window is None and settings.salt is not None:
        window = settings.salt["config.get"]("vcd_cell:window", None)
    if claim.get("run") in (window, getattr(_OVERRIDE, "run", None)):
        return None
    alive, why = windows.judge(claim, held["age"])
    if not alive:
        return None
    if force:
        log.warning(
            "vcd_cell: %s %s although it is held by the live window of %s (%s): forced",
            doing,
            _cell(settings),
            windows.describe(claim),
            why,
        )
        return claim.get("run")
    raise errors.WindowHeld(
        f"Refusing {doing} {_cell(settings)}: it is held by the live window of {windows.describe(claim)} "
        f"(alive: {why}). Nothing was touched. Wait for that run to end ({windows.follow_command(claim)} on its "
        "master shows it), or pass force=True to act anyway"
    )


def _cell(settings):
    return getattr(settings, "cell_name", None) or settings.minion_id


@contextlib.contextmanager
def acting_for(run):
    """What runs inside (a forced state's functions) acts for the window of run ``run`` (None: its own)."""
    before = getattr(_OVERRIDE, "run", None)
    _OVERRIDE.run = run
    try:
        yield
    finally:
        _OVERRIDE.run = before
