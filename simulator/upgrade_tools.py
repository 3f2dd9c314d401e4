"""
The stub tools of a vCD upgrade, acting on a fake cell and its server group's database:

- the installer ``vmware-vcloud-director-distribution-<version>.bin`` (its version from its own file
  name, or from ``VCD_SIM_PACKAGE_VERSION`` for a wrapper): refuses on a running cell and when that
  version is installed, asks to confirm the upgrade, then whether to run the database upgrade now;
- ``upgrade``, the database upgrade utility (``--backup-completed`` skips the backup question): banner,
  confirmation, the backup question, the active-cell question whenever a cell of the group runs,
  "Database upgrade complete.", then whether to start the service; a no-op when the schema is current;
- ``vcd-version``: the installed version, as ``rpm -q --queryformat %{VERSION}`` prints it.

The real prompts' wording is undocumented: each cell's ``prompts`` knob picks one of two wordings, so
callers must answer by meaning. Answers are read from standard input (the terminal, when run on one).
"""

import os
import re
import sys
import time

from simulator.toolclient import ToolError, announce, call, run

INSTALLER = "vmware-vcloud-director-distribution.bin"
UPGRADE = "upgrade"
VERSION = "vcd-version"
PACKAGE_VERSION_VARIABLE = "VCD_SIM_PACKAGE_VERSION"

WORDINGS = {
    "standard": {
        "confirm_install": "Would you like to upgrade now? [y/n] ",
        "run_db_upgrade": "Would you like to run the database upgrade tool now? [y/n] ",
        "confirm_db": "Do you wish to upgrade the database now? [Y/N]: ",
        "backup": "Have you backed up your database? [Y/N]: ",
        "active": "An active cell was detected: {cells}. Do you want to continue? [Y/N]: ",
        "start": "Would you like to start the VMware Cloud Director service now? [Y/N]: ",
    },
    "alternate": {
        "confirm_install": "Do you want to continue with the upgrade (y/n)? ",
        "run_db_upgrade": "Run the database upgrade utility now (y/n)? ",
        "confirm_db": "Proceed with the database upgrade (y/n)? ",
        "backup": "Confirm that a backup of the database was made (y/n)? ",
        "active": "These cells are still running: {cells}. Continue anyway (y/n)? ",
        "start": "Start the cell's service now (y/n)? ",
    },
}
BANNER = (
    "Welcome to the VMware Cloud Director upgrade utility\n"
    "This utility will apply several updates to the database. Please ensure you have created a backup "
    "of your database prior to continuing.\n"
)


def _software():
    status, body = call("/sim/tool/software", {})
    if status != 200:
        raise ToolError(body.get("error", f"HTTP {status} from the cell"))
    return body


def _act(path, payload):
    status, body = call(path, payload)
    if status != 200:
        raise ToolError(body.get("error", f"HTTP {status} from the cell"))
    return body


def ask(question):
    """Ask on standard output, read the answer from standard input: True for y or yes."""
    sys.stdout.write(question)
    sys.stdout.flush()
    answer = sys.stdin.readline()
    if not answer:
        raise ToolError("No answer: standard input was closed")
    return answer.strip().lower() in ("y", "yes")


def package_version(program):
    """The version an installer installs: from its file name, else from its wrapper's variable."""
    match = re.search(r"vmware-vcloud-director-distribution-(\d[\w.]*?)(?:-\d+)?\.bin$", os.path.basename(program))
    version = match.group(1) if match else os.environ.get(PACKAGE_VERSION_VARIABLE)
    if not version:
        raise ToolError(f"Cannot tell which version this installer carries: set {PACKAGE_VERSION_VARIABLE}")
    return version


def installer_main(argv, program=None):
    announce(INSTALLER, argv)
    version = package_version(program or sys.argv[0])
    state = _software()
    words = WORDINGS[state["prompts"]]
    print("Checking free disk space... ok\nChecking required packages... ok")
    if state["running"]:
        raise ToolError("The VMware Cloud Director service is running on this server: stop it before you upgrade")
    if state["installed"] == version:
        raise ToolError(f"VMware Cloud Director {version} is already installed on this server")
    print(f"VMware Cloud Director {state['installed']} is installed on this server.")
    print(f"This will upgrade it to version {version}.")
    if not ask(words["confirm_install"]):
        print("Upgrade cancelled.")
        return 1
    print(f"Installing vmware-vcloud-director-distribution-{version} ...", flush=True)
    time.sleep(state["install_seconds"])
    _act("/sim/tool/install", {"version": version})
    print("Installation complete.")
    if ask(words["run_db_upgrade"]):
        return upgrade_main([])
    print(f"Run /opt/vmware/vcloud-director/bin/upgrade once every cell of the server group runs {version}.")
    return 0


def upgrade_main(argv):
    announce(UPGRADE, argv, java=True)
    unknown = [arg for arg in argv if arg != "--backup-completed"]
    if unknown:
        raise ToolError(f"Unknown option(s): {' '.join(unknown)}\nusage: upgrade [--backup-completed]", 2)
    state = _software()
    words = WORDINGS[state["prompts"]]
    print(BANNER)
    if state["installed"] == state["schema"]:
        print(f"The database schema is already at version {state['schema']}: nothing to upgrade.")
        return 0
    if not ask(words["confirm_db"]):
        print("Upgrade cancelled.")
        return 1
    if "--backup-completed" not in argv and not ask(words["backup"]):
        print("Back up the database first, then run upgrade again.")
        return 1
    running = [f"{c['name']} ({c['ip']})" for c in state["running_cells"]]
    go_on = False
    if running:
        go_on = ask(words["active"].format(cells=", ".join(running)))
        if not go_on:
            print("Stop the active cells, then run upgrade again.")
            return 1
    _act("/sim/tool/db-upgrade", {"continue_with_active": go_on})
    print("Database upgrade complete.")
    if ask(words["start"]):
        _act("/sim/tool/service", {"action": "start"})
    return 0


def version_main(argv):
    announce(VERSION, argv)
    sys.stdout.write(_software()["installed"])
    return 0


def installer_entry_point(argv):
    return run(installer_main, argv)


def upgrade_entry_point(argv):
    return run(upgrade_main, argv)


def version_entry_point(argv):
    return run(version_main, argv)
