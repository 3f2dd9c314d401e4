"""The rollout's vCenter proxies, read before a batch drains, reconnected after (`_utils/_vcd_vcenter_proxies.py`)."""

from unittest import mock

from tests.support import load_salt_module, minion_codes
from tests.unit.utils.stand_ins import rollout_plan

proxies = load_salt_module("_utils/_vcd_vcenter_proxies.py", "vcd_vcenter_proxies_under_test")
orchestration = proxies.orchestration

VC1 = {"id": "urn:vcloud:vimserver:1", "name": "vc1", "here": True}
VC2 = {"id": "urn:vcloud:vimserver:2", "name": "vc2", "here": False}


def context(cells, serving=(), answers=None):
    """A rollout's context over ``cells``: ``answers`` maps a function to its ``{cell: return}``."""
    calls = mock.create_autospec(orchestration.Cells, instance=True)
    calls.serving.return_value = list(serving)

    def call(targets, fun, arg=(), kwarg=None, timeout=None):
        given = {cell: answer for cell, answer in (answers or {}).get(fun, {}).items() if cell in targets}
        return orchestration.Answers(
            given, {cell: "its job was lost" for cell in targets if cell not in given}, minion_codes(given)
        )

    calls.call.side_effect = call
    return rollout_plan(cells=calls, order=list(cells), id="r1", report={cell: {} for cell in cells})


def test_only_the_proxies_a_cell_runs_itself_are_kept_and_a_cell_that_cannot_say_is_reported():
    ctx = context(["c1", "c2"], answers={"vcd_cell.vcenters": {"c1": [VC1, VC2]}})
    assert proxies.read(["c1", "c2"], ctx) == {"c1": None, "c2": None}
    assert ctx.found.proxies == {"c1": [VC1], "c2": []}
    assert ctx.report["c2"]["vcenters"].startswith("not read: ")
    assert "its job was lost" in ctx.report["c2"]["vcenters"]
    assert "vcenters" not in ctx.report["c1"]


def test_a_batch_without_proxies_asks_nothing_more():
    ctx = context(["c1", "c2"])
    ctx.found.proxies = {"c1": []}
    assert proxies.reconnect(["c1"], ctx) == {"c1": None}
    ctx.cells.serving.assert_not_called()
    ctx.cells.call.assert_not_called()


def test_each_proxy_is_reconnected_through_a_serving_cell_and_its_move_told():
    answers = {"vcd_cell.reconnect_vcenter": {"c2": {"proxy": "c2"}}}
    ctx = context(["c1", "c2", "c3"], serving=["c2", "c3"], answers=answers)
    ctx.found.proxies = {"c1": [VC1]}
    assert proxies.reconnect(["c1"], ctx) == {"c1": None}
    ctx.cells.serving.assert_called_once_with(["c2", "c3"])
    ctx.cells.call.assert_called_once_with(
        ["c2"], "vcd_cell.reconnect_vcenter", arg=[VC1["id"]], kwarg={"timeout": proxies.RECONNECT_TIMEOUT}
    )
    assert ctx.report["c1"]["vcenters"] == {"vc1": "proxy moved to c2"}
    ctx.fire.assert_called_once_with(
        "c1/vcenters", {"rollout": "r1", "cell": "c1", "vcenters": {"vc1": "proxy moved to c2"}}
    )


def test_a_reconnect_that_fails_or_has_no_cell_to_go_through_never_fails_the_rollout():
    ctx = context(["c1", "c2"], serving=["c2"], answers={"vcd_cell.reconnect_vcenter": {"c2": "ERROR: 503"}})
    ctx.found.proxies = {"c1": [VC1]}
    assert proxies.reconnect(["c1"], ctx) == {"c1": None}
    assert ctx.report["c1"]["vcenters"]["vc1"].startswith("reconnect through c2 failed (")
    alone = context(["c1", "c2"], serving=[])
    alone.found.proxies = {"c1": [VC1]}
    assert proxies.reconnect(["c1"], alone) == {"c1": None}
    assert "no other cell serves" in alone.report["c1"]["vcenters"]["vc1"]
    alone.cells.call.assert_not_called()
