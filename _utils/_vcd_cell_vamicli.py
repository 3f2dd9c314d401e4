"""
A vCD appliance's own tools: ``vamicli`` (the installed version; the update from a repository, checked
against the version asked before anything is installed) and the database backup script of the primary.
"""

import re

import _vcd_cell_errors as errors
import _vcd_cell_tools as tools
from _vcd_cell_upgrade import same_version

DOTTED_VERSION = re.compile(r"\d+(?:\.\d+)+")
# What vamicli says when the repository holds nothing newer; its wording is undocumented.
NO_UPDATE = re.compile(r"no (available )?updates?|up[ -]to[ -]date", re.IGNORECASE)
BACKUP_FILE = re.compile(r"(/[^\s'\"]+\.(?:tgz|tar\.gz|tar|gz|zip|bak|dump|sql))\b")


def _vamicli(settings, *args, timeout=None):
    argv = [settings.vamicli, *args]
    path = tools.require_executable(settings.vamicli, "vamicli")
    result = tools.run_command(settings, [path, *args], "vamicli", timeout=timeout)
    said = (result["stdout"] + "\n" + result["stderr"]).strip()
    if result["retcode"] != 0:
        raise errors.ToolError(f"{' '.join(argv)} failed (exit {result['retcode']}): {said or 'no output'}")
    return said


def read_version(settings):
    """The appliance's vCD version: the first dotted version ``vamicli version --appliance`` prints."""
    said = _vamicli(settings, "version", "--appliance")
    match = DOTTED_VERSION.search(said)
    if not match:
        raise errors.ToolError(f"{settings.vamicli} version --appliance printed no version: {said!r}")
    return match.group(0)


def offered(check_output):
    """The versions ``vamicli update --check`` offers (none when it says there is no update)."""
    if NO_UPDATE.search(check_output):
        return []
    return DOTTED_VERSION.findall(check_output)


def install_update(settings, version):
    """
    The update of ``version`` from ``update_repo``: the repository set, the update it offers checked
    to be ``version`` (else nothing is installed), then installed with the EULA accepted. Returns what
    vamicli said.
    """
    _vamicli(settings, "update", "--repo", settings.update_repo)
    check = _vamicli(settings, "update", "--check")
    versions = offered(check)
    if not any(same_version(version, found) for found in versions):
        what = f"offers {', '.join(versions)}" if versions else "offers no update"
        raise errors.PackageMissing(
            f"The update repository {settings.update_repo} {what}, not vCD {version}: nothing was installed. "
            "Extract the update package of that version there (vcd_cell:update_repo)"
        )
    said = _vamicli(settings, "update", "--install", "latest", "--accepteula", timeout=settings.install_timeout)
    return {"check": check, "install": said}


def create_backup(settings):
    """Run ``backup_command`` (``create-backup.sh``); where the backup went, and what it said."""
    argv = settings.backup_command
    path = tools.require_executable(argv[0], "backup_command")
    result = tools.run_command(settings, [path, *argv[1:]], "backup_command", timeout=settings.db_upgrade_timeout)
    said = (result["stdout"] + "\n" + result["stderr"]).strip()
    if result["retcode"] != 0:
        raise errors.ToolError(f"{' '.join(argv)} failed (exit {result['retcode']}): {said or 'no output'}")
    files = BACKUP_FILE.findall(said)
    return {"path": files[-1] if files else None, "output": said}
