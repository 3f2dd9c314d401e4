"""
An orchestration's events said as a person reads them, one line each (:func:`describe`), and sent the way
Salt shows a runner's progress while ``salt-run`` runs (:func:`reporter`): a ``progress`` event of the
runner's job, which ``salt-run`` prints as it comes (with the ``vcd_progress`` outputter: the line
alone) and which reaches the master's bus under ``salt/run/<jid>/progress`` for anyone watching.
"""

import logging
import time

import _vcd_report as reports

log = logging.getLogger(__name__)

# The outputter that prints a progress event's line as it is (_output/vcd_progress.py).
OUTPUTTER = "vcd_progress"


def _cells(cells):
    return ", ".join(str(cell) for cell in cells)


def _results(results):
    failed = {cell: why for cell, why in results.items() if why != "done"}
    if not failed:
        return f"done on {_cells(results)}"
    return "FAILED on " + "; ".join(f"{cell}: {why}" for cell, why in failed.items())


def describe(tag, data):
    """One line for the event ``tag`` (under the orchestration's prefix) with ``data``, or None."""
    parts = tag.split("/")
    last, name = parts[-1], "/".join(parts[:-1])
    if name.startswith("step/"):
        name = name[len("step/") :]
    if tag == "run/start":
        verb = "resumes" if data.get("resumed") else "begins"
        return f"{data.get('orchestration')} {data.get('id')} {verb} on {_cells(data.get('cells') or [])}"
    if tag == "run/finish":
        verdict = "done" if data.get("result") else "FAILED"
        return f"{verdict}: {data.get('comment', '')}".strip() + (
            f" (report: {data['report']})" if data.get("report") else ""
        )
    if last == "start" and "cells" in data:
        return f"{name}: started on {_cells(data['cells'])}"
    if last == "finish" and "results" in data:
        return f"{name}: {_results(data['results'])}"
    if last == "finish" and "ready" in data:
        return f"{name}: " + ("ready" if data["ready"] else f"not ready ({reports.failed_checks(data.get('failed'))})")
    if last == "start" and "cell" in data:
        return f"{data['cell']}: its turn"
    if last == "finish" and "cell" in data:
        if data.get("result") == "done":
            return f"{data['cell']}: done in {data.get('duration', '?')} s"
        return f"{data['cell']}: {data.get('result')} at {data.get('step')}: {data.get('comment', '')}"
    if tag == "switchover/start":
        return f"switchover: the primary {data.get('primary')} to {data.get('to')}"
    if tag == "switchover/finish":
        return f"switchover: {data.get('result')} (primary {data.get('primary')})"
    if last == "waiting":
        return f"{name}: waiting for {_cells(data.get('cells') or [])} to come back"
    if last == "vcenters":
        moved = "; ".join(f"{vc}: {how}" for vc, how in (data.get("vcenters") or {}).items())
        return f"{data.get('cell')}: vCenter proxies: {moved}"
    return None


def reporter(jid_event):
    """
    ``progress(tag, data)``: the event's line as the runner job's progress (``jid_event``: the runner's
    ``__jid_event__``; None where it has none, as in a unit test: nothing is sent).
    """

    def progress(tag, data):
        if jid_event is None:
            return
        try:
            line = describe(tag, data)
            if line is not None:
                stamp = time.strftime("%H:%M:%S")
                jid_event.fire_event({"message": f"{stamp} {line}", "outputter": OUTPUTTER}, "progress")
        except Exception:  # pylint: disable=broad-except
            # What is said of a window never ends it: the run goes on, its events and return whole.
            log.exception("vcd_progress: the progress of %s could not be said", tag)

    return progress
