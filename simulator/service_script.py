"""
The stub ``vmware-vcd-cell`` script: the cell's service control, acting on a fake cell.

Usage::

    vmware-vcd-cell start | stop | restart | status | maintenance | pid [cell]

``status`` follows the LSB init convention: exit 0 while the cell's process runs, 3 when it is
stopped (with or without the maintenance message). ``maintenance`` turns the maintenance message on and
only works on a stopped cell; ``stop`` turns it off again. ``pid`` prints the process id that
``cell-management-tool cell -i PID`` accepts, like ``service vmware-vcd pid cell``.
"""

from simulator.toolclient import ToolError, announce, call, run

TOOL = "vmware-vcd-cell"
USAGE = f"Usage: {TOOL} {{start|stop|restart|status|maintenance|pid}}"
STATUS_STOPPED = 3
RUNNING_STATES = ("running", "starting")


def service(action):
    status, body = call("/sim/tool/service", {"action": action})
    if status != 200:
        raise ToolError(body.get("error", f"HTTP {status} from the cell"))
    return body


def start():
    state = service("start")
    print(f"Starting {TOOL}: " + ("started" if state["changed"] else "already running"))
    return 0


def stop():
    was = service("stop")["was"]
    what = {"maintenance": "maintenance message off", "stopped": "not running"}.get(was, "stopped")
    print(f"Stopping {TOOL}: {what}")
    return 0


def status():
    state = service("status")["service"]
    if state in RUNNING_STATES:
        print(f"{TOOL} is running")
        return 0
    suffix = " (maintenance message on)" if state == "maintenance" else ""
    print(f"{TOOL} is not running{suffix}")
    return STATUS_STOPPED


def maintenance():
    service("maintenance")
    print(f"{TOOL}: maintenance message on")
    return 0


def pid():
    state = service("status")
    if state["service"] not in RUNNING_STATES:
        raise ToolError(f"{TOOL} is not running")
    print(state["pid"])
    return 0


def restart():
    stop()
    return start()


ACTIONS = {"start": start, "stop": stop, "restart": restart, "status": status, "maintenance": maintenance}


def main(argv):
    announce(TOOL, argv)
    if argv in (["pid"], ["pid", "cell"]):
        return pid()
    if len(argv) != 1 or argv[0] not in ACTIONS:
        raise ToolError(USAGE, 2)
    return ACTIONS[argv[0]]()


def entry_point(argv):
    return run(main, argv)
