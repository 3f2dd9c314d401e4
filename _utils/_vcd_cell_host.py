"""
The cell's host: its reboot, which starts once the calling process has ended (its return sent), and
the kernel's boot id, new at each boot, which tells a host that rebooted from one that has not gone down
yet.
"""

import os
import subprocess

import _vcd_cell_settings as config
import _vcd_cell_tools as tools

# The reboot command starts once the process that asked for it has ended: a minion's job process ends
# once it has sent the function's return (and salt-call once it has printed it), so the return is out
# before the host goes down. Over salt-ssh, salt-call's parent (salt-ssh's shim) is waited for: it
# passes the return on to the ssh connection that the reboot then ends. A process that lives on (a
# threaded minion) is waited for at most this long.
REBOOT_WAIT_SECONDS = 10
REBOOT_POLL_SECONDS = 0.05
# $0: the process waited for, $1: how many polls at most, then the command.
LAUNCHER = 'i=0; while kill -0 "$0" 2>/dev/null && [ "$i" -lt "$1" ]; do sleep 0.05; i=$((i+1)); done; shift; exec "$@"'


def read_boot_id(settings):
    """The first non-empty line ``boot_id_command`` prints (``/proc/sys/kernel/random/boot_id``)."""
    return tools.first_line(settings, settings.boot_id_command, "boot_id_command", "the host's boot id")


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
            ["/bin/sh", "-c", LAUNCHER, str(_caller(settings)), polls, path, *argv[1:]],
            stdin=stdin,
            stdout=devnull,
            stderr=devnull,
            start_new_session=True,
            close_fds=True,
        )
    return {"rebooting": True, "command": argv, "after": "this function's return"}


def _caller(settings):
    """The process whose end means the return is on its way."""
    return os.getppid() if config.over_ssh(settings.opts) else os.getpid()
