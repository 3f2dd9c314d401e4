"""An orchestration's progress as salt-run prints it (`_output/vcd_progress.py`)."""

from tests.support import load_salt_module

outputter = load_salt_module("_output/vcd_progress.py", "vcd_progress_outputter_under_test")


def test_a_progress_event_is_its_line_alone():
    event = {"suffix": "progress", "event": {"message": "06:00:01 drain: started on c1", "outputter": "vcd_progress"}}
    assert outputter.output(event) == "06:00:01 drain: started on c1"
    assert outputter.output({"message": "said"}) == "said"
    assert outputter.output(["not", "an event"]) == "['not', 'an event']"
