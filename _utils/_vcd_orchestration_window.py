"""
One window at a time: a run of an orchestration claims each of its cells, all or none, before it reads or
touches any, holds them while it runs (a heartbeat from a thread, whatever its steps wait on), and
releases them when it ends (or, leaving its window unfinished, marks its claim ended: the same plan takes
it over, another plan refuses until it is finished or released).

A claim lives in two places, so that every way of reaching the cells meets it: the master's cache (bank
:data:`BANK`, a key per cell: a second run from this master, or from a master sharing its cache) and each
cell's host (``vcd_cell.window_claim``, through the route the run uses: a second master, salt-ssh from
another host). What proves a run alive is :func:`_vcd_window.judge`'s.
"""

import contextlib
import copy
import fcntl
import logging
import os
import secrets
import threading
import time

import salt.cache
from salt.exceptions import SaltInvocationError

import _vcd_orchestration_journal as journals
import _vcd_orchestration_ssh as transports
import _vcd_window as windows

log = logging.getLogger(__name__)

BANK = "vcd_windows"
LOCK = "claims.lock"
# Seconds a heartbeat's call to the cells may take: a cell that does not answer is asked again next time.
CELL_HEARTBEAT_TIMEOUT = 20


class WindowRefused(SaltInvocationError):
    """Another run holds one of the cells: the run is refused, touching nothing."""


class Claims:
    """The claims in the master's cache, changed under one lock (:meth:`locked`) across its processes."""

    def __init__(self, opts):
        self.opts = opts
        self.cache = salt.cache.factory(opts)

    @contextlib.contextmanager
    def locked(self):
        where = os.path.join(self.opts["cachedir"], BANK)
        os.makedirs(where, exist_ok=True)
        fd = os.open(os.path.join(where, LOCK), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def of(self, cell):
        """The claim on ``cell`` in the master's cache, or None."""
        return claim_in(self.cache, cell)

    def store(self, cell, claim):
        self.cache.store(BANK, cell, claim)

    def remove(self, cell):
        self.cache.flush(BANK, cell)

    def every(self):
        """``{cell: claim}`` of every claim in the master's cache."""
        found = {}
        for cell in self.cache.list(BANK) or []:
            claim = self.of(cell)
            if claim:
                found[cell] = claim
        return found


class Window:
    """
    This run's claim on ``cells`` (reached through ``calls``), for the plan ``plan_id`` of the
    orchestration whose cache bank is ``bank``: :meth:`take` it, hold it (:meth:`heartbeat`), then
    :meth:`end` it.
    """

    def __init__(self, opts, calls, bank, plan_id, cells, ssh):
        self.opts = opts
        self.calls = calls
        self.ssh = bool(ssh)
        self.claims = Claims(opts)
        # Led by a letter, so that no command line (salt-run's, salt-ssh's) reads the id as a number.
        self.run = "w" + secrets.token_hex(4)
        master = opts.get("id") or windows.host()["host"]
        self.claim = windows.claim_of(
            self.run, bank, plan_id, cells, master, journals.who(), "salt-ssh" if ssh else "minion"
        )
        self.cells = list(cells)
        self.took_over = None
        self._stop = threading.Event()
        self._beating = None

    # -- taking it -----------------------------------------------------------------------------------

    def take(self):
        """
        Every cell claimed, in the master's cache and on each host, or none (:class:`WindowRefused`, naming
        the run that holds each cell, since when, from where, and how to watch or release it). A dead run
        of the same plan is taken over, and :attr:`took_over` says so.
        """
        with self.claims.locked():
            held = {cell: (claim, None) for cell in self.cells if (claim := self.claims.of(cell))}
            replaced = self._judged(held)
            for cell in self.cells:
                self.claims.store(cell, self.claim)
        try:
            replaced |= self._take_on_cells()
        except WindowRefused:
            self._release_in_cache()
            raise
        if replaced:
            self.took_over = "; ".join(sorted(replaced))
            log.warning("vcd_orchestration: run %s took over from %s", self.run, self.took_over)

    def _take_on_cells(self):
        """Each host's claim (:meth:`take`'s second half): the runs taken over, or all released and refused."""
        answers = self.calls.call(self.cells, "vcd_cell.window_claim", kwarg={"claim": self.claim})
        taken, held, silent = _sorted(answers, self.cells)
        try:
            replaced = self._judged(held)
            for run in {holder.get("run") for holder, _ in held.values()}:
                cells = [cell for cell, (holder, _) in held.items() if holder.get("run") == run]
                again = self.calls.call(cells, "vcd_cell.window_claim", kwarg={"claim": self.claim, "takeover": run})
                more, still, lost = _sorted(again, cells)
                taken += more
                silent.update(lost)
                silent.update({cell: f"claimed meanwhile by {windows.describe(c)}" for cell, (c, _) in still.items()})
            if silent:
                said = "; ".join(f"{cell}: {why}" for cell, why in silent.items())
                raise WindowRefused(f"The cells could not all be claimed for this window ({said})")
        except WindowRefused:
            self._release_on(taken)
            raise
        return replaced

    def _judged(self, held):
        """
        The runs of ``held`` (``{cell: (claim, age)}``) this run takes over, each said as "run X: why";
        :class:`WindowRefused` when one is alive, or is a dead run of another plan.
        """
        verdicts, refused, replaced = {}, {}, set()
        for cell, (holder, age) in held.items():
            if holder.get("run") == self.run:
                continue
            alive, why = verdicts.setdefault(holder.get("run"), windows.judge(holder, age))
            if not alive and windows.same_plan(holder, self.claim):
                replaced.add(f"run {holder.get('run')}: no longer running, {why}")
            else:
                refused.setdefault(holder.get("run"), (holder, alive, why, []))[3].append(cell)
        if refused:
            raise WindowRefused(" ".join(_refusal(*found) for found in refused.values()))
        return replaced

    # -- holding it ----------------------------------------------------------------------------------

    def heartbeat(self):
        """
        Refresh the claim from a thread until :meth:`end`: in the master's cache, and on the cells through
        their minions (its own transport: Salt's clients are not shared between threads). Over salt-ssh
        the cells get none: a call of its beside a step's own on one host would break one of them.
        """
        self._beating = threading.Thread(target=self._beat, name=f"vcd window {self.run}", daemon=True)
        self._beating.start()

    def _beat(self):
        every = windows.CELL_HEARTBEAT_SECONDS // windows.HEARTBEAT_SECONDS
        calls = None
        try:
            for beat in range(1, 1 << 62):
                if self._stop.wait(windows.HEARTBEAT_SECONDS):
                    return
                self._renew_in_cache()
                if beat % every == 0 and not self.ssh:
                    calls = calls or transports.reach(self.opts, CELL_HEARTBEAT_TIMEOUT, self.ssh)
                    self._renew_on_cells(calls)
        except Exception:  # pylint: disable=broad-except
            # A heartbeat that fails leaves the claim to be judged stale, never the window's end.
            log.exception("vcd_orchestration: the heartbeat of run %s failed", self.run)
        finally:
            if calls is not None:
                calls.close()

    def _renew_in_cache(self):
        self.claim["heartbeat"] = time.time()
        with self.claims.locked():
            for cell in self.cells:
                if (self.claims.of(cell) or {}).get("run") == self.run:
                    self.claims.store(cell, self.claim)

    def _renew_on_cells(self, calls):
        answers = calls.call(self.cells, "vcd_cell.window_renew", kwarg={"run": self.run})
        lost = [cell for cell, answer in answers.items() if answer is False]
        if lost:
            log.error("vcd_orchestration: run %s no longer holds %s (released by hand?)", self.run, ", ".join(lost))

    # -- ending it -----------------------------------------------------------------------------------

    def end(self, finished):
        """
        Stop the heartbeat; release every cell (``finished``: the window is done, or starts over) or mark
        the claim ended (its record kept: the same plan takes it over at once, another refuses).
        """
        self._stop.set()
        if self._beating is not None:
            self._beating.join(timeout=CELL_HEARTBEAT_TIMEOUT + windows.HEARTBEAT_SECONDS)
        if finished:
            self._release_on(self.cells)
            self._release_in_cache()
            return
        self.claim["ended"] = time.time()
        with self.claims.locked():
            for cell in self.cells:
                if (self.claims.of(cell) or {}).get("run") == self.run:
                    self.claims.store(cell, self.claim)
        self._release_on(self.cells, keep=True)

    def _release_on(self, cells, keep=False):
        if cells:
            answers = self.calls.call(cells, "vcd_cell.window_release", kwarg={"run": self.run, "keep": keep})
            missed = [cell for cell in cells if cell not in answers or answers.failed(cell)]
            if missed:
                log.warning("vcd_orchestration: run %s could not release its claim on %s", self.run, ", ".join(missed))

    def _release_in_cache(self):
        with self.claims.locked():
            for cell in self.cells:
                if (self.claims.of(cell) or {}).get("run") == self.run:
                    self.claims.remove(cell)

    def pillar(self, cell_pillar):
        """The cells' pillar with this run's window (``vcd_cell:window``), which its state runs act for."""
        merged = copy.deepcopy(cell_pillar or {})
        merged.setdefault("vcd_cell", {})["window"] = self.run
        return merged


def _sorted(answers, cells):
    """``(cells taken, {cell: (holder's claim, its age)}, {cell: why it could not be asked})``."""
    taken, held, silent = [], {}, {}
    for cell in cells:
        answer = answers.get(cell)
        if cell not in answers:
            silent[cell] = answers.why_silent(cell)
        elif answers.failed(cell) or not isinstance(answer, dict):
            silent[cell] = f"vcd_cell.window_claim: {answer}"
        elif answer.get("taken"):
            taken.append(cell)
        else:
            holder = answer.get("holder") or {}
            held[cell] = (holder.get("claim") or {}, holder.get("age"))
    return taken, held, silent


def _refusal(holder, alive, why, cells):
    """Why ``cells`` cannot be claimed: the run holding them, whether it lives, and what a person does."""
    named = f"{', '.join(cells)} {'is' if len(cells) == 1 else 'are'} held by {windows.describe(holder)}"
    if alive:
        return f"{named} (alive: {why}); watch it with {windows.follow_command(holder)} on its master."
    return (
        f"{named}, no longer running ({why}) with its window unfinished: finish it by running its plan again "
        f"(it takes the claim over), or release it with {windows.release_command(holder)}."
    )


# -- by hand ---------------------------------------------------------------------------------------------


def claim_in(cache, cell):
    """The claim on ``cell`` in the master's ``cache`` (a ``salt.cache`` of it), or None."""
    claim = cache.fetch(BANK, cell)
    return claim if isinstance(claim, dict) and claim.get("run") else None


def release(opts, bank, run, force=False, cells=None, ssh=None, timeout=60):
    """
    Release run ``run``'s claim (of the orchestration whose bank is ``bank``) by hand: from this master's
    cache and from each cell it holds (``cells``: where to look when the claim is not in this master's
    cache, reached through salt-ssh with ``ssh``). Refused while the run is alive, unless ``force``.
    Returns ``{"result", "comment", "cells": {cell: released, or why not}}``.
    """
    claims = Claims(opts)
    mine = {cell: claim for cell, claim in claims.every().items() if claim.get("run") == run}
    claim = next(iter(mine.values()), None)
    ssh = (claim or {}).get("route") == "salt-ssh" if ssh is None else ssh
    where = list(mine) or list(cells or [])
    if not where:
        raise SaltInvocationError(
            f"run {run} holds no cell in this master's cache: name the cells it holds (cells=...) to look on them"
        )
    calls = transports.reach(opts, timeout, ssh)
    try:
        if claim is None:
            seen = calls.call(where, "vcd_cell.window")
            on_cells = {
                cell: answer
                for cell, answer in seen.items()
                if isinstance(answer, dict) and (answer.get("claim") or {}).get("run") == run
            }
            if not on_cells:
                raise SaltInvocationError(f"no cell of {', '.join(where)} is held by run {run}")
            where = list(on_cells)
            claim, age = next((a["claim"], a.get("age")) for a in on_cells.values())
        else:
            age = None
        if claim.get("orchestration") != bank:
            raise SaltInvocationError(
                f"run {run} is a run of {claim.get('orchestration')}: release it with {windows.release_command(claim)}"
            )
        alive, why = windows.judge(claim, age)
        if alive and not force:
            raise SaltInvocationError(
                f"{windows.describe(claim)} is alive ({why}): it is not released while it runs "
                f"({windows.follow_command(claim)} shows it); force=True releases it all the same"
            )
        if alive:
            log.warning("vcd_orchestration: releasing the claim of the live %s by force", windows.describe(claim))
        answers = calls.call(where, "vcd_cell.window_release", kwarg={"run": run})
    finally:
        calls.close()
    with claims.locked():
        for cell in mine:
            if (claims.of(cell) or {}).get("run") == run:
                claims.remove(cell)
    outcome = {
        cell: "released"
        if cell in answers and not answers.failed(cell)
        else f"not released: {answers.get(cell) or answers.why_silent(cell)}"
        for cell in where
    }
    released = [cell for cell, said in outcome.items() if said == "released"]
    how = "alive, forced" if alive else why
    comment = f"Released the claim of {windows.describe(claim)} ({how}) on {', '.join(released) or 'no cell'}."
    if len(released) != len(where):
        comment += " Not on every cell: release it there again once it answers (vcd_cell.window_release)."
    return {"result": len(released) == len(where), "comment": comment, "cells": outcome}
