"""
The vCenter proxies of a rollout (``vcd_rolling`` with ``vcenter_reconnect``): each registered vCenter
has its VC proxy (listener) on one cell, and when that cell stops, vCenter work of the whole group stalls
until the heartbeat failover moves the proxy (5 minutes by default). Before a batch drains, the proxies
its cells run are read; once they are stopped, each such vCenter is reconnected through a serving cell's
API, which moves its proxy there at once. A reconnect that fails is reported and the rollout goes on: the
heartbeat failover still moves the proxy.
"""

import _vcd_orchestration as orchestration

# Seconds a vCenter reconnect's task may take.
RECONNECT_TIMEOUT = 300


def read(batch, plan):
    """Which vCenters' proxies the batch's cells run, kept for :func:`reconnect`; never fails the rollout."""
    answers = plan.cells.call(batch, "vcd_cell.vcenters")
    hosted = plan.found.proxies
    for cell in batch:
        answer = answers.get(cell)
        if isinstance(answer, list):
            hosted[cell] = [v for v in answer if isinstance(v, dict) and v.get("here")]
        else:
            hosted[cell] = []
            plan.report[cell]["vcenters"] = (
                f"not read: {orchestration.answered(answers, [cell], 'vcd_cell.vcenters')[cell]}"
            )
    return dict.fromkeys(batch)


def reconnect(batch, plan):
    """Each vCenter whose proxy ran on the (now stopped) batch reconnected through a serving cell."""
    hosted = {cell: plan.found.proxies.get(cell, []) for cell in batch}
    if not any(hosted.values()):
        return dict.fromkeys(batch)
    others = [cell for cell in plan.order if cell not in batch]
    serving = plan.cells.serving(others)
    for cell, vcenters in hosted.items():
        moved = {}
        for vcenter in vcenters:
            if not serving:
                moved[vcenter["name"]] = "not reconnected: no other cell serves; the heartbeat failover will move it"
                continue
            answer = plan.cells.call(
                serving[:1], "vcd_cell.reconnect_vcenter", arg=[vcenter["id"]], kwarg={"timeout": RECONNECT_TIMEOUT}
            )
            why = orchestration.answered(answer, serving[:1], "vcd_cell.reconnect_vcenter")[serving[0]]
            moved[vcenter["name"]] = (
                f"reconnect through {serving[0]} failed ({why}); the heartbeat failover will move it"
                if why
                else f"proxy moved to {answer[serving[0]].get('proxy')}"
            )
        if moved:
            plan.report[cell]["vcenters"] = moved
            plan.fire(f"{cell}/vcenters", {"rollout": plan.id, "cell": cell, "vcenters": moved})
    return dict.fromkeys(batch)
