"""A run's journal and its report in the master's cache (`_utils/_vcd_orchestration_journal.py`)."""

import json
import os
import pathlib
import time
import types

import pytest

import _vcd_orchestration_journal as journals


def plan(done=(), journal=None):
    """A plan as the skeleton gives it: its id and its record (``done``, the journal it names)."""
    record = types.SimpleNamespace(data={"done": list(done)})
    if journal:
        record.data[journals.RECORD_KEY] = journal
    return types.SimpleNamespace(id="p/1", record=record)


@pytest.fixture(name="opts")
def _opts(tmp_path):
    return {"cachedir": str(tmp_path)}


def test_a_run_writes_every_event_in_its_journal_and_its_report_as_it_goes(opts, monkeypatch):
    run = plan()
    journal, resumed = journals.begin(opts, "vcd_upgrade", run, keep=50)
    assert resumed is False and journal.id.startswith("vcd_upgrade-p_1-") and run.record.data["journal"] == journal.id
    fire = []
    record = journals.recording(lambda tag, data: fire.append(tag), journal)
    record("run/start", {"orchestration": "vcd_upgrade", "id": "p/1", "cells": ["c1"]})
    record("drain/start", {"upgrade": "p/1", "cells": ["c1"]})
    assert fire == ["run/start", "drain/start"]
    assert [e["tag"] for e in journals.entries(opts, journal.id)] == ["run/start", "drain/start"]
    page = pathlib.Path(journal.report).read_text(encoding="utf-8")
    assert 'data-lane="c1"' in page and not os.path.exists(journal.report + ".part")
    assert journals.ids(opts) == [journal.id]
    # Drawn anew at the run's end, and between at most every RENDER_SECONDS: a step's events come in bursts.
    drawn = []
    monkeypatch.setattr(journal, "render", lambda: drawn.append(True))
    record("install/start", {"upgrade": "p/1", "cells": ["c1"]})
    assert drawn == []
    record("run/finish", {"result": True})
    assert drawn == [True]


def test_a_run_that_resumes_writes_on_in_the_journal_its_record_names(opts):
    first, _ = journals.begin(opts, "vcd_upgrade", plan(), keep=50)
    first.write("run/start", {"cells": ["c1"]})
    again, resumed = journals.begin(opts, "vcd_upgrade", plan(done=["quiesce"], journal=first.id), keep=50)
    assert resumed is True and again.id == first.id
    # A record with nothing done starts over: a new report.
    fresh, resumed = journals.begin(opts, "vcd_upgrade", plan(journal=first.id), keep=50)
    assert resumed is False and fresh.id != first.id


def test_a_line_cut_short_by_a_kill_is_passed_over(opts):
    journal, _ = journals.begin(opts, "vcd_rolling", plan(), keep=50)
    journal.write("run/start", {"cells": ["c1"]})
    with open(journal.path, "a", encoding="utf-8") as cut:
        cut.write('{"t": 1, "tag": "dra')
    assert [e["tag"] for e in journals.entries(opts, journal.id)] == ["run/start"]


def test_the_newest_reports_are_kept_the_others_removed_with_their_journals(opts):
    made = []
    for index in range(4):
        journal = journals.Journal(opts, f"vcd_rolling-r{index}-x")
        os.makedirs(journals.directory(opts), exist_ok=True)
        journal.write("run/start", {"cells": ["c1"]})
        os.utime(journal.report, (time.time() - 100 + index, time.time() - 100 + index))
        made.append(journal)
    assert journals.prune(opts, 2) == ["vcd_rolling-r1-x", "vcd_rolling-r0-x"]
    assert journals.ids(opts) == ["vcd_rolling-r3-x", "vcd_rolling-r2-x"]
    assert not os.path.exists(made[0].path) and not os.path.exists(made[0].report)


def test_a_report_id_that_is_not_one_is_refused():
    for bad in ("../../etc/passwd", "", None, "a/b"):
        with pytest.raises(ValueError, match="is not a report's id"):
            journals.report_path({"cachedir": "/c"}, bad)
    assert journals.report_path({"cachedir": "/c"}, "vcd_upgrade-u-1") == "/c/vcd_reports/vcd_upgrade-u-1.html"


def test_the_journal_holds_json_lines_with_the_masters_time(opts):
    journal, _ = journals.begin(opts, "vcd_upgrade", plan(), keep=50)
    before = time.time()
    journal.write("run/start", {"cells": ["c1"], "when": object()})
    (line,) = pathlib.Path(journal.path).read_text(encoding="utf-8").splitlines()
    written = json.loads(line)
    assert before <= written["t"] <= time.time() and written["data"]["when"].startswith("<object")


def test_a_report_that_cannot_be_written_never_ends_the_window(opts, monkeypatch, caplog):
    journal, _ = journals.begin(opts, "vcd_upgrade", plan(), keep=50)

    def broken(entries, report_id):
        raise TypeError("a report's defect")

    monkeypatch.setattr(journals.reports, "render", broken)
    journal.write("drain/start", {"cells": ["c1"]})  # does not raise
    assert [e["tag"] for e in journals.entries(opts, journal.id)] == ["drain/start"]
    assert "could not be written after drain/start" in caplog.text
