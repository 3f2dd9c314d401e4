"""
The cell's host: its reboot (an appliance or a Linux install), and the kernel's boot id that tells
it came back.

Part of the ``vcd_cell`` execution module: Salt's loader puts the functions of every file whose
``__virtualname__`` is ``vcd_cell`` under that one name. The settings are those of
:py:mod:`vcd_cell <saltext.vcd_cell.modules.vcd_cell>`.
"""

import types

try:
    # The machinery, in _utils (see the vcd_cell module).
    import _vcd_cell_appliance as appliances
    import _vcd_cell_errors as errors
    import _vcd_cell_host as host
    import _vcd_cell_settings as config
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
def reboot(window=None, force_window=False):
    """
    Reboot the cell's host (an appliance, or a Linux install) with ``vcd_cell:reboot_command`` (default
    ``shutdown -r now``). Returns at once: the command starts, detached, once the process that called
    this function has ended, so this return reaches the master before the host goes down (wait for a
    new ``vcd_cell.boot_id``). Refuses while the cell runs (drain it first: ``vcd.drained``), on the
    primary appliance while failover is Automatic, and on another appliance while the primary is not
    running.

    window, force_window
        Refused on a cell another run's live window holds (:py:func:`window`), unless ``window`` is that
        run's id (or ``vcd_cell:window`` in the pillar) or ``force_window=True`` (logged).

    CLI Example:

    .. code-block:: bash

        salt 'appliance1*' vcd_cell.reboot
    """
    settings = _settings()
    cell_windows.guard(settings, window, force_window, "rebooting the host of")
    if __salt__["vcd_cell.is_running"]():
        raise errors.CellRunning("The cell is running: drain and shut it down before rebooting (vcd.drained)")
    if settings.appliance:
        appliances.check_safe(settings, "rebooting", needs_primary=True)
    return host.reboot_later(settings)


@errors.at_the_edge
def boot_id():
    """
    The host kernel's boot id (``vcd_cell:boot_id_command``, by default ``cat
    /proc/sys/kernel/random/boot_id``): new at each boot, so a changed one says the host rebooted.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.boot_id
    """
    return host.read_boot_id(_settings())
