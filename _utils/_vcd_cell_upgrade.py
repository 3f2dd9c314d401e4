"""
The upgrade tools of a Linux cell: the command that prints the installed vCD version, the installer
(``vmware-vcloud-director-distribution-*.bin``) and the database upgrade utility (``upgrade``), whose
yes/no questions are answered by their meaning on a pseudo-terminal.
"""

import os
import re

import _vcd_cell_errors as errors
import _vcd_cell_tools as tools

INSTALLER_ANSWERS = (
    # Order matters: the last question mentions the database upgrade, the first only the upgrade.
    (r"database|upgrade (tool|utility)", "n"),
    (r"\bstart\b", "n"),
    (r"upgrade|continue|proceed|install", "y"),
)
BACKUP_QUESTION = r"back(ed)?[ -]?up"


def same_version(asked, found):
    """
    Whether ``found`` is the version ``asked``: equal, or ``asked`` with more dotted parts after it
    (vamicli and the API print the build too: ``10.6.0.24000000`` is ``10.6.0``).
    """
    if not asked or not found:
        return False
    asked_parts, found_parts = str(asked).split("."), str(found).split(".")
    return found_parts[: len(asked_parts)] == asked_parts


def read_version(settings):
    """The first non-empty line ``version_command`` prints; an error quoting it when there is none."""
    return tools.first_line(settings, settings.version_command, "version_command", "the installed vCD version")


def run_installer(settings, path):
    """Run the installer at ``path`` to its end; the questions it asked, with their answers."""
    run = tools.Dialogue(settings, [path], os.path.basename(path), INSTALLER_ANSWERS)
    run.finish(settings.install_timeout)
    return run.asked


def upgrade_database(settings, backup_completed):
    """
    Run the database upgrade utility once. Yes to the upgrade; yes to the backup question only with
    ``backup_completed`` (then ``--backup-completed`` skips it); never yes to continuing while other
    cells are active. Returns whether the schema was upgraded and the questions answered.
    """
    path = tools.require_executable(settings.upgrade_tool, "upgrade_tool")
    active = []

    def refuse_active(question):
        active.append(question)
        return "n"

    def backup(question):
        return "y" if backup_completed else "n"

    rules = (
        (BACKUP_QUESTION, backup),
        (r"active|still running|running cells?", refuse_active),
        (r"\bstart\b", "n"),
        (r"upgrade|continue|proceed", "y"),
    )
    argv = [path, "--backup-completed"] if backup_completed else [path]
    run = tools.Dialogue(settings, argv, "upgrade", rules)
    try:
        output = run.finish(settings.db_upgrade_timeout)
    except errors.ToolError:
        if active:
            raise errors.CellRunning(
                f"The database was not upgraded: cells of the server group still run ({active[0]}). "
                "Stop every cell first"
            ) from None
        if any(q["answer"] == "n" and re.search(BACKUP_QUESTION, q["question"], re.I) for q in run.asked):
            raise errors.ToolError(
                "The database was not upgraded: the utility asks for a database backup; make one, then pass "
                "backup_completed=True"
            ) from None
        raise
    if "complete" in output.lower():
        return {"upgraded": True, "questions": run.asked}
    if re.search(r"already|nothing to upgrade", output, re.IGNORECASE):
        return {"upgraded": False, "questions": run.asked}
    raise errors.ToolError(f"upgrade ended without saying the database upgrade completed: {run.shown_output()}")
