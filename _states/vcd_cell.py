"""
States for the safe maintenance of a VMware Cloud Director cell.

The execution module :py:mod:`vcd_cell <saltext.vcd_cell.modules.vcd_cell>` does the work; these
states decide whether and in which order, so that a cell is never shut down while it reports jobs or
an active scheduler.

.. code-block:: yaml

    cell drained for the upgrade:
      vcd_cell.drained:
        - timeout: 3600
        - on_timeout: fail
        - maintenance_message: true

    cell back in service:
      vcd_cell.active:
        - health_timeout: 600
"""

import contextlib
import logging
import time

from salt.exceptions import CommandExecutionError, SaltInvocationError

# Defaults shared with the execution module and the runners, from _utils (on the import path while
# Salt's loader loads this file).
import _vcd_cell_defaults as defaults
import _vcd_cell_events as events
import _vcd_cell_upgrade as upgrades
import _vcd_cell_values as valid
import _vcd_cell_window as cell_windows

log = logging.getLogger(__name__)

__virtualname__ = "vcd_cell"

ON_TIMEOUT_POLICIES = ("fail", "abort", "cancel")


def __virtual__():
    if "vcd_cell.status" not in __salt__:
        return (False, "The vcd_cell execution module is not available")
    return __virtualname__


@contextlib.contextmanager
def _errors_reported(ret):
    """
    Turn an error into a failed state whose comment says why: the module's own errors verbatim, an
    unforeseen one without its message. A state never lets a traceback out.
    """
    try:
        yield
    except (CommandExecutionError, SaltInvocationError) as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
    except Exception as exc:  # pylint: disable=broad-except
        _unexpected(ret, exc)


@contextlib.contextmanager
def _window_respected(force, doing):
    """
    What runs inside, refused first (before anything is read or touched) on a cell another run's live
    window holds, unless ``force`` (logged): then every function it calls acts for that window.
    """
    valid.flag("force", force)
    forced_past = __salt__["vcd_cell.window_guard"](doing=doing, force=force)
    with cell_windows.acting_for(forced_past):
        yield


def _unexpected(ret, exc):
    """
    An error the module did not foresee: its message may quote anything, the password included, so
    neither the return nor the log repeats it; the type and place are enough to find it.
    """
    where = exc.__traceback__
    while where.tb_next is not None:
        where = where.tb_next
    place = f"{where.tb_frame.f_code.co_filename}:{where.tb_lineno}"
    log.error("vcd_cell: unexpected %s at %s", type(exc).__name__, place)
    ret["result"] = False
    ret["comment"] = f"Unexpected {type(exc).__name__} at {place} (its message is withheld: it may hold a secret)"


def _check_drained_arguments(timeout, interval, maintenance_message, on_timeout, cancel_grace, lease):
    valid.drain_wait(timeout, interval)
    valid.flag("maintenance_message", maintenance_message)
    valid.choice("on_timeout", on_timeout, ON_TIMEOUT_POLICIES)
    valid.seconds("cancel_grace", cancel_grace)
    if lease != 0:
        valid.seconds("lease", lease)
        if lease <= interval:
            raise SaltInvocationError(f"lease ({lease}) must be 0 (no lease) or longer than interval ({interval})")


def _reconnect_through(vcenter_reconnect):
    """The address a stopped cell's vCenters are reconnected through (None: not asked)."""
    if not valid.flag("vcenter_reconnect", vcenter_reconnect):
        return None
    url = __salt__["config.get"]("vcd_cell:group_api_url")
    if not url:
        raise SaltInvocationError(
            "vcenter_reconnect needs vcd_cell:group_api_url: the server group's address (its load balancer), "
            "which reaches a serving cell once this one is stopped"
        )
    return url


def _proxies_moved(ret, proxies, group_api_url):
    """Name the VC proxies the stopped cell ran; with ``group_api_url``, reconnect each such vCenter there."""
    if not proxies:
        return
    names = [vcenter["name"] for vcenter in proxies]
    ret["changes"]["vcenter_proxies"] = names
    ret["comment"] += f"; it ran the VC proxies of {', '.join(names)}"
    if not group_api_url:
        return
    moved = {}
    for vcenter in proxies:
        try:
            after = __salt__["vcd_cell.reconnect_vcenter"](vcenter["id"], api_url=group_api_url)
            moved[vcenter["name"]] = f"proxy moved to {after.get('proxy')}"
        except CommandExecutionError as exc:
            moved[vcenter["name"]] = f"not reconnected ({exc}): the heartbeat failover will move it"
    ret["changes"]["vcenters"] = moved
    ret["comment"] += ", reconnected through the server group"


def _blocking(wait):
    """What still holds the drain, for a person: the tasks when the REST API named them."""
    if wait.get("tasks"):
        return f"{len(wait['tasks'])} task(s) still run: {__salt__['vcd_cell.describe_tasks'](wait['tasks'])}"
    reading = wait.get("status") or {}
    if reading:
        scheduler = "active" if reading.get("active") else "inactive"
        return f"the tool reports {reading.get('job_count')} job(s) and an {scheduler} scheduler"
    return "jobs still run (set vcd_cell:api_url to see which)"


def _message_is_on():
    """Whether a stopped cell shows the maintenance message; None when no health URL tells."""
    try:
        return __salt__["vcd_cell.health"]()["maintenance_message"]
    except CommandExecutionError:
        return None


def _stopped_cell(ret, maintenance_message, lease):
    """
    The cell is already stopped: at most its quiesce lease and the maintenance message are left to do.
    """
    ret["result"] = True
    ret["comment"] = "The cell is already stopped"
    # A quiesce does not outlive the service: a lease taken before the cell stopped (orch.vcd_upgrade's
    # quiesce step, then a crash) guards nothing any more, and left held it would fail the upgrade's verify.
    if lease and not __opts__["test"] and __salt__["vcd_cell.release_lease"]():
        ret["comment"] += "; the quiesce lease taken before it stopped is ended"
        ret["changes"]["lease_released"] = True
    if not maintenance_message or _message_is_on():
        return ret
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] += "; its maintenance message would be turned on"
        ret["changes"]["maintenance_message"] = True
        return ret
    __salt__["vcd_cell.maintenance_message"](True)
    ret["comment"] += "; its maintenance message is now on"
    ret["changes"]["maintenance_message"] = True
    return ret


def _after_timeout(ret, wait, timeout, on_timeout, cancel_grace, interval, lease):
    """
    Apply ``on_timeout`` when the cell did not drain in time. Returns the wait result that lets the
    shutdown go ahead, or None when the state has failed (the comment says why and how the cell is left).
    """
    blocking = _blocking(wait)
    left_quiesced = "It is left quiesced and running" + (
        f" (its quiesce lease puts it back in service in {lease}s unless the drain is re-applied)" if lease else ""
    )
    if on_timeout == "fail":
        ret["comment"] = (
            f"The cell did not drain within {timeout}s: {blocking}. {left_quiesced}: "
            "re-apply to keep waiting, or apply vcd.active to put it back in service"
        )
        return None
    if on_timeout == "abort":
        __salt__["vcd_cell.unquiesce"]()
        if lease:
            __salt__["vcd_cell.release_lease"]()
        ret["changes"].pop("quiesced", None)
        ret["comment"] = f"The cell did not drain within {timeout}s: {blocking}. Aborted: the cell is active again"
        return None
    cancelled = __salt__["vcd_cell.cancel_tasks"]()
    ret["changes"]["cancelled"] = cancelled["cancelled"]
    after = __salt__["vcd_cell.wait_drained"](
        timeout=cancel_grace, interval=min(interval, cancel_grace), lease=lease, shutdown=True
    )
    if not after["drained"]:
        ret["comment"] = (
            f"The cell did not drain within {timeout}s and {cancel_grace}s after cancelling "
            f"{len(cancelled['cancelled'])} task(s): {_blocking(after)}"
            + (f"; cancels refused: {cancelled['failed']}" if cancelled["failed"] else "")
            + f". Not shut down. {left_quiesced}"
        )
        return None
    return after


def _drain(ret, timeout, interval, maintenance_message, on_timeout, cancel_grace, lease, vcenter_reconnect):
    """:func:`drained`'s work, filling ``ret``; its arguments checked."""
    group_api_url = _reconnect_through(vcenter_reconnect)
    __salt__["vcd_cell.claim"]()
    if not __salt__["vcd_cell.is_running"]():
        _stopped_cell(ret, maintenance_message, lease)
        return
    # A quiesce of this host's still in force (its lease held: orch.vcd_upgrade's quiesce step, a
    # re-applied drain) needs no reading first: the drain reads the cell at once and, finding it
    # drained, shuts it down on that very reading.
    under_lease = __salt__["vcd_cell.lease"]()["held"]
    before = None
    if __opts__["test"] or not under_lease:
        # Read before anything is touched: a tool that cannot report the status (an output it does not
        # know, a hang) stops the drain here, and a scheduler already quiesced is not quiesced again.
        before = __salt__["vcd_cell.status"]()
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = (
            f"The cell would be quiesced, drained of its {before['job_count']} running job(s) within "
            f"{timeout}s (on timeout: {on_timeout}) and shut down"
            + ("; then its maintenance message would be turned on" if maintenance_message else "")
        )
        ret["changes"] = {"quiesced": True, "stopped": True}
        if maintenance_message:
            ret["changes"]["maintenance_message"] = True
        return
    started = time.monotonic()
    quiesced = under_lease or before.get("quiesced") is True or not before["active"]
    wait = __salt__["vcd_cell.drain"](
        timeout=timeout, interval=interval, lease=lease, shutdown=True, quiesce=not quiesced
    )
    ret["changes"]["quiesced"] = True
    jobs = before["job_count"] if before else wait["jobs_at_start"] or 0
    if not wait["drained"]:
        wait = _after_timeout(ret, wait, timeout, on_timeout, cancel_grace, interval, lease)
        if wait is None:
            return
    if lease:
        __salt__["vcd_cell.release_lease"]()
    if __salt__["vcd_cell.is_running"]():
        ret["comment"] = "The cell was told to shut down but its service still runs"
        return
    ret["changes"]["stopped"] = True
    ret["changes"]["jobs"] = jobs
    ret["changes"]["drain_seconds"] = round(time.monotonic() - started, 1)
    ret["comment"] = f"The cell was drained of {jobs} job(s) and shut down"
    _proxies_moved(ret, wait.get("vcenter_proxies"), group_api_url)
    if maintenance_message:
        __salt__["vcd_cell.maintenance_message"](True)
        ret["changes"]["maintenance_message"] = True
        ret["comment"] += "; its maintenance message is on"
    ret["result"] = True


def drained(
    name,
    timeout=defaults.DRAIN["timeout"],
    interval=defaults.DRAIN["interval"],
    maintenance_message=defaults.DRAIN["maintenance_message"],
    on_timeout=defaults.DRAIN["on_timeout"],
    cancel_grace=defaults.DRAIN["cancel_grace"],
    lease=defaults.DRAIN["lease"],
    vcenter_reconnect=defaults.DRAIN["vcenter_reconnect"],
    force=defaults.DRAIN["force"],
):
    """
    Ensure the cell is shut down with no job lost: read its status, quiesce it (unless it is quiesced
    already), wait until the tool reports 0 jobs and an inactive scheduler, shut down on that reading,
    verify it stopped, and turn the maintenance message on if asked. Under a quiesce lease of this host's
    (a quiesce still in force), the drain reads the cell at once instead, and that reading, if it finds
    the cell drained, is the one it shuts down on.

    name
        A label for this state; the cell is the minion's own.

    timeout
        Seconds to wait for the running jobs to end.

    interval
        Seconds between status polls of the tool when the REST API is not configured.

    maintenance_message
        Turn the stopped cell's maintenance message on (``vmware-vcd-cell maintenance``).

    on_timeout
        What to do when jobs still run at the deadline:

        - ``fail``: fail, leaving the cell quiesced (the comment names the blocking tasks);
        - ``abort``: unquiesce the cell and fail;
        - ``cancel``: cancel the remaining tasks through the REST API, wait up to ``cancel_grace`` seconds
          for them to end, then shut down; fail without shutting down if any remain.

    cancel_grace
        Seconds to wait for cancelled tasks to end (``on_timeout: cancel``).

    lease
        Seconds. Before quiescing, a keeper process on the cell host is set to unquiesce the cell once
        this lease runs out; the drain renews it while it waits and ends it once the cell is shut down
        (or unquiesced by ``abort``). So when the run dies (job or minion killed, ``salt-call`` or its ssh
        session killed, with or without a master), the cell does not stay quiesced forever. After
        ``on_timeout: fail`` the cell stays quiesced for one more lease, then returns to service unless
        the drain is re-applied. 0 turns the lease off.

    vcenter_reconnect
        The drain names the vCenters whose VC proxy (listener) runs on this cell (their work stalls once
        it stops, until vCD's heartbeat failover moves the proxy, 5 minutes by default). With this, once
        the cell is stopped, each is reconnected through ``vcd_cell:group_api_url`` (the server group's
        address, which reaches a serving cell), moving its proxy at once. A failed reconnect is reported
        in ``changes``; the state still succeeds.

    force
        Drain a cell that another run's live window (an orchestration) holds: refused otherwise, naming
        that run, touching nothing. Logged as such; the drain itself is as safe as ever (no shutdown while
        jobs run).

    Only one drain of a cell runs at a time: a second one fails at once, naming the first, and touches
    nothing.

    Progress is sent to the master's event bus as ``vcd/cell/<minion id>/drain`` while waiting.

    .. code-block:: yaml

        drain cell:
          vcd_cell.drained:
            - timeout: 1800
            - on_timeout: cancel
            - cancel_grace: 120
    """
    ret = {"name": name, "result": False, "comment": "", "changes": {}}
    with _errors_reported(ret):
        _check_drained_arguments(timeout, interval, maintenance_message, on_timeout, cancel_grace, lease)
        with _window_respected(force, "draining"):
            _drain(ret, timeout, interval, maintenance_message, on_timeout, cancel_grace, lease, vcenter_reconnect)
    events.to_log(__opts__, f"vcd/cell/{__opts__.get('id')}/drained", ret)
    return ret


def quiesced(name):
    """
    Ensure the cell's task scheduler is quiesced: no new job starts on it, running jobs go on.

    The tool cannot tell a quiesced scheduler that still has jobs from an active one on versions where
    ``Is Active`` stays true until the last job ends: then the quiesce is issued again (it is harmless).

    .. code-block:: yaml

        no new jobs on this cell:
          vcd_cell.quiesced
    """
    ret = {"name": name, "result": False, "comment": "", "changes": {}}
    with _errors_reported(ret):
        before = __salt__["vcd_cell.status"]()
        if not before["active"]:
            ret["result"] = True
            ret["comment"] = "The cell's scheduler is already quiesced"
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = "The cell's scheduler would be quiesced"
            ret["changes"] = {"quiesced": True}
            return ret
        __salt__["vcd_cell.quiesce"]()
        ret["result"] = True
        ret["comment"] = f"The cell's scheduler is quiesced; {before['job_count']} job(s) were running"
        ret["changes"] = {"quiesced": True}
    return ret


def _bring_up(ret, health_timeout):
    """Maintenance message off, service started, health answering; fills ``ret['changes']``."""
    if _message_is_on():
        __salt__["vcd_cell.maintenance_message"](False)
        ret["changes"]["maintenance_message"] = False
    if not __salt__["vcd_cell.start"]():
        raise CommandExecutionError("vmware-vcd-cell start returned but the cell's service does not run")
    ret["changes"]["started"] = True
    if not __salt__["vcd_cell.wait_serving"](timeout=health_timeout):
        raise CommandExecutionError(f"The cell started but did not serve within {health_timeout}s")


def _activate(ret, health_timeout):
    """:func:`active`'s work, filling ``ret``."""
    running = __salt__["vcd_cell.is_running"]()
    if __opts__["test"] and not running:
        ret["result"] = None
        ret["comment"] = "The cell would be started and its scheduler left active"
        ret["changes"] = {"started": True}
        return
    if not running:
        _bring_up(ret, health_timeout)
    elif not __salt__["vcd_cell.wait_serving"](timeout=health_timeout):
        raise CommandExecutionError(f"The cell's service runs but it did not serve within {health_timeout}s")
    reading = __salt__["vcd_cell.status"]()
    # The cells API says whether the cell is quiesced (vCD 10.5.1). The tool does not: an inactive
    # scheduler is quiesced for sure, and with jobs running "active" may hide a quiesce.
    quiesced = reading.get("quiesced")
    must_unquiesce = quiesced if quiesced is not None else not reading["active"]
    may_be_quiesced = quiesced is None and reading["active"] and reading["job_count"] > 0
    if __opts__["test"] and (must_unquiesce or reading["maintenance"]):
        ret["result"] = None
        ret["comment"] = "The cell's scheduler would be unquiesced and its maintenance mode turned off"
        ret["changes"] = {"unquiesced": must_unquiesce, "maintenance_mode": False}
        return
    if reading["maintenance"]:
        __salt__["vcd_cell.maintenance_mode"](False)
        ret["changes"]["maintenance_mode"] = False
    if (must_unquiesce or may_be_quiesced) and not __opts__["test"]:
        __salt__["vcd_cell.unquiesce"]()
        if must_unquiesce:
            ret["changes"]["unquiesced"] = True
    if not __opts__["test"]:
        __salt__["vcd_cell.release_lease"]()
    ret["result"] = True
    ret["comment"] = (
        "The cell serves with an active scheduler"
        if not ret["changes"]
        else ("The cell was brought back into service: " + ", ".join(sorted(ret["changes"])))
    )


def active(name, health_timeout=defaults.ACTIVE["health_timeout"], force=defaults.ACTIVE["force"]):
    """
    Ensure the cell serves: maintenance message off, service started, health check answering, task
    scheduler not quiesced and the running cell's maintenance mode off.

    health_timeout
        Seconds to wait for a started cell to serve.

    force
        Bring back a cell that another run's live window (an orchestration) holds: refused otherwise,
        naming that run, touching nothing (an upgrade's stopped cell started against the old database
        would not serve). Logged as such.

    .. code-block:: yaml

        cell back in service:
          vcd_cell.active:
            - health_timeout: 900
    """
    ret = {"name": name, "result": False, "comment": "", "changes": {}}
    with _errors_reported(ret):
        valid.seconds("health_timeout", health_timeout)
        with _window_respected(force, "bringing back"):
            _activate(ret, health_timeout)
    return ret


def installed(name, version, installer=None, **kwargs):  # pylint: disable=unused-argument
    """
    Ensure the cell's vCD software is ``version``: run the installer (``installer``, by default
    ``vcd_cell:installer``) on the stopped cell, answering its questions (yes to the upgrade, no to the
    database upgrade and to starting the service: those come once every cell of the server group is
    upgraded); on an appliance, ``vamicli update`` from ``vcd_cell:update_repo``, which must offer
    ``version``. A running cell is refused: drain it first (``vcd.drained``). Changes nothing when the
    version is already installed.

    name
        A label for this state; the cell is the minion's own.

    version
        The version as ``vcd_cell.version`` prints it once installed (``10.6.0`` also matches the
        ``10.6.0.24000000`` an appliance prints).

    installer
        The installer's path on the cell host.

    kwargs
        Not the state's: ``state.single`` hands its own keywords (``pillar``) on to the state, and the
        upgrade's install step passes the plan's ``cell_pillar`` so.

    .. code-block:: yaml

        vcd software upgraded:
          vcd_cell.installed:
            - version: 10.6.0
            - installer: /root/vmware-vcloud-director-distribution-10.6.0-24000000.bin
    """
    ret = {"name": name, "result": False, "comment": "", "changes": {}}
    with _errors_reported(ret):
        valid.text("version", version, "the version to install, as text")
        before = __salt__["vcd_cell.version"]()
        if upgrades.same_version(version, before):
            ret["result"] = True
            ret["comment"] = f"vCD {version} is already installed"
            return ret
        if __salt__["vcd_cell.is_running"]():
            raise CommandExecutionError(
                f"The cell runs vCD {before} and is running: drain it first (vcd.drained), then install {version}"
            )
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"vCD {before} would be upgraded to {version}"
            ret["changes"] = {"version": {"old": before, "new": version}}
            return ret
        after = __salt__["vcd_cell.install"](installer=installer, version=version)["version"]
        ret["changes"] = {"version": {"old": before, "new": after}}
        if not upgrades.same_version(version, after):
            raise CommandExecutionError(
                f"The installer ran, but the cell reports vCD {after}, not {version}: check the installer's version"
            )
        ret["result"] = True
        ret["comment"] = f"vCD {before} was upgraded to {version}"
    return ret


def call(name, arg=None, kwarg=None):
    """
    Call the execution function ``name`` (one of ``vcd_cell.*``) inside a state run and return what it
    returned, in ``changes`` under ``return``; its error fails the state, with the error as the comment.

    For salt-ssh: there, an execution function called on its own gets no pillar (a limitation of
    salt-ssh), so the module would find none of its ``vcd_cell:`` settings; a state run gets the
    target's pillar, shipped to the host in a file, never on a command line. The orchestrations call
    the cells this way when their ``ssh`` key is true. In test mode nothing is called.

    arg
        The function's positional arguments, a list.

    kwarg
        Its keyword arguments, a dictionary.

    CLI Example:

    .. code-block:: bash

        salt-ssh cell1 state.single vcd_cell.call name=vcd_cell.tasks
        salt-ssh cell1 state.single vcd_cell.call name=vcd_cell.drain kwarg='{"timeout": 1800}'
    """
    ret = {"name": name, "result": False, "comment": "", "changes": {}}
    if not isinstance(name, str) or not name.startswith("vcd_cell.") or name not in __salt__:
        ret["comment"] = f"{name!r} is not a function of the vcd_cell execution module"
        return ret
    if arg is not None and not isinstance(arg, list):
        ret["comment"] = f"arg must be a list of {name}'s positional arguments, not {arg!r}"
        return ret
    if kwarg is not None and not isinstance(kwarg, dict):
        ret["comment"] = f"kwarg must be a dictionary of {name}'s keyword arguments, not {kwarg!r}"
        return ret
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"{name} would be called"
        return ret
    with _errors_reported(ret):
        ret["changes"] = {"return": __salt__[name](*(arg or []), **(kwarg or {}))}
        ret["result"] = True
        ret["comment"] = f"{name} was called"
    return ret
