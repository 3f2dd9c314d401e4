"""
The plan of a master-side orchestration, typed: what the runner was asked, checked once and with every
default from :mod:`_vcd_cell_defaults`, built before anything is touched (:class:`Rollout` for
``vcd_rolling``, :class:`Upgrade` for ``vcd_upgrade``), and what its steps found on the way
(:class:`Findings`), apart from it. Each step is ``step(cells, plan)``: it reads the plan, calls the
cells through ``plan.cells`` and returns ``{cell: None or why it failed}``; what a later step needs of
what it learned goes in ``plan.found``, what a re-run needs in ``plan.record``.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import _vcd_cell_defaults as defaults


@dataclasses.dataclass
class Findings:
    """What steps learned for the steps after them, in this run only (a re-run asks again)."""

    #: The last ``call_each`` of the preflight or the verification: ``{function: {cell: return}}``.
    answers: dict = dataclasses.field(default_factory=dict)
    #: The preflight's ``{cell: is_running}``, taken by the quiesce step that follows it (None: ask again).
    running: dict | None = None
    #: The preflight found every cell serving the target version already: nothing to do.
    upgraded_already: bool = False
    #: The checks run before anything was touched (:func:`_vcd_precheck.gate`): the report's warnings and
    #: failures, for the run's return.
    precheck: dict | None = None
    #: ``{cell: [vCenter]}``: the vCenters whose VC proxy each cell of the batch runs (read before it drains).
    proxies: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(kw_only=True)
class Plan:
    """What both orchestrations plan: the cells, how they are reached, the record, the events."""

    #: Names the record (given, or derived from the cells and what is done to them).
    id: str
    #: The cells (minion ids or roster targets), in the orchestration's order.
    order: list
    #: How the cells are reached: :class:`_vcd_orchestration.Cells` or its salt-ssh counterpart.
    cells: Any
    #: :class:`_vcd_orchestration.Record`: the steps or cells done, kept for a re-run.
    record: Any
    #: ``fire(tag, data)``: an event under the orchestration's prefix on the master's bus.
    fire: Callable
    #: Seconds a step may wait on the cells.
    timeout: float
    #: Seconds a cell may take to serve again.
    health_timeout: float
    #: The pillar passed to every state run on the cells.
    cell_pillar: dict | None
    #: The route's object (Linux or appliances), with the route's own steps.
    route: Any = None
    #: The step run before any other on a run that resumes nothing (:func:`_vcd_precheck.gate`), or None.
    gate: Callable | None = None
    #: This run's claim on its cells (:class:`_vcd_orchestration_window.Window`); None in a precheck.
    window: Any = None
    #: ``{cell: its entry of the return}``, filled in as the run goes.
    report: dict = dataclasses.field(default_factory=dict)
    found: Findings = dataclasses.field(default_factory=Findings)

    @property
    def lease(self):
        """Seconds of a drain's quiesce lease: ``cell_pillar``'s drain setting, or the default."""
        return drain_lease(self.cell_pillar)


@dataclasses.dataclass(kw_only=True)
class Rollout(Plan):
    """``vcd_rolling.rollout``: batches of cells through maintenance."""

    #: Other cells that must serve before a batch goes down.
    min_active: int
    #: ``(name, step)`` pairs run on each batch.
    steps: list
    #: On appliances, switch over before the primary goes down.
    switchover: bool
    #: Seconds between batches.
    pause: float
    #: The batches, in order (on appliances the cluster's, set by the route).
    batches: list = dataclasses.field(default_factory=list)
    #: On appliances: ``{cell: primary, standby or cell}``.
    roles: dict = dataclasses.field(default_factory=dict)
    #: On appliances: ``{cell: its database node's name}``.
    nodes: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(kw_only=True)
class Upgrade(Plan):
    """``vcd_upgrade.upgrade``: a whole server group to a new vCD."""

    #: The vCD version the group is upgraded to.
    version: str
    #: The database's backup: ``confirmed`` (the operator made one, ``backup_completed``) or ``appliance``.
    backup: str
    #: The cell that upgrades the database (None: the route chooses; on appliances the primary).
    db_cell: str | None
    #: An SLS that installs the new software on each cell instead of ``vcd_cell.installed`` (None).
    install_sls: str | None
    #: A failure before the point of no return: ``restore`` (every cell back into service) or ``stop``.
    on_failure: str


def drain_lease(cell_pillar):
    """The seconds of the drains' quiesce lease: ``cell_pillar``'s ``vcd_cell:drain:lease``, or the default."""
    drain = ((cell_pillar or {}).get("vcd_cell") or {}).get("drain") or {}
    return drain.get("lease", defaults.DRAIN["lease"])
