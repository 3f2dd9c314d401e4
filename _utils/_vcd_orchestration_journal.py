"""
The journal of an orchestration run, and its report: every event the run fires (:func:`recording`) is
also written, with its time, to a journal in the master's cache (``<cachedir>/vcd_reports/<id>.jsonl``),
and the run's report (``<id>.html``, :mod:`_vcd_report`) is written anew from it as the run goes. So a run
that fails, or whose runner is killed, leaves its report as far as it got, and the run that resumes it
(the same plan, its record not done) writes on in the same journal: one report of the whole window.

A report's id is the orchestration's cache bank, the plan's id and when the run began
(``vcd_upgrade-full-20261207T055300Z``). The newest ``keep`` reports are kept, older ones removed when a
new one begins.
"""

import contextlib
import datetime
import json
import logging
import os
import re
import time

import salt.utils.user

import _vcd_report as reports

log = logging.getLogger(__name__)

DIRECTORY = "vcd_reports"
JOURNAL, REPORT = ".jsonl", ".html"
# A run's report is drawn anew at most this often while it goes (and at its start and end): a killed
# runner's report is at most this far behind its journal, which a re-run's report takes in whole.
RENDER_SECONDS = 2
# The record's key naming the journal a resumed run writes on in.
RECORD_KEY = "journal"
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def directory(opts):
    """Where the journals and reports are kept: ``<cachedir>/vcd_reports``."""
    return os.path.join(opts["cachedir"], DIRECTORY)


def report_path(opts, report_id):
    """The report's file, for an id :func:`ids` lists (anything else is refused: no path outside)."""
    if not isinstance(report_id, str) or not SAFE_ID.match(report_id):
        raise ValueError(f"{report_id!r} is not a report's id (salt-run vcd_report.list lists them)")
    return os.path.join(directory(opts), report_id + REPORT)


def ids(opts):
    """The reports' ids, the newest first (by when their report was last written)."""
    where = directory(opts)
    if not os.path.isdir(where):
        return []
    found = [name[: -len(REPORT)] for name in os.listdir(where) if name.endswith(REPORT)]
    return sorted(found, key=lambda rid: os.path.getmtime(os.path.join(where, rid + REPORT)), reverse=True)


def entries(opts, report_id):
    """The journal of ``report_id``: its entries ``{"t", "tag", "data"}`` in the order they were written."""
    path = os.path.join(directory(opts), report_id + JOURNAL)
    found = []
    with open(path, encoding="utf-8") as journal:
        for line in journal:
            try:
                found.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by a kill mid-write: the rest is whole
    return found


def prune(opts, keep):
    """Remove all but the newest ``keep`` reports and their journals; the ids removed."""
    removed = ids(opts)[keep:]
    for report_id in removed:
        for suffix in (REPORT, JOURNAL):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(directory(opts), report_id + suffix))
    return removed


class Journal:
    """One run's journal (a file of JSON lines) and the report written from it."""

    def __init__(self, opts, report_id):
        self.opts = opts
        self.id = report_id
        self.path = os.path.join(directory(opts), report_id + JOURNAL)
        self.report = report_path(opts, report_id)
        self.rendered_at = None

    def write(self, tag, data):
        """
        One entry, at the master's time now; then the report written anew, at the run's start and end
        and at most every :data:`RENDER_SECONDS` between (a step's events come in bursts). A report
        that cannot be written is logged, never the window's end: the run goes on, its journal whole.
        """
        entry = {"t": time.time(), "tag": tag, "data": data}
        try:
            with open(self.path, "a", encoding="utf-8") as journal:
                journal.write(json.dumps(entry, default=str) + "\n")
            if tag in ("run/start", "run/finish") or entry["t"] - (self.rendered_at or 0) >= RENDER_SECONDS:
                self.render()
                self.rendered_at = entry["t"]
        except Exception:  # pylint: disable=broad-except
            log.exception("vcd_report: the report %s could not be written after %s", self.id, tag)

    def render(self):
        """The report from the journal as it is, replacing the last one whole (never half written)."""
        html = reports.render(entries(self.opts, self.id), self.id)
        partial = self.report + ".part"
        with open(partial, "w", encoding="utf-8") as out:
            out.write(html)
        os.replace(partial, self.report)


def begin(opts, bank, plan, keep):
    """
    The journal of this run of ``plan`` (of the orchestration whose cache bank is ``bank``): the one its
    record names when it resumes a run (a step done), else a new one, named in the record; the newest
    ``keep`` reports kept.
    """
    record = plan.record
    named = record.data.get(RECORD_KEY)
    if named and record.data["done"] and os.path.exists(os.path.join(directory(opts), named + JOURNAL)):
        return Journal(opts, named), True
    os.makedirs(directory(opts), exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report_id = base = f"{bank}-{_safe(plan.id)}-{stamp}"
    for again in range(2, 1000):  # the same plan run twice within a second: each run its own report
        if not os.path.exists(os.path.join(directory(opts), report_id + JOURNAL)):
            break
        report_id = f"{base}-{again}"
    journal = Journal(opts, report_id)
    record.data[RECORD_KEY] = journal.id
    prune(opts, max(keep - 1, 0))
    return journal, False


def _safe(text):
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(text))[:60] or "run"


def recording(fire, journal):
    """``fire(tag, data)`` that writes each event in ``journal`` too, then puts it on the bus."""

    def fire_and_write(tag, data):
        journal.write(tag, data)
        fire(tag, data)

    return fire_and_write


def who():
    """The user who runs the orchestration, as the master's process knows them."""
    return os.environ.get("SUDO_USER") or salt.utils.user.get_user()
