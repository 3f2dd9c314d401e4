"""One check per kind of value, shared by the states, module, settings and runners (`_utils/_vcd_cell_values.py`)."""

import pytest
from salt.exceptions import SaltInvocationError

from tests.support import load_salt_module

valid = load_salt_module("_utils/_vcd_cell_values.py", "vcd_cell_values_under_test")


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (lambda v: valid.seconds("timeout", v), 30),
        (lambda v: valid.seconds("timeout", v), 0.5),
        (lambda v: valid.seconds("pause", v, 0), 0),
        (lambda v: valid.lease(v), 0),
        (lambda v: valid.lease(v), 900),
        (lambda v: valid.whole_number("batch", v, 1), 2),
        (lambda v: valid.flag("reboot", v), False),
        (lambda v: valid.choice("backup", v, ("appliance", "confirmed")), "confirmed"),
        (lambda v: valid.text("version", v), "10.6.0"),
        (lambda v: valid.optional_text("rollout_id", v), None),
        (lambda v: valid.absolute_path("vcd_cell:lease_dir", v), "/srv/vcd/lease"),
        (lambda v: valid.optional_dict("cell_pillar", v), {"vcd_cell": {}}),
        (lambda v: valid.optional_dict("cell_pillar", v), None),
    ],
)
def test_a_value_of_its_kind_is_returned_as_given(check, value):
    assert check(value) == value


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (lambda: valid.seconds("timeout", 0), "timeout must be a positive number of seconds, not 0"),
        (lambda: valid.seconds("timeout", "1h"), "timeout must be a positive number of seconds, not '1h'"),
        # YAML's true is an int to Python: never taken for a duration or a count.
        (lambda: valid.seconds("timeout", True), "timeout must be a positive number of seconds, not True"),
        (lambda: valid.seconds("pause", -1, 0), "pause must be a number of seconds of at least 0, not -1"),
        (lambda: valid.lease(-5), r"lease must be 0 \(no lease\) or a positive number of seconds, not -5"),
        (lambda: valid.whole_number("batch", 1.5, 1), "batch must be a whole number of at least 1, not 1.5"),
        (lambda: valid.whole_number("batch", True, 1), "batch must be a whole number of at least 1, not True"),
        (lambda: valid.flag("reboot", "yes"), "reboot must be true or false, not 'yes'"),
        (
            lambda: valid.choice("backup", "tape", ("appliance", "confirmed")),
            "backup must be one of appliance, confirmed",
        ),
        (lambda: valid.text("version", ""), "version must be a non-empty string, not ''"),
        (lambda: valid.optional_text("sls", 3, "the name of an SLS"), "sls must be the name of an SLS, not 3"),
        (lambda: valid.absolute_path("share", "data"), "share must be an absolute path, not 'data'"),
        (lambda: valid.absolute_path("share", None), "share must be an absolute path, not None"),
        (lambda: valid.drain_wait(10, 20), r"interval \(20\) must not be longer than timeout \(10\)"),
        (lambda: valid.drain_wait(10, 0), "interval must be a positive number of seconds"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_argument_and_what_it_must_be(check, message):
    with pytest.raises(SaltInvocationError, match=message):
        check()


def test_a_pillar_that_is_no_dictionary_is_refused_without_quoting_it():
    with pytest.raises(SaltInvocationError) as refused:
        valid.optional_dict("cell_pillar", ["vcd_cell", "password: s3cret"])
    assert str(refused.value) == "cell_pillar must be a dictionary, not a list"
