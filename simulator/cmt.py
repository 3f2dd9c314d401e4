"""
The stub ``cell-management-tool``: the real tool's syntax and output, acting on a fake cell.

Syntax (``shared/reference/cell-management.md``)::

    cell-management-tool [-u USER] [-p PASSWORD] cell [-i PID] OPTION

OPTION is one of ``--status``/``-t``, ``--status-verbose``, ``--quiesce true|false``/``-q``,
``--shutdown``/``-s``, ``--maintenance true|false``/``-m``; single-dash long names (``-status``) and
``--option=value`` work too, and ``-u``/``-p``/``-i`` may stand anywhere. With ``-u`` and no ``-p`` the
tool prompts ``Password:`` on the controlling terminal without echo, and fails when there is none.

Exit status: 0 on success, 1 on a failure (bad credentials, cell not running), 2 on bad arguments.
"""

import datetime
import os
import termios
import time

from simulator.toolclient import ToolError, announce, call, run

TOOL = "cell-management-tool"
USAGE_EXIT = 2
USAGE = (
    f"usage: {TOOL} [-u USER] [-p PASSWORD] cell [-i PID] "
    "(--status | --status-verbose | --quiesce true|false | --shutdown | --maintenance true|false)"
)

CREDENTIAL_OPTIONS = {
    "-u": "user",
    "--username": "user",
    "-p": "password",
    "--password": "password",
    "-i": "pid",
    "--pid": "pid",
}
# option spelling -> (cell option, takes a true|false value)
CELL_OPTIONS = {}
for _name, _short, _valued in (
    ("status", "-t", False),
    ("status-verbose", None, False),
    ("quiesce", "-q", True),
    ("shutdown", "-s", False),
    ("maintenance", "-m", True),
):
    for _spelling in filter(None, (f"--{_name}", f"-{_name}", _short)):
        CELL_OPTIONS[_spelling] = (_name, _valued)

POLL_SECONDS = 0.05
NOISE_BEFORE = (
    "Picked up JAVA_TOOL_OPTIONS: -Xms256m -Xmx1024m",
    "log4j:WARN No appenders could be found for logger (com.vmware.vcloud.common.jmx).",
)
NOISE_AFTER = ("{stamp} INFO  [main] com.vmware.vcloud.cell.management.CellManagementTool - done",)


def usage_error(message):
    return ToolError(f"{message}\n{USAGE}", USAGE_EXIT)


def _true_false(option, value):
    if value is None or value.lower() not in ("true", "false"):
        raise usage_error(f"{option} takes true or false, not {value!r}")
    return value.lower() == "true"


def parse_arguments(argv):
    """The arguments as a dict: user, password, pid, command, option, value."""
    parsed = {"user": None, "password": None, "pid": None, "command": None, "option": None, "value": None}
    tokens = list(argv)
    while tokens:
        token = tokens.pop(0)
        spelling, has_inline, inline = token.partition("=")
        if spelling in CREDENTIAL_OPTIONS:
            value = inline if has_inline else (tokens.pop(0) if tokens else None)
            if value is None:
                raise usage_error(f"{spelling} needs a value")
            parsed[CREDENTIAL_OPTIONS[spelling]] = value
        elif token == "cell" and parsed["command"] is None:
            parsed["command"] = "cell"
        elif parsed["command"] == "cell" and spelling in CELL_OPTIONS:
            if parsed["option"] is not None:
                raise usage_error(f"only one cell option at a time: {parsed['option']} and {spelling}")
            option, valued = CELL_OPTIONS[spelling]
            parsed["option"] = option
            if valued:
                raw = inline if has_inline else (tokens.pop(0) if tokens else None)
                parsed["value"] = _true_false(spelling, raw)
        elif token in ("-h", "--help", "-help"):
            raise ToolError(USAGE, 0)
        else:
            raise usage_error(f"Unrecognized option or command: {token}")
    if parsed["command"] is None:
        raise usage_error("no command given")
    if parsed["option"] is None:
        raise usage_error("the cell command needs an option")
    if parsed["password"] is not None and parsed["user"] is None:
        raise usage_error("-p needs -u")
    if parsed["user"] is None and parsed["pid"] is None:
        raise ToolError("Credentials are required: -u USER (and -p or the password prompt) or -i PID")
    return parsed


def read_password(prompt="Password:"):
    """
    Read a password from the controlling terminal without echo, like Java's Console.readPassword.

    Never from stdin: a process without a terminal cannot answer, as with the real tool.
    """
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        raise ToolError(
            "Cannot read the password: no terminal is available. Run the tool on a terminal or use -i PID"
        ) from None
    try:
        saved = termios.tcgetattr(fd)
        quiet = list(saved)
        quiet[3] &= ~termios.ECHO
        # Echo goes off before the prompt shows, so whoever answers the prompt is never echoed.
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
        try:
            os.write(fd, prompt.encode())
            answer = bytearray()
            while True:
                chunk = os.read(fd, 1)
                if not chunk or chunk in (b"\n", b"\r"):
                    break
                answer += chunk
        finally:
            termios.tcsetattr(fd, termios.TCSANOW, saved)
            os.write(fd, b"\n")
    finally:
        os.close(fd)
    return answer.decode("utf-8", errors="replace")


def check_supported(option, config):
    if option == "maintenance" and not config["has_maintenance_mode"]:
        raise usage_error("Unrecognized option: --maintenance")
    if option == "status-verbose" and not config["has_status_verbose"]:
        raise usage_error("Unrecognized option: --status-verbose")


def cell_request(parsed, option, value=None):
    """Ask the cell to carry out ``option``; returns its result or raises :class:`ToolError`."""
    payload = {"option": option, "value": value, "pid": parsed["pid"]}
    if parsed["pid"] is None:
        payload.update(user=parsed["user"], password=parsed["password"])
    status, body = call("/sim/tool/cell", payload)
    if status != 200:
        raise ToolError(body.get("error", f"HTTP {status} from the cell"))
    return body["result"]


def format_status(status, config, verbose=False):
    """The status fields in the layout of the cell's version."""
    fields = [f"Job count = {status['job_count']}", f"Is Active = {str(status['active']).lower()}"]
    if config["has_maintenance_mode"]:
        fields.append(f"In Maintenance Mode = {str(status['maintenance']).lower()}")
    lines = [" ".join(fields)] if config["layout"] == "oneline" else fields
    if verbose:
        lines.append(f"Running tasks = {len(status['tasks'])}")
        lines += [
            f"  {t['id']} {t['operationFull']} owner={t['ownerName']} org={t['org']} started={t['startDate']}"
            for t in status["tasks"]
        ]
    return lines


def with_noise(lines, config):
    if not config["noise"]:
        return lines
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    return list(NOISE_BEFORE) + lines + [line.format(stamp=stamp) for line in NOISE_AFTER]


def wait_drained(parsed):
    """Newer tools return from `--quiesce true` only once no job is left on the cell."""
    while True:
        status = cell_request(parsed, "quiesce-wait")
        if not status["quiesced"]:
            raise ToolError("The quiesce was cancelled: the cell's scheduler is active again")
        if status["job_count"] == 0:
            return
        time.sleep(POLL_SECONDS)


def inject_fault(option, config):
    """The fault the fake cell asks for, if any applies to ``option``: hang, bad output, or exit 1."""
    fault = config["tool_fault"]
    if fault is None or config["tool_fault_option"] not in (None, option):
        return False
    if fault == "hang":
        while True:
            time.sleep(60)
    if fault == "exit":
        raise ToolError("java.lang.IllegalStateException: unexpected internal error")
    text = {"garbage": "Job cnt: lots\nActive? yes\n", "truncated": "Job count = 2\nIs Act"}[fault]
    os.write(1, text.encode())
    return True


def main(argv):
    config = announce(TOOL, argv, java=True)
    parsed = parse_arguments(argv)
    check_supported(parsed["option"], config)
    if parsed["pid"] is None and parsed["password"] is None:
        parsed["password"] = read_password()
    option = parsed["option"]
    if inject_fault(option, config):
        return 0
    lines = []
    if option in ("status", "status-verbose"):
        lines = format_status(cell_request(parsed, "status"), config, verbose=option == "status-verbose")
    else:
        cell_request(parsed, option, parsed["value"])
        if option == "quiesce" and parsed["value"] and config["blocks_on_quiesce"]:
            wait_drained(parsed)
    output = with_noise(lines, config)
    if output:
        ending = "\r\n" if config["crlf"] else "\n"
        os.write(1, (ending.join(output) + ending).encode())
    return 0


def entry_point(argv):
    return run(main, argv)
