"""The precheck's report as a person reads it (`_output/vcd_precheck.py`)."""

import pytest

from tests.support import load_salt_module

outputter = load_salt_module("_output/vcd_precheck.py", "vcd_precheck_outputter_under_test")

REPORT = {
    "ready": False,
    "checks": [
        {"check": "reachable", "cell": "c1", "result": "pass", "detail": "answers through its salt-minion", "fix": ""},
        {
            "check": "clock",
            "cell": "c2",
            "result": "fail",
            "detail": "the cell's clock is 300 s behind the master's (tolerance 60 s), which its jobs' times show",
            "fix": "synchronise the cell's clock (NTP) with the master's and the other cells'",
        },
        {"check": "backup", "cell": None, "result": "warn", "detail": "not given", "fix": "back it up"},
    ],
    "comment": "Not ready: 1 passed, 1 warning(s), 1 failed.",
}


@pytest.fixture(autouse=True)
def opts(monkeypatch):
    monkeypatch.setattr(outputter, "__opts__", {"color": False}, raising=False)


def test_a_report_is_a_table_of_its_checks_with_the_verdict_under_it():
    lines = outputter.output(REPORT).splitlines()
    assert lines[0].split() == ["CHECK", "CELL", "RESULT", "DETAIL", "FIX"]
    assert lines[1].split()[:3] == ["reachable", "c1", "pass"]
    assert lines[2].split()[:3] == ["clock", "c2", "fail"]
    # The detail wraps in its own column: the continuation starts where the detail does.
    detail_at = lines[0].index("DETAIL")
    assert lines[3][:detail_at].strip() == "" and "which its jobs' times show" in lines[3][detail_at:]
    assert lines[-2].split()[:3] == ["backup", "(group)", "warn"]
    assert lines[-1] == "Not ready: 1 passed, 1 warning(s), 1 failed."


def test_colours_mark_the_result_when_the_terminal_has_them(monkeypatch):
    monkeypatch.setattr(outputter, "__opts__", {"color": True}, raising=False)
    text = outputter.output(REPORT)
    assert "\x1b[" in text and "fail" in text


def test_anything_else_is_shown_as_the_nested_outputter_shows_it(monkeypatch):
    calls = []
    monkeypatch.setattr(outputter.salt.output, "out_format", lambda data, out, opts: calls.append(out) or "nested")
    assert outputter.output({"comment": "refused"}) == "nested" and calls == ["nested"]
