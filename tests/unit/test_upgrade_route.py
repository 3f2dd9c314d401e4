"""
Which route `vcd_upgrade` takes, decided from the cells' own settings before anything is touched: all
appliances, or all Linux cells; a mix (unsupported by VMware) and an appliance backup of Linux cells are
refused, naming the cells.
"""

import pytest
from salt.exceptions import SaltInvocationError

from tests.support import load_salt_module
from tests.unit.utils.stand_ins import upgrade_plan

runner = load_salt_module("_runners/vcd_upgrade.py", "vcd_upgrade_route_under_test")
orchestration = load_salt_module("_utils/_vcd_orchestration.py", "vcd_orchestration_route_under_test")


class Answers:
    """Stands in for the orchestration's Cells: each cell's ``vcd_cell:appliance_api_url``."""

    def __init__(self, urls):
        self.urls = urls
        self.asked = []

    def call(self, cells, fun, arg=()):
        self.asked.append((fun, list(arg)))
        return orchestration.Answers({cell: self.urls[cell] for cell in cells if cell in self.urls})


def route(urls, backup="confirmed"):
    answers = Answers(urls)
    chosen = runner._route(upgrade_plan(order=["vcd1", "vcd2", "vcd3"], cells=answers, backup=backup))
    assert answers.asked == [("config.get", ["vcd_cell:appliance_api_url"])]
    return chosen.name


def test_every_cell_an_appliance_takes_the_appliance_route_and_none_the_linux_one():
    appliance = {f"vcd{i}": f"https://vcd{i}.example.com:5480" for i in (1, 2, 3)}
    assert route(appliance) == "appliance"
    assert route(appliance, backup="appliance") == "appliance"
    assert route(dict.fromkeys(appliance, "")) == "linux"


def test_a_mix_of_appliances_and_linux_cells_is_refused_naming_both():
    with pytest.raises(SaltInvocationError) as refused:
        route({"vcd1": "https://vcd1.example.com:5480", "vcd2": "", "vcd3": "https://vcd3.example.com:5480"})
    assert "mixes vCD appliances (vcd1, vcd3) and Linux cells (vcd2)" in str(refused.value)


def test_an_appliance_backup_of_linux_cells_and_a_silent_cell_are_refused():
    with pytest.raises(SaltInvocationError, match="backup: appliance needs vCD appliances"):
        route({"vcd1": "", "vcd2": "", "vcd3": ""}, backup="appliance")
    with pytest.raises(SaltInvocationError, match="did not answer: vcd3"):
        route({"vcd1": "", "vcd2": ""})
