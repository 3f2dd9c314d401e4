"""How the orchestrations read the minions' answers (`_utils/_vcd_orchestration.py`)."""

import pytest

from tests.support import load_salt_module

orchestration = load_salt_module("_utils/_vcd_orchestration.py", "vcd_orchestration_under_test")

# What a minion returns for a function that raised inside a job of several functions (a compound command).
TRACEBACK = """Traceback (most recent call last):
  File "/usr/lib/python3/site-packages/salt/minion.py", line 3686, in _thread_multi_return
    return_data = minion_instance._execute_job_function(
salt.exceptions.CommandExecutionError: Cannot read the installed vCD version with rpm -q (exit 1): no output
"""


@pytest.mark.parametrize(
    "answer, why",
    [
        ("10.5.0", None),
        (False, None),
        ({"held": False}, None),
        (None, "the minion did not answer"),
        ("ERROR: the cell is down", "vcd_cell.version: ERROR: the cell is down"),
        ("'vcd_cell.version' is not available.", "vcd_cell.version: 'vcd_cell.version' is not available."),
        (
            TRACEBACK,
            "vcd_cell.version: salt.exceptions.CommandExecutionError: Cannot read the installed vCD version "
            "with rpm -q (exit 1): no output",
        ),
    ],
    ids=["text", "false", "dict", "silent", "error", "missing", "traceback"],
)
def test_an_answer_is_read_as_success_or_as_why_it_failed(answer, why):
    answers = {} if answer is None else {"cell1": answer}
    assert orchestration.answered(answers, ["cell1"], "vcd_cell.version") == {"cell1": why}


def test_a_state_run_fails_with_the_comments_of_its_failed_states():
    assert orchestration.state_failure({"a": {"result": True, "comment": "fine"}}) is None
    failed = {"a": {"result": True, "comment": "fine"}, "b": {"result": False, "comment": "The cell is down"}}
    assert orchestration.state_failure(failed) == "The cell is down"
    assert orchestration.state_failure(["Pillar failed to render"]) == "Pillar failed to render"
    assert orchestration.state_failure(None) == "the minion did not answer"
