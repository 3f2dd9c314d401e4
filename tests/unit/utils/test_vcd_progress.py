"""An orchestration's events said as lines (`_utils/_vcd_progress.py`), sent as the runner job's progress."""

from unittest import mock

import _vcd_progress as progress

# The precheck's failed rows, as its finish event carries them.
FAILED = [
    {"check": "package", "cell": "c1", "result": "fail", "detail": "no installer", "fix": "copy it"},
    {"check": "clock", "cell": "c2", "result": "fail", "detail": "300 s behind", "fix": "NTP"},
    {"check": "clock", "cell": "c3", "result": "fail", "detail": "90 s ahead", "fix": "NTP"},
]


def test_each_event_is_said_in_a_line_naming_the_step_the_cells_and_any_failure():
    said = [
        progress.describe("run/start", {"orchestration": "vcd_upgrade", "id": "u1", "cells": ["c1", "c2"]}),
        progress.describe("drain/start", {"upgrade": "u1", "cells": ["c1", "c2"]}),
        progress.describe("install/finish", {"upgrade": "u1", "results": {"c1": "done", "c2": "rpm exited 1"}}),
        progress.describe("step/vcd.drained/finish", {"rollout": "r1", "results": {"c1": "done"}}),
        progress.describe("precheck/finish", {"precheck": "u1", "ready": False, "failed": FAILED}),
        progress.describe("c1/finish", {"rollout": "r1", "cell": "c1", "result": "done", "duration": 12.5}),
        progress.describe("run/finish", {"result": False, "comment": "Stopped at c2", "report": "/r.html"}),
    ]
    assert said == [
        "vcd_upgrade u1 begins on c1, c2",
        "drain: started on c1, c2",
        "install: FAILED on c2: rpm exited 1",
        "vcd.drained: done on c1",
        "precheck: not ready (clock, package)",
        "c1: done in 12.5 s",
        "FAILED: Stopped at c2 (report: /r.html)",
    ]
    assert progress.describe("c1/drain/other", {}) is None


def test_the_lines_go_as_the_jobs_progress_events_with_their_outputter():
    jid_event = mock.Mock()
    say = progress.reporter(jid_event)
    say("drain/start", {"upgrade": "u1", "cells": ["c1"]})
    say("unknown/thing", {})
    ((data, suffix),) = [call.args for call in jid_event.fire_event.call_args_list]
    assert suffix == "progress" and data["outputter"] == "vcd_progress"
    assert data["message"].endswith(" drain: started on c1") and data["message"][2] == ":"
    progress.reporter(None)("drain/start", {"upgrade": "u1", "cells": ["c1"]})  # nothing to send it through


def test_progress_that_cannot_be_said_never_ends_the_window(caplog):
    jid_event = mock.Mock()
    jid_event.fire_event.side_effect = ReferenceError("the job's event is gone")
    progress.reporter(jid_event)("drain/start", {"upgrade": "u1", "cells": ["c1"]})  # does not raise
    assert "could not be said" in caplog.text
