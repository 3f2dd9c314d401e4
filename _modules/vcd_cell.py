"""
Talk to a VMware Cloud Director (vCD) cell: its ``cell-management-tool``, its ``vmware-vcd-cell``
script and the vCD REST API for tasks and health.

:depends: requests

:configuration: Read with ``config.get`` (minion config, grains, pillar), every key under ``vcd_cell:``.
    Keep the password in pillar.

    .. code-block:: yaml

        vcd_cell:
          cmt_path: /opt/vmware/vcloud-director/bin/cell-management-tool
          cell_script: /opt/vmware/vcloud-director/bin/vmware-vcd-cell
          # The command printing the cell's process id, for ``auth: pid``.
          pid_command: [/opt/vmware/vcloud-director/bin/vmware-vcd-cell, pid]
          username: administrator
          password: the-system-administrator-password
          # password (answer the tool's prompt) or pid (root on the cell host, no password);
          # default: password when one is configured, else pid.
          auth: password
          # The REST API of this cell; without it, waiting polls the tool and tasks cannot be
          # listed or cancelled.
          api_url: https://cell1.example.com
          api_verify: true            # or the path of a CA bundle
          api_version: "38.1"         # by default the newest the cell lists in GET /api/versions
          cli_timeout: 300            # seconds any one run of a tool may take
          cell_name: cell1            # the cell's name in vCD task records; default: the minion id
          # The server group's address (its load balancer), which reaches a serving cell once this one
          # is stopped: vcd_cell.drained's vcenter_reconnect goes through it.
          group_api_url: https://vcd.example.com
          event_interval: 5           # seconds between drain progress events
          # Upgrades: the installer's path on the cell, the database upgrade utility, the command that
          # prints the installed version (a string or a list), and their time limits.
          installer: /root/vmware-vcloud-director-distribution-10.6.0-24000000.bin
          upgrade_tool: /opt/vmware/vcloud-director/bin/upgrade
          version_command: rpm -q --queryformat %{VERSION} vmware-vcloud-director-distribution
          install_timeout: 3600
          db_upgrade_timeout: 7200
          # A vCD appliance: its management API (its presence makes the cell an appliance), root's
          # password there, the node's name in the database cluster (default: cell_name), and the
          # host's tools. version and install then go through vamicli.
          appliance_api_url: https://cell1.example.com:5480
          appliance_user: root
          appliance_password: the-appliance-root-password
          appliance_verify: true      # or the path of a CA bundle
          appliance_node: cell1
          vamicli: vamicli
          update_repo: file:///tmp/local-update-package
          backup_command: /opt/vmware/appliance/bin/create-backup.sh
          reboot_command: shutdown -r now
          boot_id_command: cat /proc/sys/kernel/random/boot_id     # new at each boot

The administrator password never goes on an argument list (``ps`` shows those to every user): with
``auth: password`` the module answers the tool's ``Password:`` prompt through a pseudo-terminal. Nor
does it (or the appliance's root password) appear in a log line, a return value, an event or an error
message.
"""

import collections
import logging
import time
import types

from salt.exceptions import CommandExecutionError, SaltInvocationError

try:
    # The machinery, in _utils beside the modules: Salt's loader puts that directory on the import path
    # while it loads this file (synced from file_roots, or shipped by salt-ssh); installed, the
    # package's entry point does (saltext/vcd_cell/loader.py).
    import _vcd_cell_api as rest
    import _vcd_cell_appliance as appliances
    import _vcd_cell_defaults as defaults
    import _vcd_cell_drain as draining
    import _vcd_cell_errors as errors
    import _vcd_cell_lease as leases
    import _vcd_cell_settings as config
    import _vcd_cell_tools as tools
    import _vcd_cell_upgrade as upgrades
    import _vcd_cell_values as valid
    import _vcd_cell_vamicli as vamicli
    import _vcd_cell_window as cell_windows
except ImportError as exc:  # pragma: no cover - __virtual__ says what is missing
    MISSING = exc.name
    # The module does not load then (see __virtual__); its functions are defined as they are.
    errors = types.SimpleNamespace(at_the_edge=lambda function: function)
    # The module does not load then; the signatures below still need values.
    DRAIN = ACTIVE = collections.defaultdict(type(None))
else:
    MISSING = None
    DRAIN, ACTIVE = defaults.DRAIN, defaults.ACTIVE

log = logging.getLogger(__name__)

__virtualname__ = "vcd_cell"


def __virtual__():
    if MISSING:
        return (
            False,
            f"The vcd_cell module cannot import {MISSING}: sync the utils too (saltutil.sync_all, not only "
            "sync_modules), or install the saltext-vcd-cell package",
        )
    return __virtualname__


def _settings():
    return config.read(__salt__, __opts__)


# -- public functions ------------------------------------------------------------------------------


@errors.at_the_edge
def status(source="auto"):
    """
    The cell's job count, whether its task scheduler is active, and its maintenance mode flag (``None``
    on versions whose tool does not report it).

    source
        ``auto`` (default): through the REST API where the cell can say (vCD 10.5.1, API 38.1: its state
        and its tasks, no tool start; the reading then also says whether it is ``quiesced``), else from
        ``cell-management-tool cell --status``. ``tool`` or ``api``: only that way.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.status
        salt 'cell1*' vcd_cell.status source=tool
    """
    valid.choice("source", source, ("auto", "tool", "api"))
    settings = _settings()
    if source != "tool":
        with rest.cell_states(settings) as (api, record):
            if record is not None:
                return rest.reading_from_api(record, api.running_tasks())
        if source == "api":
            raise CommandExecutionError(
                "The cell's state cannot be read through the REST API: that needs vcd_cell:api_url, the "
                "administrator's credentials and vCD 10.5.1 (API 38.1) or later"
            )
    return tools.read_status(settings)


@errors.at_the_edge
def parse_status(output):
    """
    Parse the fields of ``cell --status`` from ``output``, whatever the layout.

    Accepts two or three fields, one per line or all on one line, CRLF line ends and unrelated lines
    (JVM or log noise) around them. Raises CommandExecutionError quoting the output when a field is
    missing, repeated with different values, or malformed.

    CLI Example:

    .. code-block:: bash

        salt '*' vcd_cell.parse_status 'Job count = 3 Is Active = true'
    """
    return tools.parse_status(output)


@errors.at_the_edge
def quiesce(timeout=None, lease=0, window=None, force_window=False):
    """
    Stop the cell's task scheduler (``cell --quiesce true``): no new job starts on this cell, running
    jobs go on.

    On vCD 10.5.1 (API 38.1) with ``api_url`` set, the cells API does it (no tool start). Newer tools,
    and the API's quiesce task, finish only once no job is left. This waits up to ``timeout`` seconds
    (default ``vcd_cell:cli_timeout``); if jobs still run then, the cell stays quiesced and ``finished``
    is false. Use :py:func:`drain` to quiesce and wait with progress reports.

    lease
        Seconds: arrange the quiesce lease first, as :py:func:`drain` does, so the cell does not stay
        quiesced forever if nothing drains it afterwards (a drain renews the lease). 0: no lease.

    window, force_window
        Refused on a cell another run's live window holds (:py:func:`window`), unless ``window`` is that
        run's id (or ``vcd_cell:window`` in the pillar) or ``force_window=True`` (logged).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.quiesce
        salt 'cell*' vcd_cell.quiesce timeout=30 lease=900
    """
    valid.lease(lease)
    settings = _settings()
    cell_windows.guard(settings, window, force_window, "quiescing")
    limit = valid.seconds("timeout", timeout) if timeout is not None else settings.cli_timeout
    leases.claim_cell(settings)
    with leases.leased(settings, lease), leases.quiescing():
        finished = rest.set_state_through_api(settings, "QUIESCED", limit)
        if finished is not None:
            return {"quiesced": True, "finished": finished, "via": "api"}
        run = tools.ToolRun(settings, ["--quiesce", "true"])
        if not run.wait(limit):
            run.kill()
            return {"quiesced": True, "finished": False, "via": "tool"}
        run.result()
        return {"quiesced": True, "finished": True, "via": "tool"}


@errors.at_the_edge
def unquiesce(window=None, force_window=False):
    """
    Start the cell's task scheduler again: through the cells API on vCD 10.5.1 (API 38.1, status
    ACTIVE), else ``cell --quiesce false``.

    window, force_window
        Refused on a cell another run's live window holds (:py:func:`window`), unless ``window`` is that
        run's id (or ``vcd_cell:window`` in the pillar) or ``force_window=True`` (logged).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.unquiesce
    """
    settings = _settings()
    cell_windows.guard(settings, window, force_window, "unquiescing")
    if rest.set_state_through_api(settings, "ACTIVE", settings.cli_timeout) is None:
        tools.cell_tool(settings, "--quiesce", "false")
    return True


@errors.at_the_edge
def maintenance_mode(enabled=True, window=None, force_window=False):
    """
    Turn a running cell's maintenance mode on or off (``cell --maintenance true|false``, vCD 8.10 on).
    Not the maintenance message of a stopped cell: see :py:func:`maintenance_message`.

    On vCD 10.5.1 (API 38.1) with ``api_url`` set, the cells API does it: status MAINTENANCE, or ACTIVE
    to turn it off (which also starts a quiesced scheduler again: the API has no state for both).

    window, force_window
        Refused on a cell another run's live window holds (:py:func:`window`), unless ``window`` is that
        run's id (or ``vcd_cell:window`` in the pillar) or ``force_window=True`` (logged).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.maintenance_mode enabled=False
    """
    valid.flag("enabled", enabled)
    settings = _settings()
    cell_windows.guard(settings, window, force_window, "changing the maintenance mode of")
    if rest.set_state_through_api(settings, "MAINTENANCE" if enabled else "ACTIVE", settings.cli_timeout) is None:
        tools.cell_tool(settings, "--maintenance", "true" if enabled else "false")
    return True


@errors.at_the_edge
def shutdown(force=False, window=None, force_window=False):
    """
    Shut the cell down (``cell --shutdown``), after checking again that the tool reports 0 jobs and an
    inactive scheduler. Refuses otherwise, unless ``force=True``: then running jobs fail.

    window, force_window
        Refused on a cell another run's live window holds (:py:func:`window`), unless ``window`` is that
        run's id (or ``vcd_cell:window`` in the pillar) or ``force_window=True`` (logged).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.shutdown
    """
    valid.flag("force", force)
    settings = _settings()
    cell_windows.guard(settings, window, force_window, "shutting down")
    before = None
    if not force:
        before = tools.read_status(settings)
        if not draining.drained(before):
            raise CommandExecutionError(
                f"Refusing to shut the cell down: the tool reports {before['job_count']} job(s) and "
                f"{'an active' if before['active'] else 'an inactive'} scheduler. Drain it first "
                "(vcd_cell.drain), or pass force=True to let the running jobs fail"
            )
    tools.cell_tool(settings, "--shutdown")
    leases.mark_stopped(settings)
    return {"shutdown": True, "status_before": before}


@errors.at_the_edge
def is_running():
    """
    Whether the cell's service runs (``vmware-vcd-cell status``, LSB exit codes). A status that fails
    (an exit code saying neither, or "dead" without the script saying the cell is not running) is an
    error, never a stopped cell.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.is_running
    """
    return tools.service_runs(_settings())


@errors.at_the_edge
def start(window=None, force_window=False):
    """
    Start the cell's service (``vmware-vcd-cell start``). Returns whether it runs afterwards; it may take
    a while more to serve requests (see :py:func:`wait_serving`).

    window, force_window
        Refused on a cell another run's live window holds (:py:func:`window`), unless ``window`` is that
        run's id (or ``vcd_cell:window`` in the pillar) or ``force_window=True`` (logged).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.start
    """
    settings = _settings()
    cell_windows.guard(settings, window, force_window, "starting")
    tools.cell_script(settings, "start")
    leases.clear_stopped(settings)
    return is_running()


@errors.at_the_edge
def maintenance_message(enabled=True, window=None, force_window=False):
    """
    Turn the maintenance message of a stopped cell on (``vmware-vcd-cell maintenance``) or off
    (``vmware-vcd-cell stop``; the cell stays stopped). The real script needs the cell stopped first.

    window, force_window
        Refused on a cell another run's live window holds (:py:func:`window`), unless ``window`` is that
        run's id (or ``vcd_cell:window`` in the pillar) or ``force_window=True`` (logged).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.maintenance_message
        salt 'cell1*' vcd_cell.maintenance_message enabled=False
    """
    valid.flag("enabled", enabled)
    settings = _settings()
    cell_windows.guard(settings, window, force_window, "changing the maintenance message of")
    if enabled and is_running():
        raise errors.CellRunning("The maintenance message needs a stopped cell: shut the cell down first")
    tools.cell_script(settings, "maintenance" if enabled else "stop")
    return True


@errors.at_the_edge
def health():
    """
    What a load balancer sees: ``GET /cloud/server_status`` on ``vcd_cell:api_url``. Returns ``up``
    (answers "Service is up."), the HTTP status (``None`` when nothing answers), whether the cell
    shows the maintenance message, and the ``date`` its answer carries (its ``Date`` header: the cell's
    clock).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.health
    """
    return rest.health(_settings())


@errors.at_the_edge
def wait_serving(timeout=ACTIVE["health_timeout"], interval=None):
    """
    Wait until the cell serves: its health check answers when ``api_url`` is set, else the tool answers
    ``--status``. Returns True when it does within ``timeout`` seconds, False otherwise.

    ``interval`` defaults to a quarter second with the health check (a cheap HTTP request), 5 seconds
    with the tool (a JVM start each).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.wait_serving timeout=300
    """
    settings = _settings()
    if interval is None:
        interval = min(timeout, rest.HEALTH_POLL_SECONDS if settings.api_url else 5)
    valid.drain_wait(timeout, interval)
    deadline = time.monotonic() + timeout
    while True:
        if settings.api_url:
            serving = health()["up"]
        else:
            try:
                tools.read_status(settings)
                serving = True
            except errors.CellError as exc:
                log.debug("vcd_cell: not serving yet: %s", exc)
                serving = False
        if serving:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


@errors.at_the_edge
def tasks():
    """
    This cell's running tasks through the REST API: id, name, operation, owner, org, start and age.
    Tasks of other cells of the server group are left out.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.tasks
    """
    with rest.Api(_settings()) as api:
        return api.running_tasks()


@errors.at_the_edge
def describe_tasks(tasks):
    """
    One line naming each task: id, name, owner and age.

    CLI Example:

    .. code-block:: bash

        salt '*' vcd_cell.describe_tasks "$(salt --out json cell1 vcd_cell.tasks)"
    """
    return rest.describe_tasks(tasks)


@errors.at_the_edge
def cancel_tasks(ids=None, window=None, force_window=False):
    """
    Cancel tasks as a system administrator through the REST API: the given ids, or every task running
    on this cell. Returns the ids cancelled and, per id, why a cancel failed.

    window, force_window
        Refused on a cell another run's live window holds (:py:func:`window`), unless ``window`` is that
        run's id (or ``vcd_cell:window`` in the pillar) or ``force_window=True`` (logged).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.cancel_tasks
        salt 'cell1*' vcd_cell.cancel_tasks ids='[5c1f..., 77aa...]'
    """
    if ids is not None and (isinstance(ids, str) or not all(isinstance(i, str) and i for i in ids)):
        raise SaltInvocationError("ids must be a list of task ids")
    settings = _settings()
    cell_windows.guard(settings, window, force_window, "cancelling the tasks of")
    cancelled, failed = [], {}
    with rest.Api(settings) as api:
        targets = list(ids) if ids is not None else [t["id"] for t in api.running_tasks()]
        for task_id in targets:
            try:
                api.cancel(task_id)
                cancelled.append(task_id)
            except errors.CellError as exc:
                failed[task_id] = str(exc)
    return {"cancelled": cancelled, "failed": failed}


@errors.at_the_edge
def wait_drained(timeout=DRAIN["timeout"], interval=DRAIN["interval"], lease=0, shutdown=False):
    """
    Wait until the tool reports 0 jobs and an inactive scheduler, without quiescing. Polls the REST API
    when ``api_url`` is set and runs the tool only to confirm; else runs the tool every ``interval``.
    Sends progress events tagged ``vcd/cell/<minion id>/drain``.

    Returns ``drained``, the last ``status`` read from the tool, the blocking ``tasks`` (when the API is
    available), ``jobs_at_start`` (the first count of running jobs), the ``elapsed`` seconds and whether the
    cell was ``shut_down``. A cell that stops while
    waiting is an error naming the jobs it lost. ``lease``: renew the quiesce lease for that many seconds
    while waiting (see :py:func:`drain`). ``shutdown``: shut the cell down as soon as the tool reads it
    drained, on that reading (0 jobs and an inactive scheduler: no new job can start there).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.wait_drained timeout=600 interval=5
    """
    valid.drain_wait(timeout, interval)
    valid.lease(lease)
    valid.flag("shutdown", shutdown)
    return draining.wait(_settings(), timeout, interval, lease=lease, shutdown=shutdown)


@errors.at_the_edge
def drain(
    timeout=DRAIN["timeout"],
    interval=DRAIN["interval"],
    lease=0,
    shutdown=False,
    quiesce=True,
    window=None,
    force_window=False,
):
    """
    Quiesce the cell and wait until it is drained, as :py:func:`wait_drained` does; with ``shutdown``,
    shut it down on the tool's reading that confirmed it drained (by default it is left running).
    ``quiesce=False`` when the cell is known to be quiesced already (a quiesce of this host's, its lease
    still held): the drain then claims the cell, takes the lease and reads it at once, so that reading,
    if it finds the cell drained, is the one the shutdown goes ahead on; a reading that finds the
    scheduler active after all quiesces it then.

    Newer tools only return from ``--quiesce true`` once no job is left: then the tool's return is the
    signal and no other tool run is needed until then. At the deadline the tool is stopped; the cell
    stays quiesced.

    The drain claims the cell first (see :py:func:`claim`): a second drain of the same cell fails at once.

    lease
        Seconds. Before quiescing, a keeper process is started on the cell host that unquiesces the cell
        once the lease runs out; the drain renews the lease while it waits, and :py:func:`release_lease`
        ends it. So a cell is never left quiesced forever when the run that quiesced it dies, however
        Salt ran it (minion daemon, ``salt-call``, ``salt-call --local``). 0 (the default here): no lease.

    window, force_window
        Refused on a cell another run's live window holds (:py:func:`window`), unless ``window`` is that
        run's id (or ``vcd_cell:window`` in the pillar) or ``force_window=True`` (logged).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.drain timeout=1800 lease=600
        salt 'cell1*' vcd_cell.drain timeout=1800 shutdown=True
    """
    valid.drain_wait(timeout, interval)
    valid.lease(lease)
    valid.flag("shutdown", shutdown)
    valid.flag("quiesce", quiesce)
    settings = _settings()
    cell_windows.guard(settings, window, force_window, "draining")
    leases.claim_cell(settings)
    with leases.leased(settings, lease):
        how = "first" if quiesce else "if active"
        return draining.wait(settings, timeout, interval, quiesce=how, lease=lease, shutdown=shutdown)


@errors.at_the_edge
def claim():
    """
    Claim the cell for a drain by this process, until it ends or releases the lease: fails at once,
    naming the other run (its process id, how Salt runs it and since when), when another process on this
    host drains the cell, whether through the minion daemon, ``salt-call`` or ``salt-call --local``.
    :py:func:`drain` claims the cell itself; ``vcd_cell.drained`` claims it before it touches anything.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.claim
    """
    leases.claim_cell(config.lease_only(__salt__, __opts__))
    return True


@errors.at_the_edge
def release_lease():
    """
    End the quiesce lease: the cell drained and stopped, or was put back into service. Its keeper ends
    within a moment and never acts on it. Returns whether there was one.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.release_lease
    """
    return leases.release(config.lease_only(__salt__, __opts__))


@errors.at_the_edge
def lease():
    """
    The quiesce lease of this cell: whether one is ``held``, when it ``expires`` (UTC) and in how many
    ``seconds_left``, which drain took it, its ``keeper`` (the process that unquiesces the cell when the
    lease runs out) and whether that keeper is alive, and the ``drain`` running on this host now, if any.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.lease
    """
    return leases.report(config.lease_only(__salt__, __opts__))


# -- upgrades ----------------------------------------------------------------------------------------


@errors.at_the_edge
def version():
    """
    The vCD software installed on the cell host: the first non-empty line printed by
    ``vcd_cell:version_command`` (by default ``rpm -q --queryformat %{VERSION}
    vmware-vcloud-director-distribution``). On an appliance, the first dotted version ``<vamicli>
    version --appliance`` prints.

    CLI Example:

    .. code-block:: bash

        salt 'cell*' vcd_cell.version
    """
    settings = _settings()
    if settings.appliance:
        return vamicli.read_version(settings)
    return upgrades.read_version(settings)


@errors.at_the_edge
def install(installer=None, version=None, window=None, force_window=False):
    """
    Install vCD on this stopped cell. Refuses on a running cell.

    On a Linux cell: run the installer (``installer``, by default ``vcd_cell:installer``) on a
    pseudo-terminal, answering its questions by their meaning: yes to the upgrade; no to running the
    database upgrade now (it runs once, after every cell of the server group is upgraded) and to
    starting the service. A question it does not know stops the installer, and the error quotes it.

    On an appliance: ``<vamicli> update --repo <update_repo>``, ``update --check`` (the update offered
    must be ``version``, which is required there, else nothing is installed) and ``update --install
    latest --accepteula``. Refused on the primary while failover is Automatic. The appliance must be
    rebooted afterwards (``vcd_cell.reboot``).

    Returns the version installed afterwards, and the questions answered (Linux) or what vamicli said.

    window, force_window
        Refused on a cell another run's live window holds (:py:func:`window`), unless ``window`` is that
        run's id (or ``vcd_cell:window`` in the pillar) or ``force_window=True`` (logged).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.install installer=/root/vmware-vcloud-director-distribution-10.6.0-24000000.bin
        salt 'appliance1*' vcd_cell.install version=10.6.0
    """
    settings = _settings()
    cell_windows.guard(settings, window, force_window, "installing vCD on")
    if settings.appliance:
        if not isinstance(version, str) or not version:
            raise SaltInvocationError("On an appliance, pass version=: the version the update must carry")
        _refuse_running("installing")
        appliances.check_safe(settings, "installing")
        said = vamicli.install_update(settings, version)
        return {"version": vamicli.read_version(settings), "vamicli": said}
    path = installer or settings.installer
    if not path or not isinstance(path, str):
        raise SaltInvocationError("No installer given: pass installer=PATH or set vcd_cell:installer")
    path = tools.require_executable(path, "installer")
    _refuse_running("installing")
    questions = upgrades.run_installer(settings, path)
    return {"version": upgrades.read_version(settings), "questions": questions}


def _refuse_running(doing):
    if is_running():
        raise errors.CellRunning(f"The cell is running: drain and shut it down before {doing} (vcd.drained)")


@errors.at_the_edge
def upgrade_database(backup_completed=False, window=None, force_window=False):
    """
    Run the database upgrade utility (``vcd_cell:upgrade_tool``) once, from this upgraded cell, on a
    pseudo-terminal. Answers yes to the upgrade; yes to the backup question only with
    ``backup_completed=True`` (then ``--backup-completed`` is passed and the question is skipped); never
    yes to continuing while other cells are active: it fails naming them. Returns whether the schema was
    upgraded (``False`` when it already was at this cell's version) and the questions answered.

    window, force_window
        Refused on a cell another run's live window holds (:py:func:`window`), unless ``window`` is that
        run's id (or ``vcd_cell:window`` in the pillar) or ``force_window=True`` (logged).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.upgrade_database backup_completed=True
    """
    valid.flag("backup_completed", backup_completed)
    settings = _settings()
    cell_windows.guard(settings, window, force_window, "upgrading the database from")
    return upgrades.upgrade_database(settings, backup_completed)


@errors.at_the_edge
def cells():
    """
    The cells of this cell's server group as vCD lists them (every cell sharing the database), through
    the REST API: ``/cloudapi/1.0.0/cells``, else the legacy cell query. Each with ``name``, ``active``,
    ``version`` (its product version), ``status`` (API 38.1 on, else ``None``) and ``primary_ip``.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.cells
    """
    with rest.Api(_settings()) as api:
        return api.cells()
