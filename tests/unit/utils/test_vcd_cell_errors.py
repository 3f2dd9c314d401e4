"""The cell side's exceptions (`_utils/_vcd_cell_errors.py`) and the execution module's edge (`at_the_edge`)."""

import inspect

import pytest
from salt.exceptions import CommandExecutionError, SaltException, SaltInvocationError

import _vcd_cell_errors as errors
from tests.support import load_salt_module

MODULE_FILES = ("vcd_cell", "vcd_cell_appliance", "vcd_cell_host", "vcd_cell_vcenter")


def quiesce(timeout=30, lease=0):
    """A stand-in execution function."""
    if timeout == 0:
        raise errors.ToolTimeout("cell-management-tool cell --quiesce true did not finish within 0s and was killed")
    if timeout < 0:
        raise SaltInvocationError("timeout must be a positive number of seconds, not -1")
    return {"quiesced": True, "lease": lease}


def test_every_kind_is_a_cell_error_and_none_is_already_salts_command_error():
    kinds = [k for k in vars(errors).values() if inspect.isclass(k) and issubclass(k, errors.CellError)]
    assert len(kinds) > 10
    for kind in kinds:
        assert issubclass(kind, SaltException), kind
        # Otherwise the edge would have nothing to do, and a caller could not tell the kinds from Salt's.
        assert not issubclass(kind, CommandExecutionError), kind
        assert kind.__doc__, kind


def test_the_edge_turns_a_cell_error_into_salts_with_its_message_and_its_cause():
    edged = errors.at_the_edge(quiesce)
    with pytest.raises(CommandExecutionError) as failed:
        edged(timeout=0)
    assert str(failed.value) == "cell-management-tool cell --quiesce true did not finish within 0s and was killed"
    assert isinstance(failed.value.__cause__, errors.ToolTimeout)


def test_the_edge_lets_bad_input_and_returns_through_unchanged():
    edged = errors.at_the_edge(quiesce)
    with pytest.raises(SaltInvocationError, match="timeout must be a positive number"):
        edged(timeout=-1)
    assert edged(lease=60) == {"quiesced": True, "lease": 60}


def test_the_edge_keeps_what_salts_loader_and_sys_doc_read():
    edged = errors.at_the_edge(quiesce)
    # Salt passes a job's keyword arguments by the signature (salt.utils.args.get_function_argspec).
    assert inspect.signature(edged) == inspect.signature(quiesce)
    assert (edged.__name__, edged.__doc__) == ("quiesce", quiesce.__doc__)


@pytest.mark.parametrize("name", MODULE_FILES)
def test_every_execution_function_is_at_the_edge(name):
    module = load_salt_module(f"_modules/{name}.py", f"{name}_edge_under_test")
    public = {
        attr: value
        for attr, value in vars(module).items()
        if inspect.isfunction(value) and not attr.startswith("_") and value.__module__ == module.__name__
    }
    assert public, name
    assert [attr for attr, value in public.items() if not hasattr(value, "__wrapped__")] == []
