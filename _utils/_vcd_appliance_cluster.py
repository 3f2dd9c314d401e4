"""
What the master-side orchestrations read of an appliance group's embedded database cluster, through the
cells' minions: the cluster as one appliance answered it, what is wrong with it, and its failover mode
set through a database node: Manual while database nodes go down, set back once the plan is done or
fails, what it was found kept in the plan's record (``failover_before``, and ``failover_changed`` while
the plan has it Manual), so that a run that could not set it back leaves the next run to.
"""

import _vcd_orchestration as orchestration

# An appliance the cluster does not hold: a cell-type one.
CELL_ROLE = "CELL"


def nodes_of(answers, cell):
    """The cluster as ``cell`` answered it, or None."""
    view = answers.get(cell)
    return view if isinstance(view, dict) and "nodes" in view else None


def problems(view, planned_nodes=None, failover=True):
    """
    What is wrong with the cluster ``view`` for taking database nodes down: an empty list when nothing is.
    ``planned_nodes``: the database nodes the plan's appliances hold (None: unknown, not compared).
    ``failover``: False where the plan has set the failover mode itself (its mode is then not judged).
    """
    problems = []
    if len(view["primaries"]) != 1:
        problems.append(f"the cluster has {len(view['primaries'])} primaries ({', '.join(view['primaries'])}), not one")
    if view["health"] != "HEALTHY":
        problems.append(f"the cluster is {view['health']}, not HEALTHY ({'; '.join(view['warnings']) or 'no reason'})")
    down = [
        f"{node['name']} ({node['status']}, {node['health']})" for node in view["nodes"] if node["status"] != "running"
    ]
    if down:
        problems.append(f"database node(s) not running: {', '.join(down)}")
    if failover and view["failover"] not in ("MANUAL", "AUTOMATIC"):
        problems.append(f"the failover mode is {view['failover']}")
    listed = sorted(node["name"] for node in view["nodes"])
    if planned_nodes is not None and listed != sorted(planned_nodes):
        problems.append(
            f"the database cluster's nodes ({', '.join(listed) or 'none'}) and the planned primary and standby "
            f"appliances ({', '.join(sorted(planned_nodes)) or 'none'}) differ: plan the whole server group"
        )
    return problems


def node_lacking(view, role, expected_role=None):
    """
    None when the appliance whose cluster ``view`` this is (its ``role`` as planned) has its database
    node running and healthy (as ``expected_role``, when given), else what it lacks.
    """
    if view is None:
        return "its minion or appliance API does not answer yet"
    if role == CELL_ROLE:
        return None
    own = next((node for node in view["nodes"] if node["name"] == view["node"]), None)
    if own is None:
        return "its database node is not in the cluster"
    if own["status"] != "running" or own["health"] != "HEALTHY":
        return f"its database node is {own['status']}, {own['health']}"
    if expected_role and own["role"] != expected_role:
        return f"its node came back as {own['role']}, not {expected_role}"
    return None


def database_nodes(roles, primary=None):
    """The appliances that hold a database node (``roles``: ``{cell: role}``), ``primary`` first."""
    nodes = [cell for cell, role in roles.items() if role != CELL_ROLE]
    return sorted(nodes, key=lambda cell: cell != primary)


def failover_manual(calls, cell, record):
    """
    Failover Manual, set through ``cell`` (a database node), when the plan found it Automatic, and
    recorded as changed by the plan. None, or why it failed.
    """
    if record.data["failover_before"] != "AUTOMATIC":
        return None
    why = set_failover(calls, cell, "manual")
    if why is None and not record.data.get("failover_changed"):
        record.data["failover_changed"] = True
        record.save()
    return why


def restore_failover(calls, record, nodes):
    """
    The failover mode back to what the plan found, if the plan changed it, through the first of ``nodes``
    (database nodes) whose appliance API sets it: one that is down (a failed reboot) gives way to the
    next. None, or why it failed on each.
    """
    if not record.data.get("failover_changed"):
        return None
    failures = []
    for cell in nodes:
        why = set_failover(calls, cell, record.data["failover_before"].lower())
        if why is None:
            record.data["failover_changed"] = False
            record.save()
            return None
        failures.append(f"{cell}: {why}")
    return "; ".join(failures)


def set_failover(calls, cell, mode):
    """The failover mode set to ``mode`` through ``cell``'s minion (a database node); None, or why it failed."""
    answer = calls.call([cell], "vcd_cell.failover_mode", arg=[mode])
    why = orchestration.answered(answer, [cell], "vcd_cell.failover_mode")[cell]
    if why is None and answer[cell].get("failover") != mode.upper():
        why = f"the failover mode is {answer[cell].get('failover')} after setting it {mode}"
    return why
