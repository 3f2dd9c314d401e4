"""
What the master-side steps' unit tests stand in for: the plan's record, cells that answer as told, and
the plans (the real dataclasses) built around them.
"""

from unittest import mock

import _vcd_orchestration as orchestration
import _vcd_orchestration_plan as plans
from tests.support import minion_codes


class Record:
    """Stands in for a plan's record in the master's cache: its data, and a copy of it at each save."""

    def __init__(self, **data):
        self.data = data
        self.saved = []
        # The master's cache the record is kept in, empty: no window's claim is there.
        self.cache = mock.Mock(**{"fetch.return_value": {}})

    def save(self):
        self.saved.append(dict(self.data))

    def done(self, name):
        return name in self.data.get("done", [])


def reached(answers):
    """
    Cells (a :class:`~_vcd_orchestration.Cells` made with ``spec``) answering ``answers`` (``{fun: {cell:
    return}}``); a cell missing from a function's answers is silent, its job lost.
    """
    calls = mock.create_autospec(orchestration.Cells, instance=True)

    def of(fun, targets):
        given = {cell: answer for cell, answer in answers.get(fun, {}).items() if cell in targets}
        return orchestration.Answers(
            given, {cell: "its job was lost" for cell in targets if cell not in given}, minion_codes(given)
        )

    calls.call.side_effect = lambda targets, fun, arg=(), kwarg=None, timeout=None: of(fun, targets)
    calls.call_each.side_effect = lambda targets, asked, timeout=None: {fun: of(fun, targets) for fun, _, _ in asked}
    return calls


def cluster_view(roles, nodes, own, health="HEALTHY", failover="AUTOMATIC", down=()):
    """
    The appliances' database cluster as ``own``'s appliance answers ``vcd_cell.appliance_nodes``:
    ``roles`` (``{cell: role}``) and ``nodes`` (``{cell: node}``) of the database nodes' appliances (the
    primary's first), those of ``down`` stopped.
    """
    members = [
        {"name": nodes[cell], "role": roles[cell], "status": "stopped" if cell in down else "running", "health": health}
        for cell in nodes
    ]
    return {
        "health": health,
        "failover": failover,
        "warnings": [] if health == "HEALTHY" else ["a standby lags"],
        "nodes": members,
        "primaries": [nodes[cell] for cell in nodes if roles[cell] == "PRIMARY"],
        "node": nodes.get(own, f"{own}-node"),
        "role": roles[own],
    }


def _planned(kind, fields):
    """A ``kind`` plan over ``fields``, the rest given as a plan of a small group would have them."""
    given = {
        "id": "p1",
        "order": [],
        "cells": None,
        "record": Record(),
        "fire": mock.create_autospec(orchestration.events({}, "vcd/test")),
        "timeout": 60,
        "health_timeout": 60,
        "cell_pillar": {"vcd_cell": {"drain": {"lease": 600}}},
    }
    return kind(**dict(given, **fields))


def rollout_plan(**fields):
    """A :class:`~_vcd_orchestration_plan.Rollout` with ``fields``; its events in ``plan.fire`` (a mock)."""
    return _planned(plans.Rollout, dict({"min_active": 1, "steps": [], "switchover": True, "pause": 0}, **fields))


def upgrade_plan(**fields):
    """An :class:`~_vcd_orchestration_plan.Upgrade` with ``fields``; its events in ``plan.fire`` (a mock)."""
    return _planned(
        plans.Upgrade,
        dict(
            {"version": "10.6.0", "backup": "confirmed", "db_cell": None, "install_sls": None, "on_failure": "restore"},
            **fields,
        ),
    )
