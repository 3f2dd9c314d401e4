"""
A vCD appliance's host tools: ``vamicli`` (the installed version; the update from a repository, checked
against the version asked before anything is installed), the database backup script of the primary,
and the reboot, which starts once the calling process has ended (its return sent).
"""

import os
import re
import subprocess

from salt.exceptions import CommandExecutionError

import _vcd_cell_tools as tools
from _vcd_cell_upgrade import same_version

DOTTED_VERSION = re.compile(r"\d+(?:\.\d+)+")
# What vamicli says when the repository holds nothing newer; its wording is undocumented.
NO_UPDATE = re.compile(r"no (available )?updates?|up[ -]to[ -]date", re.IGNORECASE)
BACKUP_FILE = re.compile(r"(/[^\s'\"]+\.(?:tgz|tar\.gz|tar|gz|zip|bak|dump|sql))\b")
# The reboot command starts once the process that asked for it has ended: a minion's job process ends
# once it has sent the function's return (and salt-call once it has printed it), so the return is out
# before the host goes down. A process that lives on (a threaded minion) is waited for at most this long.
REBOOT_WAIT_SECONDS = 10
REBOOT_POLL_SECONDS = 0.05
# $0: the process waited for, $1: how many polls at most, then the command.
LAUNCHER = 'i=0; while kill -0 "$0" 2>/dev/null && [ "$i" -lt "$1" ]; do sleep 0.05; i=$((i+1)); done; shift; exec "$@"'


def _vamicli(settings, *args, timeout=None):
    argv = [settings.vamicli, *args]
    path = tools.require_executable(settings.vamicli, "vamicli")
    result = tools.run_command(settings, [path, *args], "vamicli", timeout=timeout)
    said = (result["stdout"] + "\n" + result["stderr"]).strip()
    if result["retcode"] != 0:
        raise CommandExecutionError(f"{' '.join(argv)} failed (exit {result['retcode']}): {said or 'no output'}")
    return said


def read_version(settings):
    """The appliance's vCD version: the first dotted version ``vamicli version --appliance`` prints."""
    said = _vamicli(settings, "version", "--appliance")
    match = DOTTED_VERSION.search(said)
    if not match:
        raise CommandExecutionError(f"{settings.vamicli} version --appliance printed no version: {said!r}")
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
        raise CommandExecutionError(
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
        raise CommandExecutionError(f"{' '.join(argv)} failed (exit {result['retcode']}): {said or 'no output'}")
    files = BACKUP_FILE.findall(said)
    return {"path": files[-1] if files else None, "output": said}


def reboot_later(settings):
    """
    Start ``reboot_command`` detached from this process, to run once this process has ended (at most
    :data:`REBOOT_WAIT_SECONDS` from now): it outlives the minion's job, and the minion, which the reboot
    takes down.
    """
    argv = settings.reboot_command
    path = tools.require_executable(argv[0], "reboot_command")
    polls = str(int(REBOOT_WAIT_SECONDS / REBOOT_POLL_SECONDS))
    with open(os.devnull, "rb") as stdin, open(os.devnull, "wb") as devnull:
        subprocess.Popen(  # noqa: S603 - an argument list; the shell runs only the fixed launcher
            ["/bin/sh", "-c", LAUNCHER, str(os.getpid()), polls, path, *argv[1:]],
            stdin=stdin,
            stdout=devnull,
            stderr=devnull,
            start_new_session=True,
            close_fds=True,
        )
    return {"rebooting": True, "command": argv, "after": "this function's return"}
