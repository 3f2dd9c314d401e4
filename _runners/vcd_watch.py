"""
Follow the orchestrations' runs live, from another shell while ``salt-run state.orchestrate`` (which
prints nothing until it ends) or a runner goes on: a line per run (the cells serving against the budget,
the outage so far) and one per cell (its step, the jobs still running against those at the quiesce as a
progress bar, the time in the step). On a terminal the lines are redrawn in place; into a file or a
pipe (a log, CI) a line is written each time what it says changes.

CLI Example:

.. code-block:: bash

    salt-run vcd_watch.follow
    salt-run vcd_watch.follow run=vcd_upgrade-full-20261207T055300Z
"""

import os
import sys
import time

try:
    import salt.utils.event

    import _vcd_orchestration_journal as journals
    import _vcd_watch as watch
except ImportError as exc:  # pragma: no cover - __virtual__ says what is missing
    MISSING = exc.name
else:
    MISSING = None

__virtualname__ = "vcd_watch"
DRAIN_TAG = "vcd/cell/"


def __virtual__():
    if MISSING:
        return (False, f"vcd_watch cannot import {MISSING}: sync the utils too (salt-run saltutil.sync_all)")
    return __virtualname__


def _bus(opts):
    """The master's event bus, listened to; None when no salt-master runs (salt-ssh needs none)."""
    if not os.path.exists(os.path.join(opts["sock_dir"], "master_event_pub.ipc")):
        return None
    return salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=True)


def _hear(bus, drains, seconds):
    """The cells' drain progress heard on the bus for ``seconds`` (a pause where there is no bus)."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        if bus is None:
            time.sleep(left)
            return
        event = bus.get_event(wait=left, tag=DRAIN_TAG, full=True)
        if event and event["tag"].endswith("/drain") and isinstance(event.get("data"), dict):
            cell = event["tag"][len(DRAIN_TAG) : -len("/drain")]
            # event.send on a minion wraps what the drain said, with the minion's id beside it.
            said = event["data"].get("data", event["data"])
            drains.heard(cell, said.get("job_count"), said.get("elapsed"))


def follow(run=None, timeout=7200, interval=1):
    """
    Show the runs of ``vcd_rolling.rollout`` and ``vcd_upgrade.upgrade`` as they go, until each run
    followed has ended (or ``timeout`` seconds have passed): ``run`` (a report's id as
    ``vcd_report.list`` gives it, or a plan's id) or, by default, every run going on now and each one
    that begins meanwhile. Returns each run followed with its result and report.

    run
        The run to follow; by default every run.

    timeout
        Seconds to follow for at most, the runs ended or not.

    interval
        Seconds between two looks at the runs.

    CLI Example:

    .. code-block:: bash

        salt-run vcd_watch.follow
        salt-run vcd_watch.follow run=full timeout=600
    """
    began = time.time()
    screen = watch.Screen(sys.stdout, sys.stdout.isatty())
    drains, following = watch.Drains(), []
    bus = _bus(__opts__)
    try:
        while True:
            begun = watch.followed(__opts__, run) + ([] if run else watch.followed(__opts__, since=began))
            following += [report_id for report_id in begun if report_id not in following]
            entries = {report_id: journals.entries(__opts__, report_id) for report_id in following}
            now = time.time()
            screen.show({rid: watch.lines(rid, written, drains, now) for rid, written in entries.items()})
            ended = following and all(watch.verdict(written) != "running" for written in entries.values())
            if ended or time.time() - began >= timeout:
                break
            _hear(bus, drains, interval)
    finally:
        if bus is not None:
            bus.destroy()
    return {
        report_id: {
            "result": watch.verdict(written),
            "report": journals.report_path(__opts__, report_id),
        }
        for report_id, written in entries.items()
    }
