"""
The appliance route of a server group's upgrade: VMware's procedure for vCD appliances, whose
software, OS and embedded PostgreSQL ``vamicli`` updates together, and whose database cluster (one
primary, standbys) must not fail over behind the upgrade's back.

Steps, each ``step(cells, plan)`` like those of :mod:`_vcd_upgrade_steps` (which this route shares
for the quiesce, the drain and the database upgrade):

1. ``preflight``: the Linux checks, plus: the cluster's database nodes are exactly the planned primary
   and standbys, one primary, the cluster HEALTHY with every node running; the failover mode and the
   primary recorded; ``db_cell`` is the primary.
2. ``failover``: failover mode MANUAL (when it was AUTOMATIC).
3. ``quiesce``, 4. ``drain``.
5. ``backup`` (``backup: appliance``): ``create-backup.sh`` on the primary.
6. ``install``: the primary first, then the others at once. The point of no return.
7. ``database``: the upgrade, once, on the primary, every cell checked stopped.
8. ``reboot``: the primary, then once it is back as the healthy primary, the others at once.
9. ``verify``: every cell serves on the version, the cluster HEALTHY with the same primary, no
   quiesce lease, and the failover mode back to what it was.

Never an install or a reboot of the primary while failover is AUTOMATIC, and never a reboot of another
appliance before the primary is back: checked live by the orchestration before each reboot, and by
``vcd_cell.install`` and ``vcd_cell.reboot`` themselves on the appliance.
"""

import _vcd_appliance_cluster as cluster
import _vcd_upgrade_steps as steps

# Seconds a round of the reboot step's wait lets vCD take to serve before asking again.
REBOOT_POLL_SECONDS = 0.5
BACK = "its appliance API answers, its node is healthy, its minion answers and vCD started at boot and serves"


def preflight(cells, plan):
    """Touching nothing: the Linux checks, then the database cluster against the plan."""
    outcome = steps.preflight(cells, plan, extra=[("vcd_cell.appliance_nodes", (), None)])
    if any(outcome.values()):
        return outcome
    answers = plan.found.answers["vcd_cell.appliance_nodes"]
    # An appliance whose API does not answer (one that is down) fails; the others say what the cluster lacks.
    outcome = steps.errors(answers, cells, "vcd_cell.appliance_nodes")
    answered = [cell for cell in cells if cluster.nodes_of(answers, cell) is not None]
    roles = {cell: answers[cell]["role"] for cell in answered}
    nodes = {cell: answers[cell]["node"] for cell in answered}
    # Which nodes the plan holds is known only once every appliance said which node it is.
    planned = [nodes[cell] for cell in answered if roles[cell] != cluster.CELL_ROLE] if answered == cells else None
    for cell in answered:
        problems = cluster.problems(answers[cell], planned)
        if problems:
            outcome[cell] = "; ".join(problems)
    if any(outcome.values()):
        return outcome
    primary = next(cell for cell in cells if roles[cell] == "PRIMARY")
    if plan.db_cell not in (None, primary):
        why = f"db_cell must be the primary appliance ({primary}), where the database is: not {plan.db_cell}"
        return dict.fromkeys(cells, why)
    plan.db_cell = primary
    record = plan.record
    record.data.update(roles=roles, nodes=nodes, primary=primary)
    # A run that could not set the failover mode back kept the mode it found: this one restores that.
    record.data.setdefault("failover_before", answers[primary]["failover"])
    record.save()
    return outcome


def failover(cells, plan):
    """Failover mode MANUAL for the whole upgrade, when it was AUTOMATIC (set through the primary)."""
    primary = plan.record.data["primary"]
    why = cluster.failover_manual(plan.cells, primary, plan.record)
    return {cell: why if cell == primary else None for cell in cells}


def backup(cells, plan):
    """``create-backup.sh`` on the primary, after the drain and before the first install; where it went, recorded."""
    record = plan.record
    primary = record.data["primary"]
    answer = plan.cells.call([primary], "vcd_cell.backup_database")
    why = steps.errors(answer, [primary], "vcd_cell.backup_database")[primary]
    if why is None:
        record.data["backup"] = answer[primary].get("path") or answer[primary].get("output")
        record.save()
    return {cell: why if cell == primary else None for cell in cells}


def install(cells, plan):
    """
    The update on the primary first (which ``vcd_cell.install`` refuses while failover is Automatic),
    then on the others at once.
    """
    primary = plan.record.data["primary"]
    outcome = steps.install([primary], plan)
    others = [cell for cell in cells if cell != primary]
    if outcome[primary]:
        return dict(outcome, **dict.fromkeys(others, None))
    outcome.update(steps.install(others, plan) if others else {})
    return outcome


def _node_back(cell, plan, view):
    """
    None once the appliance API of ``cell`` answers with its node healthy (the primary's as PRIMARY),
    else what it lacks.
    """
    data = plan.record.data
    return cluster.node_lacking(view, data["roles"][cell], "PRIMARY" if cell == data["primary"] else None)


def _may_reboot(group, plan):
    """
    Checked live, in one job, before a group's reboot: failover is MANUAL and (for the others) the
    primary is back; returns which cells of ``group`` run (booted already) and the outcome so far.
    """
    primary = plan.record.data["primary"]
    asked = list(dict.fromkeys([*group, primary]))
    answers = plan.cells.call_each(asked, [("vcd_cell.is_running", (), None), ("vcd_cell.appliance_nodes", (), None)])
    running = answers["vcd_cell.is_running"]
    outcome = steps.errors(running, group, "vcd_cell.is_running")
    view = cluster.nodes_of(answers["vcd_cell.appliance_nodes"], primary)
    if view is None or view["failover"] != "MANUAL":
        seen = view["failover"] if view else answers["vcd_cell.appliance_nodes"].get(primary, "no answer")
        why = f"failover must be MANUAL before a reboot (found: {seen}): a standby could be promoted behind the upgrade"
        return running, dict.fromkeys(group, why)
    if primary not in group:
        lacking = _node_back(primary, plan, view) or (None if running.get(primary) is True else "vCD does not run")
        if lacking:
            return running, dict.fromkeys(group, f"not rebooted: the primary {primary} is not back ({lacking})")
    return running, outcome


def _reboot_and_wait(group, plan):
    """
    Reboot the stopped appliances of ``group`` (once: the record keeps the reboots issued) and wait for
    each to be back.
    """
    calls, record = plan.cells, plan.record
    running, outcome = _may_reboot(group, plan)
    if any(outcome.values()):
        return outcome
    issued = record.data.setdefault("rebooted", [])
    # A cell that runs again was booted already (it was stopped through the install and the database).
    to_reboot = [cell for cell in group if running.get(cell) is False and cell not in issued]
    answers = calls.call(to_reboot, "vcd_cell.reboot")
    outcome.update(steps.errors(answers, to_reboot, "vcd_cell.reboot"))
    if any(outcome.values()):
        return outcome
    record.data["rebooted"] = issued + to_reboot
    record.save()
    plan.fire("reboot/waiting", {"cells": group, "until": BACK})

    def lacking(cell, answers):
        node = _node_back(cell, plan, cluster.nodes_of(answers["vcd_cell.appliance_nodes"], cell))
        return node or (None if answers["vcd_cell.wait_serving"].get(cell) is True else "vCD does not serve yet")

    # wait_serving waits up to a poll interval itself: it paces the rounds.
    rounds = [("vcd_cell.appliance_nodes", (), None), ("vcd_cell.wait_serving", (), {"timeout": REBOOT_POLL_SECONDS})]
    return calls.wait_for_each(group, rounds, lacking, plan.timeout)


def reboot(cells, plan):
    """
    The primary rebooted first, failover checked MANUAL; once it is back as the healthy primary, serving,
    the others at once.
    """
    primary = plan.record.data["primary"]
    outcome = _reboot_and_wait([primary], plan)
    others = [cell for cell in cells if cell != primary]
    if outcome[primary]:
        return dict(outcome, **dict.fromkeys(others, "not rebooted: the primary is not back"))
    outcome.update(_reboot_and_wait(others, plan) if others else {})
    return outcome


def verify(cells, plan):
    """
    The Linux checks (each cell serves on the version, no lease) and the cluster as every appliance sees
    it, in one job; then the failover mode set back to what it was, once the cluster is HEALTHY with the
    same primary.
    """
    outcome = steps.verify(cells, plan, extra=[("vcd_cell.appliance_nodes", (), None)])
    answers = plan.found.answers["vcd_cell.appliance_nodes"]
    record = plan.record
    primary, before = record.data["primary"], record.data["failover_before"]
    planned = [record.data["nodes"][cell] for cell in cells if record.data["roles"][cell] != cluster.CELL_ROLE]
    for cell in cells:
        view = cluster.nodes_of(answers, cell)
        if view is None:
            problems = [steps.errors(answers, [cell], "vcd_cell.appliance_nodes")[cell] or str(answers.get(cell))]
        else:
            # The failover mode is Manual until this step sets it back: judged below.
            problems = cluster.problems(view, planned, failover=False)
            if view["primaries"] != [record.data["nodes"][primary]]:
                problems.append(
                    f"the primary is {', '.join(view['primaries'])}, not {record.data['nodes'][primary]} as before"
                )
        outcome[cell] = "; ".join(filter(None, [outcome[cell], *problems])) or None
    if any(outcome.values()):
        return outcome
    if cluster.nodes_of(answers, primary)["failover"] != before:
        outcome[primary] = cluster.set_failover(plan.cells, primary, before.lower())
    return outcome


class ApplianceRoute:
    """
    The upgrade of a group of vCD appliances, VMware's appliance route, as the runner sees a route (see
    :class:`_vcd_upgrade_steps.LinuxRoute`).
    """

    name = "appliance"
    noun = "appliance"
    backups = ("confirmed", "appliance")
    also_restored = ", and the failover mode restored"
    STEPS = (
        ("preflight", preflight),
        ("failover", failover),
        ("quiesce", steps.quiesce),
        ("drain", steps.drain),
        ("backup", backup),
        ("install", install),
        ("database", steps.database),
        ("reboot", reboot),
        ("verify", verify),
    )

    def steps(self, plan):
        """The steps; the backup only with ``backup: appliance``."""
        return tuple((name, step) for name, step in self.STEPS if name != "backup" or plan.backup == "appliance")

    def db_cell(self, plan):
        """The primary, where the database is: a resumed run finds it in the record of its preflight."""
        return plan.record.data.get("primary", plan.db_cell)

    def restore_failover(self, plan):
        """
        After a failure before the point of no return: the failover mode back to what it was if the
        upgrade changed it (recorded as no longer changed); None, or why it failed.
        """
        record = plan.record
        nodes = cluster.database_nodes(record.data.get("roles", {}), record.data.get("primary"))
        return cluster.restore_failover(plan.cells, record, nodes)

    def failover_left_manual(self, plan):
        """Whether this upgrade set the failover mode Manual and has not set it back."""
        return bool(plan.record.data.get("failover_changed"))

    def where_cells_are(self, cells, plan, report):
        """After the point of no return: each appliance's role, version, service and node state, in words."""
        answers = plan.cells.call_each(
            cells,
            [("vcd_cell.is_running", (), None), ("vcd_cell.version", (), None), ("vcd_cell.appliance_nodes", (), None)],
        )
        roles = plan.record.data.get("roles", {})
        for cell in cells:
            running = answers["vcd_cell.is_running"].get(cell)
            service = "running" if running is True else "stopped" if running is False else "unknown"
            view = cluster.nodes_of(answers["vcd_cell.appliance_nodes"], cell)
            own = next((n for n in view["nodes"] if n["name"] == view["node"]), None) if view else None
            node = f"node {own['status']}, {own['health']}" if own else "no database node" if view else "node unknown"
            version = answers["vcd_cell.version"].get(cell, "unknown")
            role = roles.get(cell, "unknown role")
            report[cell]["state"] = f"{role}, vCD {version} installed, service {service}, {node}"


ROUTE = ApplianceRoute()
