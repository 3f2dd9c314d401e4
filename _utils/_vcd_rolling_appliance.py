"""
Rolling maintenance of a group of vCD appliances (``vcd_rolling`` on its appliance route): the order the
embedded database cluster needs, cell-type appliances first, then the standbys, the primary last; never
two database nodes in one batch, and none taken down unless the cluster is HEALTHY right then; the
failover mode Manual from the first database node taken down until the last is back (and when the
rollout fails); and before the primary goes down, a planned switchover to a healthy standby with every
cell of the group quiesced for its duration, so the old primary is maintained as a standby.
"""

from salt.exceptions import SaltInvocationError

import _vcd_appliance_cluster as cluster
import _vcd_orchestration as orchestration

# Within a role the plan's order is kept.
ROLE_ORDER = {cluster.CELL_ROLE: 0, "STANDBY": 1, "PRIMARY": 2}


def cluster_batches(calls, cells, batch, record):
    """
    The batches in the order the cluster needs, each cell's role and node, as the appliances answer
    right now; a SaltInvocationError, before anything is touched, when an appliance does not answer or
    the cluster is not HEALTHY with one primary. The failover mode found is kept in ``record`` (a re-run
    after a crash finds it Manual: the mode to restore is the first run's).
    """
    answers = calls.call(cells, "vcd_cell.appliance_nodes")
    errors = orchestration.answered(answers, cells, "vcd_cell.appliance_nodes")
    silent = [f"{cell}: {why}" for cell, why in errors.items() if why or cluster.nodes_of(answers, cell) is None]
    if silent:
        raise SaltInvocationError(f"the appliances' database cluster cannot be read: {'; '.join(silent)}")
    for cell in cells:
        problems = cluster.problems(answers[cell], failover=False)
        if problems:
            raise SaltInvocationError(
                f"the database cluster, as {cell} sees it: {'; '.join(problems)}. No database node goes down "
                "unless it is HEALTHY"
            )
    roles = {cell: answers[cell]["role"] for cell in cells}
    record.data.setdefault("failover_before", answers[cells[0]]["failover"])
    record.save()
    return ordered_batches(cells, batch, roles), roles, {cell: answers[cell]["node"] for cell in cells}


def ordered_batches(cells, batch, roles):
    """
    The batches in the order the cluster needs (``roles``: ``{cell: PRIMARY, STANDBY or CELL}``): the
    cell-type appliances ``batch`` at a time, then each database node alone, the standbys before the
    primary.
    """
    ordered = sorted(cells, key=lambda cell: ROLE_ORDER.get(roles[cell], 0))
    cell_type = [cell for cell in ordered if roles[cell] == cluster.CELL_ROLE]
    batches = [cell_type[i : i + batch] for i in range(0, len(cell_type), batch)]
    return batches + [[cell] for cell in ordered if roles[cell] != cluster.CELL_ROLE]


def healthy(batch, plan):
    """Asked live, right before a database node goes down: the cluster is HEALTHY with one primary."""
    (cell,) = batch
    answer = plan.cells.call([cell], "vcd_cell.appliance_nodes")
    view = cluster.nodes_of(answer, cell)
    if view is None:
        return {cell: orchestration.answered(answer, [cell], "vcd_cell.appliance_nodes")[cell] or str(answer)}
    problems = cluster.problems(view, failover=False)
    why = f"{'; '.join(problems)}: no database node goes down unless the cluster is HEALTHY" if problems else None
    return {cell: why}


def failover_manual(batch, plan):
    """Failover Manual before the first database node goes down, when it was Automatic (recorded)."""
    (cell,) = batch
    # Once for the whole rollout: it stays Manual from the first database node to the last.
    if plan.record.data.get("failover_changed"):
        return {cell: None}
    return {cell: cluster.failover_manual(plan.cells, cell, plan.record)}


def restore_failover(plan):
    """The failover mode back to what it was, if the rollout changed it: None, or why it failed."""
    roles = {cell: plan.roles[cell] for cell in plan.order}
    return cluster.restore_failover(plan.cells, plan.record, cluster.database_nodes(roles))


def _target(view, plan):
    """The standby to switch over to: a healthy one, one this rollout maintained first."""
    healthy_standbys = [
        node["name"]
        for node in view["nodes"]
        if node["role"] == "STANDBY" and node["health"] == "HEALTHY" and node["status"] == "running"
    ]
    maintained = [plan.nodes[cell] for cell in plan.order if plan.record.done(cell)]
    return next((node for node in healthy_standbys if node in maintained), next(iter(healthy_standbys), None))


def _quiesce_all(plan):
    """
    Every running cell of the plan quiesced, under a quiesce lease (its tasks survive the switchover, those
    of a cell not quiesced fail): (the cells quiesced, why not all were).
    """
    up, outcome = plan.cells.quiesce_running(plan.order, plan.lease)
    missed = [cell for cell in up if outcome[cell]]
    return up, (f"could not quiesce {', '.join(missed)}: no switchover" if missed else None)


def switchover(batch, plan):
    """
    Before the primary goes down: a switchover to a healthy standby, every running cell quiesced for its
    duration (under a quiesce lease) and unquiesced right after, the database then checked reachable.
    A re-run that finds the cell a standby already has nothing to do.
    """
    (cell,) = batch
    calls = plan.cells
    view = cluster.nodes_of(calls.call([cell], "vcd_cell.appliance_nodes"), cell)
    if view is None or view["role"] != "PRIMARY":
        return {cell: None if view is not None else "its appliance API does not answer"}
    target = _target(view, plan)
    if target is None:
        return {cell: "no healthy standby to switch over to: the primary is not taken down"}
    plan.fire("switchover/start", {"primary": view["node"], "to": target})
    quiesced, why = _quiesce_all(plan)
    if why is None:
        answer = calls.call([cell], "vcd_cell.switchover", arg=[target])
        why = orchestration.answered(answer, [cell], "vcd_cell.switchover")[cell]
    back = calls.call_each(quiesced, [("vcd_cell.unquiesce", (), None), ("vcd_cell.release_lease", (), None)])
    stuck = [other for other in quiesced if back["vcd_cell.unquiesce"].get(other) is not True]
    if stuck:
        why = (why + "; " if why else "") + f"unquiescing {', '.join(stuck)} failed: unquiesce them by hand"
    if why is None:
        # vCD lists its cells from the database: an answer proves the cells reach the new primary.
        listing = calls.call(quiesced[:1], "vcd_cell.cells")
        if quiesced and not isinstance(listing.get(quiesced[0]), list):
            why = f"the database is not reachable from {quiesced[0]} after the switchover: {listing.get(quiesced[0])}"
    plan.fire("switchover/finish", {"primary": target, "previous": view["node"], "result": why or "done"})
    return {cell: why}


def node_back(plan):
    """For :meth:`~_vcd_orchestration.Cells.reboot`: an appliance is back once its database node is healthy."""

    def back(cell, answers):
        view = cluster.nodes_of(answers["vcd_cell.appliance_nodes"], cell)
        return cluster.node_lacking(view, plan.roles[cell])

    back.calls = (("vcd_cell.appliance_nodes", (), None),)
    return back


def steps_for(batch, plan, common):
    """
    The steps of one batch: for a database node, the live cluster check and the failover mode first,
    and for the primary the switchover; then the ``common`` steps.
    """
    (first, *_) = batch
    role = plan.roles[first]
    if role == cluster.CELL_ROLE:
        return common
    steps = [("cluster", healthy), ("failover", failover_manual)]
    if role == "PRIMARY":
        steps.append(("switchover", switchover))
    return steps + common


class ApplianceRoute:
    """
    The rollout on vCD appliances, as the runner sees a route (see ``vcd_rolling``'s Linux route): the
    cluster's order, each batch's steps, when a rebooted appliance is back, the primary left alone with
    ``switchover: false``, and the failover mode set back.
    """

    name = "appliance"
    steps_for = staticmethod(steps_for)
    node_back = staticmethod(node_back)
    restore_failover = staticmethod(restore_failover)

    def order_batches(self, calls, cells, batch, record, batches):  # pylint: disable=unused-argument
        """The cluster's order (:func:`cluster_batches`), not the plan's ``batches``."""
        return cluster_batches(calls, cells, batch, record)

    def left_alone(self, plan, group):
        """With ``switchover: false`` the primary is not taken down."""
        return not plan.switchover and plan.roles[group[0]] == "PRIMARY"


ROUTE = ApplianceRoute()
