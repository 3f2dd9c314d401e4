"""How the orchestrations read the minions' answers (`_utils/_vcd_orchestration.py`)."""

from unittest import mock

import pytest
import salt.client
import salt.utils.event

from tests.support import load_salt_module, minion_codes

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
    given = {} if answer is None else {"cell1": answer}
    answers = orchestration.Answers(given, codes=minion_codes(given))
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
        held = {c: answers[fun][c] for c in cells if c in answers[fun]}
        return orchestration.Answers(held, dict.fromkeys(cells, "no return"), minion_codes(held))

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


# -- return codes: how a minion's return says a function failed (the note at the top of the file) ---


def _cells_returning(returns):
    """A :class:`Cells` whose master publishes a job and hands back ``returns`` as Salt's LocalClient does."""
    calls = object.__new__(orchestration.Cells)
    calls.timeout = 30
    calls.opts = {"gather_job_timeout": 1}
    calls.client = mock.create_autospec(salt.client.LocalClient, instance=True)
    # The client's event bus is set up in its __init__, not declared on the class.
    calls.client.event = mock.create_autospec(salt.utils.event.MasterEvent, instance=True)
    calls.client.run_job.return_value = {"jid": "20261202", "minions": sorted(returns)}
    calls.client.get_iter_returns.return_value = iter([returns])
    return calls


def test_a_return_code_tells_a_failure_whatever_its_text_says():
    calls = _cells_returning(
        {
            "cell1": {"ret": "10.5.0", "retcode": 0},
            # A function that raised an error of a kind the text prefixes do not know.
            "cell2": {"ret": "Cannot read the version", "retcode": 1},
        }
    )
    answers = calls.call(["cell1", "cell2"], "vcd_cell.version")
    assert orchestration.answered(answers, ["cell1", "cell2"], "vcd_cell.version") == {
        "cell1": None,
        "cell2": "vcd_cell.version: Cannot read the version",
    }


def test_in_a_job_of_several_functions_one_that_raised_has_no_return_code_and_failed():
    calls = _cells_returning(
        {
            "cell1": {
                "ret": {"vcd_cell.version": TRACEBACK, "vcd_cell.is_running": True},
                # Salt 3006 and 3008 alike: the function that raised gets no entry.
                "retcode": {"vcd_cell.is_running": 0},
            }
        }
    )
    answers = calls.call_each(["cell1"], [("vcd_cell.version", (), None), ("vcd_cell.is_running", (), None)])
    assert orchestration.answered(answers["vcd_cell.is_running"], ["cell1"], "vcd_cell.is_running") == {"cell1": None}
    why = orchestration.answered(answers["vcd_cell.version"], ["cell1"], "vcd_cell.version")["cell1"]
    assert why.startswith("vcd_cell.version: salt.exceptions.CommandExecutionError: Cannot read")
    assert answers["vcd_cell.version"].codes == {"cell1": 1}
