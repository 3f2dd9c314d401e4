"""How the orchestrations reach their cells over salt-ssh (`_utils/_vcd_orchestration_ssh.py`)."""

import pytest

from tests.support import load_salt_module

orchestration = load_salt_module("_utils/_vcd_orchestration.py", "vcd_orchestration_under_test")
ssh = load_salt_module("_utils/_vcd_orchestration_ssh.py", "vcd_orchestration_ssh_under_test")


@pytest.mark.parametrize(
    "answer, unreachable",
    [
        ({"return": True, "retcode": 0}, False),
        ({"stderr": "ssh: connect to host 10.0.0.9 port 22: Connection refused", "retcode": 255, "_error": "x"}, True),
        ({"stderr": "root@10.0.0.9: Permission denied (publickey).", "retcode": 255, "_error": "x"}, True),
        ({"stderr": "'vcd_cell.jobs' is not available.", "retcode": 255, "_error": "x"}, False),
        ({"stderr": "Error running 'vcd_cell.status': no cmt_path", "retcode": 1, "_error": "x"}, False),
    ],
    ids=["answered", "refused", "denied", "missing-function", "failed"],
)
def test_a_host_salt_ssh_never_reached_is_no_answer_unlike_a_failure_there(answer, unreachable):
    assert ssh._unreachable(answer) is unreachable


def test_a_function_in_a_state_run_answers_with_its_return_code_as_through_a_minion():
    run = {
        "vcd_cell_|-vcd_cell.version #0_|-vcd_cell.version_|-call": {
            "__id__": "vcd_cell.version #0",
            "result": True,
            "changes": {"return": "10.5.0"},
        },
        "vcd_cell_|-vcd_cell.health #1_|-vcd_cell.health_|-call": {
            "__id__": "vcd_cell.health #1",
            "result": False,
            "comment": "the cell is down",
        },
    }
    assert ssh._returned(run, "vcd_cell.version #0") == ("10.5.0", 0)
    assert ssh._returned(run, "vcd_cell.health #1") == ("the cell is down", 1)
    assert ssh._returned(["Rendering SLS failed"], "vcd_cell.version #0") == ("Rendering SLS failed", 1)
    assert ssh._returned(run, "vcd_cell.status #2") == ("vcd_cell.status #2 did not run", 1)
    value, code = ssh._returned(run, "vcd_cell.health #1")
    answers = orchestration.Answers({"c": value}, codes={"c": code})
    assert orchestration.answered(answers, ["c"], "vcd_cell.health") == {"c": "vcd_cell.health: the cell is down"}
    failed = {"stderr": "warning\nError running 'vcd_cell.status': no cmt_path", "retcode": 1, "_error": "x"}
    assert ssh._unwrapped(failed) == ("Error running 'vcd_cell.status': no cmt_path", 1)
    assert ssh._unwrapped({"return": {"up": True}, "retcode": 0}) == ({"up": True}, 0)
    # A state run with a failed state: salt-ssh's code says so; each function's own code is its state's.
    assert ssh._unwrapped({"return": run, "retcode": 2}) == (run, 2)


def test_ssh_must_be_true_or_false():
    with pytest.raises(orchestration.SaltInvocationError, match="ssh must be true or false, not 'yes'"):
        ssh.reach({}, 60, "yes")
