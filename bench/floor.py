"""
What no procedure can avoid, read off the fake cells' timelines: the floor the orchestrations' overhead
is measured from.

A drain, done by anyone, is the quiesce's tool run, the jobs still running once it took effect, one
reading that confirms 0 jobs and an inactive scheduler, and the shutdown's tool run: three tool starts
(two where the cells API quiesces) and the jobs. A start is the time from ``start`` until the cell serves.
"""

# Seconds cell-management-tool takes to start on the benchmarks' cells, like a JVM.
TOOL_START = 1.5


def times(cell, kind):
    return [e["t"] for e in cell.events() if e["event"] == kind]


def drain(cell, tool_start, quiesce_by_tool=True):
    """
    Seconds the drain of ``cell`` cannot go under, with a tool that takes ``tool_start`` s to start; on a
    cell whose cells API quiesces it (vCD 10.5.1), the quiesce needs no tool start.
    """
    quiesced = times(cell, "quiesce")[0]
    jobs = max([0.0] + [end - quiesced for end in times(cell, "job_end")])
    return (3 if quiesce_by_tool else 2) * tool_start + jobs


def start(cell):
    """Seconds the cell's last start took to serve."""
    return times(cell, "serving")[-1] - times(cell, "start")[-1]
