"""
The embedded database cluster of a vCD appliance group, through the appliance's management API
(port 5480): the cluster, its failover mode, a planned switchover, the primary's backup.

Part of the ``vcd_cell`` execution module: Salt's loader puts the functions of every file whose
``__virtualname__`` is ``vcd_cell`` under that one name. The settings are those of
:py:mod:`vcd_cell <saltext.vcd_cell.modules.vcd_cell>`.
"""

import types

from salt.exceptions import CommandExecutionError, SaltInvocationError

try:
    # The machinery, in _utils (see the vcd_cell module).
    import _vcd_cell_appliance as appliances
    import _vcd_cell_errors as errors
    import _vcd_cell_settings as config
    import _vcd_cell_vamicli as vamicli
    import _vcd_cell_window as cell_windows
except ImportError as exc:  # pragma: no cover - __virtual__ says what is missing
    MISSING = exc.name
    # The module does not load then (see __virtual__); its functions are defined as they are.
    errors = types.SimpleNamespace(at_the_edge=lambda function: function)
else:
    MISSING = None

__virtualname__ = "vcd_cell"


def __virtual__():
    if MISSING:
        return (False, f"vcd_cell cannot import {MISSING}: sync the utils too (saltutil.sync_all)")
    return __virtualname__


def _settings():
    return config.read(__salt__, __opts__)


@errors.at_the_edge
def appliance_nodes():
    """
    The appliance's embedded database cluster, as its management API reports it
    (``GET /api/1.0.0/nodes``): ``failover`` (MANUAL, AUTOMATIC or INDETERMINATE), ``health`` (HEALTHY,
    DEGRADED...), ``warnings``, ``nodes`` (each ``name``, ``role``, ``health``, ``status``,
    ``upstream``), ``primaries``, and this appliance's ``node`` and ``role`` (PRIMARY, STANDBY, or CELL
    for a cell-type appliance, which holds no database).

    CLI Example:

    .. code-block:: bash

        salt 'appliance*' vcd_cell.appliance_nodes
    """
    with appliances.ApplianceApi(_settings()) as api:
        return api.nodes()


@errors.at_the_edge
def failover_mode(mode=None):
    """
    The database cluster's failover mode: read it, or set it to ``manual`` or ``automatic`` and wait for
    the appliance's task. Not applicable on a cell-type appliance. VMware's upgrade procedure sets it
    to manual for the whole upgrade: with automatic failover, a primary rebooted or upgraded can be
    replaced by a promoted standby.

    CLI Example:

    .. code-block:: bash

        salt 'appliance1*' vcd_cell.failover_mode
        salt 'appliance1*' vcd_cell.failover_mode manual
    """
    with appliances.ApplianceApi(_settings()) as api:
        if mode is None:
            return {"failover": api.nodes()["failover"], "changed": False}
        mode = appliances.check_mode(mode)
        before = api.nodes()["failover"]
        if before == mode.upper():
            return {"failover": before, "changed": False}
        api.set_failover(mode)
        return {"failover": api.nodes()["failover"], "previous": before, "changed": True}


@errors.at_the_edge
def switchover(node, window=None, force_window=False):
    """
    Make the standby appliance ``node`` (its name in the database cluster) the primary, through this
    appliance's management API (``POST /api/1.0.0/nodes/{node}/switchover``): refused unless the cluster
    is HEALTHY; waits for the appliance's task, then until the cluster is HEALTHY again with ``node`` its
    primary. The database is unavailable meanwhile (30 to 60 s on real appliances) and a cell that is not
    quiesced fails the tasks it runs: quiesce every cell of the group first, as VMware says. Returns the
    primary before and after.

    window, force_window
        Refused on a cell another run's live window holds (:py:func:`window`), unless ``window`` is that
        run's id (or ``vcd_cell:window`` in the pillar) or ``force_window=True`` (logged).

    CLI Example:

    .. code-block:: bash

        salt 'appliance1*' vcd_cell.switchover appliance2
    """
    if not isinstance(node, str) or not node:
        raise SaltInvocationError(f"node must be the name of a standby node of the cluster, not {node!r}")
    settings = _settings()
    cell_windows.guard(settings, window, force_window, "switching the database over from")
    with appliances.ApplianceApi(settings) as api:
        cluster = api.switchover(node)
    return {"previous": cluster["before"]["primaries"], "primary": cluster["after"]["primaries"][0]}


@errors.at_the_edge
def backup_database(window=None, force_window=False):
    """
    Back up the embedded database with ``vcd_cell:backup_command`` (``create-backup.sh``), on the
    primary appliance only. Returns where the backup went (``path``, when the script says) and what it
    said.

    window, force_window
        Refused on a cell another run's live window holds (:py:func:`window`), unless ``window`` is that
        run's id (or ``vcd_cell:window`` in the pillar) or ``force_window=True`` (logged).

    CLI Example:

    .. code-block:: bash

        salt 'appliance1*' vcd_cell.backup_database
    """
    settings = _settings()
    cell_windows.guard(settings, window, force_window, "backing up the database of")
    with appliances.ApplianceApi(settings) as api:
        role = api.nodes()["role"]
    if role != "PRIMARY":
        raise CommandExecutionError(
            f"This appliance ({settings.appliance_node}) is the {role.lower()}, not the primary: the backup runs "
            "on the primary"
        )
    return vamicli.create_backup(settings)
