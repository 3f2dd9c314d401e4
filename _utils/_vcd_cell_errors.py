"""
What goes wrong on a cell, as one family of exceptions: the cell-side machinery (``_vcd_cell_*``) raises
these, a caller catches them by kind, never by their words, and the execution module turns them into
Salt's ``CommandExecutionError`` at its edge (:func:`at_the_edge`), which Salt reports as the function's
failure with the message as it is ("ERROR: ...", return code 1). Each message says what was wrong and
what to do; none holds a secret.

Bad input (an argument or a setting of the wrong kind) is not a failure of the cell: it stays Salt's
``SaltInvocationError``, raised by the validators (``_vcd_cell_values``, ``_vcd_cell_settings``).
"""

import functools

from salt.exceptions import CommandExecutionError, SaltException


class CellError(SaltException):
    """Something on the cell, or in reaching it, went wrong: the base of every kind below."""


class NotConfigured(CellError):
    """The call needs a setting the cell's ``vcd_cell`` configuration does not have."""


class ToolError(CellError):
    """A tool of the cell (cell-management-tool, vmware-vcd-cell, the installer, ...) is missing, could not
    start, failed or printed what it should not."""


class ToolTimeout(ToolError):
    """A tool did not finish within its time limit and was killed."""


class StatusUnreadable(ToolError):
    """The cell's status (``cell-management-tool cell --status``) printed something that cannot be read."""


class ApiError(CellError):
    """The cell's vCD REST API (or its cells API) did not answer, answered an error, or its task failed."""


class CredentialsRefused(ApiError):
    """The vCD API refused the administrator's credentials: asking again cannot help."""


class ApplianceError(CellError):
    """The appliance's management API (port 5480) did not answer, answered an error, or its task failed."""


class ClusterUnsafe(CellError):
    """What was asked is unsafe, or impossible, for the appliances' database cluster as it is now (the
    primary taken down with failover automatic, another node with no primary running, a switchover to a
    node that is not a standby or in a cluster that is not healthy): refused, nothing done."""


class PackageMissing(CellError):
    """The installer or update package of the version asked for is not where the cell's settings say."""


class CellRunning(CellError):
    """What was asked needs a stopped cell, and the cell runs."""


class QuiesceFailed(CellError):
    """The cell could not be quiesced, or a drain that had quiesced it could not go on (the lease's keeper
    restores the cell then)."""


class AnotherDrain(CellError):
    """Another drain of the cell runs (a salt-call, a minion's job or a salt-ssh run): nothing was touched."""


class WindowHeld(CellError):
    """Another run's live window (an orchestration) holds the cell: what was asked would work against it,
    and was refused, touching nothing."""


class LeaseError(CellError):
    """The quiesce lease could not be guarded (its keeper would not start), or it ended while the drain
    waited."""


class JobsLost(CellError):
    """The cell stopped during a drain, before it was drained: its running jobs were lost."""


def at_the_edge(function):
    """
    ``function`` (an execution function), its :class:`CellError` turned into ``CommandExecutionError``
    with the same message, the cause kept (``raise ... from``) for whoever reads the minion's log.
    """

    @functools.wraps(function)
    def called(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except CellError as exc:
            raise CommandExecutionError(str(exc)) from exc

    return called
