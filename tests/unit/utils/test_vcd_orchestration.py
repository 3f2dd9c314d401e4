"""How the orchestrations read the minions' answers (`_utils/_vcd_orchestration.py`)."""

from unittest import mock

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


# -- the steps both orchestrations share --------------------------------------------------------------


def _cells_answering(answers):
    """A :class:`Cells` whose ``call`` answers ``answers[fun]`` for the cells asked (those it holds)."""

    def call(self, cells, fun, arg=(), kwarg=None, timeout=None):
        held = answers[fun]
        return orchestration.Answers({c: held[c] for c in cells if c in held}, dict.fromkeys(cells, "no return"))

    calls = object.__new__(orchestration.Cells)
    patched = mock.patch.object(orchestration.Cells, "call", autospec=True, side_effect=call)
    return calls, patched


def test_quiescing_every_running_cell_asks_only_the_running_ones_and_names_each_that_failed():
    calls, patched = _cells_answering(
        {
            "vcd_cell.is_running": {"a": True, "b": False, "c": True, "d": True, "e": "ERROR: no cmt_path"},
            "vcd_cell.quiesce": {"a": {"quiesced": True}, "c": {"quiesced": False}},
        }
    )
    with patched as call:
        up, outcome = calls.quiesce_running(["a", "b", "c", "d", "e"], lease=600)
    assert up == ["a", "c", "d"]
    quiesce = call.call_args_list[-1]
    assert quiesce.args[1:3] == (["a", "c", "d"], "vcd_cell.quiesce")
    assert quiesce.kwargs["kwarg"] == {"timeout": orchestration.QUIESCE_WAIT, "lease": 600}
    assert outcome == {
        "a": None,
        "b": None,
        "c": "vcd_cell.quiesce: {'quiesced': False}",
        "d": "vcd_cell.quiesce: no return",
        "e": "vcd_cell.is_running: ERROR: no cmt_path",
    }


def test_quiescing_with_the_running_cells_just_asked_does_not_ask_again():
    calls, patched = _cells_answering({"vcd_cell.quiesce": {"a": {"quiesced": True}}})
    with patched as call:
        up, outcome = calls.quiesce_running(
            ["a", "b"], lease=60, running=orchestration.Answers({"a": True, "b": False})
        )
    assert (up, outcome) == (["a"], {"a": None, "b": None})
    assert [c.args[2] for c in call.call_args_list] == ["vcd_cell.quiesce"]
