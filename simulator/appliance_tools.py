"""
The stub tools of a vCD appliance's host, acting on its fake appliance:

- ``vamicli``: ``version --appliance``; ``update --repo URL`` (a ``file://`` directory holding an
  extracted update package, whose ``manifest/manifest-latest.xml`` says what it carries); ``update
  --check`` (lists the update the repository holds, with its version and build); ``update --install
  latest [--accepteula]`` (asks to accept the EULA without that option);
- ``create-backup.sh``: a backup of the embedded database, on the primary only;
- ``reboot``: the host reboots (the command returns at once, the host goes down after); on a Linux
  install too;
- ``boot-id``: the host kernel's boot id (``cat /proc/sys/kernel/random/boot_id``), new at each boot;
  fails while the host is down.

The real tools' output is undocumented: each cell's ``prompts`` knob picks one of two wordings, so
callers must read them by meaning.
"""

import re
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ElementTree

from simulator.toolclient import ToolError, announce, call, run

VAMICLI = "vamicli"
BACKUP = "create-backup.sh"
REBOOT = "reboot"
BOOT_ID = "boot-id"
MANIFEST = "manifest/manifest-latest.xml"
VAMICLI_USAGE = (
    "usage: vamicli version --appliance\n       vamicli update --repo URL | --check | --install latest [--accepteula]"
)


def _act(path, payload=None):
    status, body = call(path, payload or {})
    if status != 200:
        raise ToolError(body.get("error", f"HTTP {status} from the appliance"))
    return body


def read_manifest(repo):
    """``(version, build)`` of the update package at the ``file://`` URL ``repo``."""
    parsed = urllib.parse.urlparse(repo)
    if parsed.scheme != "file":
        raise ToolError(f"Cannot reach the repository {repo}: only file:// repositories are available offline")
    try:
        tree = ElementTree.parse(f"{parsed.path.rstrip('/')}/{MANIFEST}")
    except (OSError, ElementTree.ParseError) as exc:
        raise ToolError(f"No update package in {repo}: {exc}") from None
    full = (tree.findtext("version") or "").strip()
    match = re.fullmatch(r"(\d+\.\d+\.\d+)\.(\d+)", full)
    if not match:
        raise ToolError(f"The update manifest in {repo} has no version: {full!r}")
    return match.group(1), match.group(2)


def _offered(state):
    """The update the repository holds, or None when it holds the installed version."""
    if not state["repo"]:
        raise ToolError("No update repository is set: run vamicli update --repo URL first")
    version, build = read_manifest(state["repo"])
    return None if version == state["installed"] else (version, build)


def _version(state):
    if state["prompts"] == "standard":
        print(f"Version - {state['installed']}.{state['build']}")
        print("Description - VMware Cloud Director Appliance")
    else:
        print("VMware Cloud Director Appliance")
        print(f"Version: {state['installed']} Build {state['build']}")


def _check(state):
    print("Checking for available updates, this process can take a few minutes....")
    offered = _offered(state)
    if offered is None:
        print("No updates found")
    elif state["prompts"] == "standard":
        print(f"Available Updates -\n\t{offered[0]}.{offered[1]} Build {offered[1]}")
    else:
        print(f"Available update: VMware Cloud Director {offered[0]} (build {offered[1]})")


def _install(state, argv):
    if argv[:2] != ["--install", "latest"]:
        raise ToolError(VAMICLI_USAGE, 2)
    offered = _offered(state)
    if offered is None:
        print("No updates found")
        return 0
    if "--accepteula" not in argv:
        print("End User License Agreement ... (the full text)")
        sys.stdout.write("Do you accept the EULA? (y/n) ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("The EULA was not accepted: nothing installed.")
            return 1
    print(f"Installing version - {offered[0]}.{offered[1]} Build {offered[1]}", flush=True)
    _act("/sim/tool/vamicli/install", {"version": offered[0], "build": offered[1]})
    # The appliance's database is stopped while the update installs (the simulator counts from its start).
    time.sleep(state["install_seconds"])
    print("Update installed successfully. Reboot the appliance to complete the update.")
    return 0


def vamicli_main(argv):
    announce(VAMICLI, argv)
    state = _act("/sim/tool/vamicli/state")
    if argv == ["version", "--appliance"]:
        _version(state)
        return 0
    if argv[:1] != ["update"] or len(argv) < 2:
        raise ToolError(VAMICLI_USAGE, 2)
    options = argv[1:]
    if options[0] == "--repo" and len(options) == 2:
        _act("/sim/tool/vamicli/repo", {"url": options[1]})
        print("Set local repository address...\nDone.")
        return 0
    if options == ["--check"]:
        _check(state)
        return 0
    if options[0] == "--install":
        return _install(state, options)
    raise ToolError(VAMICLI_USAGE, 2)


def backup_main(argv):
    announce(BACKUP, argv)
    print("Creating a backup of the embedded database...", flush=True)
    path = _act("/sim/tool/backup")["path"]
    print(f"Backup created: {path}")
    return 0


def reboot_main(argv):
    announce(REBOOT, argv)
    _act("/sim/tool/reboot")
    return 0


def boot_id_main(argv):
    announce(BOOT_ID, argv)
    print(_act("/sim/tool/host")["boot_id"])
    return 0


def boot_id_entry_point(argv):
    return run(boot_id_main, argv)


def vamicli_entry_point(argv):
    return run(vamicli_main, argv)


def backup_entry_point(argv):
    return run(backup_main, argv)


def reboot_entry_point(argv):
    return run(reboot_main, argv)
