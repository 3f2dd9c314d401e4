"""The orchestrations' typed plans (`_utils/_vcd_orchestration_plan.py`)."""

import dataclasses

import pytest

import _vcd_orchestration_plan as plans
from tests.unit.utils.stand_ins import rollout_plan, upgrade_plan


def test_a_plan_names_every_argument_it_lacks_and_takes_them_by_name_only():
    with pytest.raises(TypeError, match="version"):
        plans.Upgrade(
            id="u1",
            order=["c1"],
            cells=None,
            record=None,
            fire=print,
            timeout=60,
            health_timeout=60,
            cell_pillar=None,
            backup="confirmed",
            db_cell=None,
            install_sls=None,
            on_failure="restore",
        )
    with pytest.raises(TypeError):
        plans.Rollout("r1", ["c1"])


def test_what_steps_find_is_apart_from_what_was_asked_and_per_plan():
    first, second = rollout_plan(), rollout_plan()
    first.found.proxies["c1"] = [{"name": "vc1"}]
    first.report["c1"] = {"result": "done"}
    assert second.found == plans.Findings() and second.report == {}
    assert {field.name for field in dataclasses.fields(plans.Findings)} == {
        "answers",
        "running",
        "upgraded_already",
        "precheck",
        "proxies",
    }
    assert upgrade_plan().found.running is None


def test_the_drains_lease_is_the_cell_pillars_or_the_default():
    default = plans.defaults.DRAIN["lease"]
    assert plans.drain_lease(None) == default
    assert plans.drain_lease({"vcd_cell": None}) == default
    assert plans.drain_lease({"vcd_cell": {"drain": None}}) == default
    assert plans.drain_lease({"vcd_cell": {"drain": {"timeout": 60}}}) == default
    assert plans.drain_lease({"vcd_cell": {"drain": {"lease": 1200}}}) == 1200
