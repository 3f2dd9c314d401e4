"""
A window followed live (``salt-run vcd_watch.follow``): the runs' journals in the master's cache
(:mod:`_vcd_orchestration_journal`, written as each run goes, over minions or salt-ssh alike) read as
the report reads them (:func:`_vcd_report.timeline`), with the cells' drain progress from the master's
bus (``vcd/cell/<id>/drain``: the jobs still running). What a person sees: a line per run (the cells
serving against the budget, the outage so far), and one per cell (its step, the jobs still running
against those at the quiesce as a bar, the time in the step); in place on a terminal, a line per change
otherwise.
"""

import time

import _vcd_orchestration_journal as journals
import _vcd_report as reports

BAR = 20
# A run's journal written within this many seconds counts as a run going on (its runner may be dead).
RECENT_SECONDS = 600


def _clock(seconds):
    seconds = max(int(seconds), 0)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def bar(left, at_quiesce):
    """``[#####-----] 2 of 5 jobs left``: the jobs done of those running when the drain began."""
    if not at_quiesce:
        return f"{left} job(s) running"
    done = max(at_quiesce - left, 0)
    filled = round(BAR * done / at_quiesce)
    return f"[{'#' * filled}{'-' * (BAR - filled)}] {left} of {at_quiesce} jobs left"


class Drains:
    """
    The jobs each cell still runs, as its drain says on the master's bus: now, and at its first word (a
    drain that begins again, its time elapsed back near 0, starts over).
    """

    def __init__(self):
        self.first, self.now, self.elapsed = {}, {}, {}

    def heard(self, cell, job_count, elapsed=None):
        if job_count is None:
            return
        if elapsed is not None and elapsed < self.elapsed.get(cell, 0):
            self.first.pop(cell, None)
        self.elapsed[cell] = elapsed or 0
        self.first.setdefault(cell, job_count)
        self.now[cell] = job_count

    def of(self, cell):
        return self.now.get(cell), self.first.get(cell)


def lines(report_id, entries, drains, now):
    """
    What shows one run now: ``[(line, what it says but its clocks)]``, the run's first, then a cell's
    each; the second is what a log compares to say a line again only when it changed.
    """
    model = reports.timeline(entries, now=now)
    header = model["header"]
    plan = header.get("plan") or {}
    cells = model["now"]
    serving = [cell for cell, at in cells.items() if at["state"] in reports.SERVING]
    if "min_active" in plan:
        budget = f" (min_active {plan['min_active']})"
    elif header.get("orchestration") == "vcd_upgrade":
        budget = " (an upgrade stops every cell)"
    else:
        budget = ""
    down = sum(right - left for left, right in model["outage"])
    name = f"{header.get('orchestration', '?')} {header.get('id', report_id)}"
    run = f"{name} {verdict(entries)}: serving {len(serving)} of {len(cells)}{budget}"
    said = [(f"{run}, outage {_clock(down)}", run)]
    for cell, at in cells.items():
        detail = f"{cell:<16} {at['step'] or '-':<18} {at['state']}"
        left, first = drains.of(cell)
        if header.get("orchestration") == "vcd_upgrade":
            # Its quiesce is a step of its own, right after the precheck read the tasks: those are the
            # jobs at the quiesce, which may have ended before the drain first spoke.
            first = max(first or 0, model["jobs_at_start"].get(cell, 0))
        if at["state"] in ("quiesced", "draining") and left is not None:
            detail += " " + bar(left, first)
        said.append((f"  {detail:<90} {_clock(now - at['since'])}", detail))
    return said


def verdict(entries):
    """``done``, ``failed`` or ``running`` (or its runner stopped): the run's last word in its journal."""
    if entries and entries[-1]["tag"] == "run/finish":
        return "done" if entries[-1]["data"].get("result") else "failed"
    return "running"


def followed(opts, run=None, since=None):
    """
    The reports to follow: ``run`` (a report's id, or a plan's id: its newest report), or every run not
    finished whose journal was written lately (or, with ``since``, since then).
    """
    found = []
    for report_id in journals.ids(opts):
        entries = journals.entries(opts, report_id)
        if not entries:
            continue
        if run is not None:
            header = next((e["data"] for e in entries if e["tag"] == "run/start"), {})
            if run in (report_id, header.get("id")):
                return [report_id]
            continue
        finished = entries[-1]["tag"] == "run/finish"
        fresh = entries[-1]["t"] >= (since if since is not None else time.time() - RECENT_SECONDS)
        if fresh and (not finished or since is not None):
            found.append(report_id)
    return found


class Screen:
    """Where the lines go: redrawn in place on a terminal, else a line each time what it says changed."""

    def __init__(self, out, in_place):
        self.out, self.in_place, self.drawn, self.said = out, in_place, 0, {}

    def show(self, runs):
        """``runs``: ``{report id: lines}`` (:func:`lines`)."""
        if self.in_place:
            every = [line for said in runs.values() for line, _ in said]
            if self.drawn:
                self.out.write(f"\x1b[{self.drawn}F\x1b[J")  # up to the first line drawn, and clear below
            self.out.write("\n".join(every) + "\n")
            self.drawn = len(every)
        else:
            for report_id, said in runs.items():
                for index, (line, stable) in enumerate(said):
                    if self.said.get((report_id, index)) != stable:
                        self.said[(report_id, index)] = stable
                        self.out.write(time.strftime("%H:%M:%S ") + line.strip() + "\n")
        self.out.flush()
