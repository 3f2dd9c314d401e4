"""`salt-call sys.doc vcd_cell` is the user manual: every execution and runner function shows how to call it."""

import inspect

import pytest

from tests.support import load_salt_module

LOADER_MODULES = {
    "_modules/vcd_cell.py": "vcd_cell_execution_module_docs",
    "_modules/vcd_cell_appliance.py": "vcd_cell_appliance_module_docs",
    "_modules/vcd_cell_host.py": "vcd_cell_host_module_docs",
    "_modules/vcd_cell_vcenter.py": "vcd_cell_vcenter_module_docs",
    "_modules/vcd_cell_window.py": "vcd_cell_window_module_docs",
    "_runners/vcd_rolling.py": "vcd_rolling_runner_docs",
    "_runners/vcd_upgrade.py": "vcd_upgrade_runner_docs",
    "_runners/vcd_watch.py": "vcd_watch_runner_docs",
    "_runners/vcd_report.py": "vcd_report_runner_docs",
}


def public_functions(module):
    """What Salt's loader offers of a module: its own functions whose names do not start with "_"."""
    return [
        (name, function)
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if not name.startswith("_") and function.__module__ == module.__name__
    ]


@pytest.mark.parametrize("path", sorted(LOADER_MODULES))
def test_every_function_has_a_cli_example(path):
    module = load_salt_module(path, LOADER_MODULES[path])
    functions = public_functions(module)
    assert functions, path
    missing = [name for name, function in functions if "CLI Example:" not in (function.__doc__ or "")]
    assert not missing, f"{path}: no CLI Example in {missing}"
