"""
The window's claim on this cell: which orchestration run holds the cell now, and the functions an
orchestration claims, renews and releases it with (see the docs' "Safety guarantees": one window at a
time). The claim is a file beside the quiesce lease, so every way Salt reaches the host sees it.

Part of the ``vcd_cell`` execution module: Salt's loader puts the functions of every file whose
``__virtualname__`` is ``vcd_cell`` under that one name. The settings are those of
:py:mod:`vcd_cell <saltext.vcd_cell.modules.vcd_cell>`.
"""

import types

from salt.exceptions import SaltInvocationError

try:
    # The machinery, in _utils (see the vcd_cell module).
    import _vcd_cell_errors as errors
    import _vcd_cell_settings as config
    import _vcd_cell_window as cell_windows
except ImportError as exc:  # pragma: no cover - __virtual__ says what is missing
    MISSING = exc.name
    # The module does not load then (see __virtual__); its functions are defined as they are.
    errors = types.SimpleNamespace(at_the_edge=lambda function: function)
else:
    MISSING = None

__virtualname__ = "vcd_cell"
# What a claim must name (the orchestrations make it: _vcd_window.claim_of).
CLAIM_KEYS = ("run", "orchestration", "plan")


def __virtual__():
    if MISSING:
        return (False, f"vcd_cell cannot import {MISSING}: sync the utils too (saltutil.sync_all)")
    return __virtualname__


def _lease_settings():
    return config.lease_only(__salt__, __opts__)


def _run_id(run):
    if not isinstance(run, str) or not run:
        raise SaltInvocationError(f"run must be a run's id, as text (salt-run vcd_report.list names runs), not {run!r}")
    return run


@errors.at_the_edge
def window():
    """
    Which orchestration run holds this cell: ``held``, the ``claim`` (the run's id, its orchestration and
    plan, the master or salt-ssh host and user it runs from, since when), whether that run is ``alive``
    and ``why`` (its process, its heartbeat, or that it ended without finishing its window), and ``age``,
    the seconds since its heartbeat by this host's clock.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.window
    """
    return cell_windows.report(_lease_settings())


@errors.at_the_edge
def window_claim(claim, takeover=None):
    """
    Claim this cell for an orchestration run (the orchestrations call it, before they read or touch
    anything): ``taken``, and the claim it replaced (``previous``), or, when another run's claim is there,
    ``holder`` (``{"claim", "age"}``) for the orchestration to judge. ``takeover``: the id of a dead run
    of the same plan, whose claim is replaced.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.window_claim claim='{"run": "w3fa2c81b", "orchestration": "vcd_upgrade", "plan": "full"}'
    """
    if not isinstance(claim, dict) or not all(isinstance(claim.get(key), str) and claim[key] for key in CLAIM_KEYS):
        raise SaltInvocationError(f"claim must be a run's claim, a dictionary naming its {', '.join(CLAIM_KEYS)}")
    if takeover is not None:
        _run_id(takeover)
    return cell_windows.take(_lease_settings(), claim, takeover=takeover)


@errors.at_the_edge
def window_renew(run):
    """
    The heartbeat of run ``run``'s window on this cell (its orchestration calls it from a thread while it
    runs, through the minions): whether that run still holds the cell.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.window_renew run=w3fa2c81b
    """
    return cell_windows.renew(_lease_settings(), _run_id(run))


@errors.at_the_edge
def window_release(run, keep=False):
    """
    End run ``run``'s claim on this cell: removed, or with ``keep=True`` marked ended (the run returned
    with its window unfinished). Returns whether that run held the cell. By hand, release a dead run's
    claim with ``salt-run vcd_upgrade.release`` or ``vcd_rolling.release``, which judge it first.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.window_release run=w3fa2c81b
    """
    return cell_windows.release(_lease_settings(), _run_id(run), keep=bool(keep))


@errors.at_the_edge
def window_guard(doing="changing", force=False):
    """
    Refuse ``doing`` (words naming what a caller is about to do) on a cell that another run's live window
    holds, naming that run; the states ``vcd_cell.drained`` and ``vcd_cell.active`` call it before they
    read or touch anything. Passes on a cell no live window holds, in that window's own state runs
    (``vcd_cell:window`` in their pillar) and with ``force=True`` (logged). Returns the run forced past,
    else None.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.window_guard doing="patching"
    """
    if not isinstance(doing, str) or not doing:
        raise SaltInvocationError("doing must say what is about to be done, as text")
    return cell_windows.guard(_lease_settings(), force=bool(force), doing=doing)
