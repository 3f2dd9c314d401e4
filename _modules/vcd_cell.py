"""
Talk to a VMware Cloud Director (vCD) cell: its ``cell-management-tool``, its ``vmware-vcd-cell``
script and the vCD REST API for tasks and health.

:depends: requests

:configuration: Read with ``config.get`` (minion config, grains, pillar), every key under ``vcd_cell:``.
    Keep the password in pillar.

    .. code-block:: yaml

        vcd_cell:
          cmt_path: /opt/vmware/vcloud-director/bin/cell-management-tool
          cell_script: /opt/vmware/vcloud-director/bin/vmware-vcd-cell
          # The command printing the cell's process id, for ``auth: pid``.
          pid_command: [/opt/vmware/vcloud-director/bin/vmware-vcd-cell, pid]
          username: administrator
          password: the-system-administrator-password
          # password (answer the tool's prompt) or pid (root on the cell host, no password);
          # default: password when one is configured, else pid.
          auth: password
          # The REST API of this cell; without it, waiting polls the tool and tasks cannot be
          # listed or cancelled.
          api_url: https://cell1.example.com
          api_verify: true            # or the path of a CA bundle
          api_version: "38.1"         # by default the newest the cell lists in GET /api/versions
          cli_timeout: 300            # seconds any one run of a tool may take
          cell_name: cell1            # the cell's name in vCD task records; default: the minion id
          event_interval: 5           # seconds between drain progress events
          # Upgrades: the installer's path on the cell, the database upgrade utility, the command that
          # prints the installed version (a string or a list), and their time limits.
          installer: /root/vmware-vcloud-director-distribution-10.6.0-24000000.bin
          upgrade_tool: /opt/vmware/vcloud-director/bin/upgrade
          version_command: rpm -q --queryformat %{VERSION} vmware-vcloud-director-distribution
          install_timeout: 3600
          db_upgrade_timeout: 7200

The administrator password never goes on an argument list (``ps`` shows those to every user): with
``auth: password`` the module answers the tool's ``Password:`` prompt through a pseudo-terminal. Nor
does it appear in a log line, a return value, an event or an error message.
"""

import base64
import contextlib
import datetime
import fcntl
import json
import logging
import os
import re
import select
import shlex
import shutil
import signal
import time

import salt.utils.vt
from salt.exceptions import CommandExecutionError, SaltInvocationError

try:
    import requests

    HAS_REQUESTS = True
except ImportError:  # pragma: no cover - salt itself depends on requests
    HAS_REQUESTS = False

log = logging.getLogger(__name__)

__virtualname__ = "vcd_cell"

DEFAULTS = {
    "cmt_path": "/opt/vmware/vcloud-director/bin/cell-management-tool",
    "cell_script": "/opt/vmware/vcloud-director/bin/vmware-vcd-cell",
    "pid_command": None,
    "username": "administrator",
    "password": None,
    "auth": None,
    "api_url": None,
    "api_verify": True,
    "api_version": None,
    "cli_timeout": 300,
    "cell_name": None,
    "event_interval": 5,
    "installer": None,
    "upgrade_tool": "/opt/vmware/vcloud-director/bin/upgrade",
    "version_command": "rpm -q --queryformat %{VERSION} vmware-vcloud-director-distribution",
    "install_timeout": 3600,
    "db_upgrade_timeout": 7200,
}
REDACTED = "******"
PASSWORD_PROMPT = "password:"
# A yes/no question of an installer or of the upgrade utility: "... [y/n]", "[Y/N]:", "(y/n)?".
QUESTION = re.compile(r"[\[(]\s*y(es)?\s*/\s*n(o)?\s*[\])]\s*[:?]?\s*$", re.IGNORECASE)
# LSB init script status codes: 0 running; 1, 2, 3 not running (stale pid/lock file, or clean).
LSB_NOT_RUNNING = (1, 2, 3)
# How often a waiting loop looks at a running tool; REST polling is cheap (one GET of a task or a task
# query), so it runs at least this often: twice a second puts a drain's end within half a second of the
# last job's.
TOOL_POLL_SECONDS = 0.05
API_POLL_SECONDS = 0.5
HEALTH_POLL_SECONDS = 0.25
API_TIMEOUT = 30
# Spoken when a cell does not say which API versions it speaks; cells' states are read and set from 38.1.
FALLBACK_API_VERSION = "37.0"
CELL_STATES_API = "38.1"
API_PAGE_SIZE = 128
API_MAX_PAGES = 100
LEASE_FILE = "quiesce_lease.json"
# Locks in the lease's directory: held by the run that drains the cell, and by the lease's keeper.
DRAIN_LOCK = "drain.lock"
KEEPER_LOCK = "keeper.lock"
# The keeper looks at the lease this often (so a released lease ends it at once), and tries again this
# often when the cell could not be unquiesced.
LEASE_POLL_SECONDS = 0.25
LEASE_RETRY_SECONDS = 10
LEASE_GIVE_UP_SECONDS = 600
KEEPER_START_SECONDS = 10
STATUS_FIELDS = {
    "job_count": re.compile(r"Job\s+count\s*=\s*(\S*)", re.IGNORECASE),
    "active": re.compile(r"Is\s+Active\s*=\s*(\S*)", re.IGNORECASE),
    "maintenance": re.compile(r"In\s+Maintenance\s+Mode\s*=\s*(\S*)", re.IGNORECASE),
}


def __virtual__():
    if not HAS_REQUESTS:
        return (False, "The vcd_cell module needs the requests library")
    return __virtualname__


# -- configuration ---------------------------------------------------------------------------------


class _Settings:
    """Every knob of this module, read once per call; ``repr`` never shows the password."""

    def __init__(self, values):
        self.__dict__.update(values)

    def __repr__(self):
        shown = {k: (REDACTED if k == "password" and v else v) for k, v in self.__dict__.items()}
        return f"_Settings({shown})"

    def redact(self, text):
        """``text`` with the password blanked out, for anything shown to a person."""
        if self.password and text:
            return str(text).replace(self.password, REDACTED)
        return text


def _positive_number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise SaltInvocationError(f"{name} must be a positive number of seconds, not {value!r}")
    return value


def _settings():
    values = {key: __salt__["config.get"](f"vcd_cell:{key}", default) for key, default in DEFAULTS.items()}
    values["password"] = values["password"] or None
    values["api_url"] = (values["api_url"] or "").rstrip("/") or None
    values["cell_name"] = values["cell_name"] or __opts__["id"]
    if values["auth"] is None:
        values["auth"] = "password" if values["password"] else "pid"
    if values["auth"] not in ("password", "pid"):
        raise SaltInvocationError(f"vcd_cell:auth must be 'password' or 'pid', not {values['auth']!r}")
    if values["auth"] == "password" and not (values["username"] and values["password"]):
        raise SaltInvocationError("vcd_cell:auth is 'password' but vcd_cell:username or vcd_cell:password is not set")
    for key in ("cli_timeout", "event_interval", "install_timeout", "db_upgrade_timeout"):
        _positive_number(f"vcd_cell:{key}", values[key])
    if values["api_version"] is not None:
        values["api_version"] = str(values["api_version"])
    if not isinstance(values["api_verify"], (bool, str)):
        raise SaltInvocationError("vcd_cell:api_verify must be true, false or the path of a CA bundle")
    pid_command = values["pid_command"] or [values["cell_script"], "pid"]
    values["pid_command"] = _command(pid_command)
    values["version_command"] = _command(values["version_command"])
    return _Settings(values)


def _command(command):
    """A command given as a string or a list, as an argument list."""
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


# -- running the tools -----------------------------------------------------------------------------


def _require_executable(path, key):
    """The program's full path; a program named without a directory is looked up on the PATH."""
    found = path if os.sep in path else shutil.which(path)
    if not (found and os.path.isfile(found) and os.access(found, os.X_OK)):
        raise CommandExecutionError(f"{path} is missing or not executable: check vcd_cell:{key}")
    return found


def _run_command(settings, argv, key):
    """Run a command that needs no secret through cmd.run_all, with the module's time limit."""
    _require_executable(argv[0], key)
    started = time.monotonic()
    result = __salt__["cmd.run_all"](
        argv, python_shell=False, timeout=settings.cli_timeout, ignore_retcode=True, output_loglevel="debug"
    )
    # cmd.run_all reports a timeout as exit 1 with a message on stdout; the clock tells it apart.
    if time.monotonic() - started >= settings.cli_timeout:
        raise CommandExecutionError(f"{' '.join(argv)} did not finish within {settings.cli_timeout}s and was killed")
    return result


def _cell_pid(settings):
    """The cell's process id for ``cell -i PID``, from ``pid_command``."""
    result = _run_command(settings, settings.pid_command, "pid_command")
    digits = [line.strip() for line in result["stdout"].splitlines() if line.strip().isdigit()]
    if result["retcode"] != 0 or not digits:
        detail = (result["stdout"] + " " + result["stderr"]).strip()
        raise CommandExecutionError(
            f"Cannot get the cell's process id from {' '.join(settings.pid_command)} "
            f"(exit {result['retcode']}): {detail or 'no output'}"
        )
    return digits[-1]


class _TerminalRun:
    """
    One run of a cell's tool on a pseudo-terminal, as a person would run it: what it printed, and its
    exit code once it ended. Subclasses answer what it asks (:meth:`_answer`). Output is kept, not logged.
    """

    def __init__(self, settings, argv, display):
        self.settings = settings
        self.display = display
        self.output = ""
        self.exit_code = None
        self.started = time.monotonic()
        log.debug("vcd_cell: running %s", argv)
        try:
            self._terminal = salt.utils.vt.Terminal(
                argv, shell=False, stream_stdout=False, stream_stderr=False, rows=24, cols=200
            )
        except salt.utils.vt.TerminalException as exc:
            raise CommandExecutionError(f"Cannot start {argv[0]}: {exc}") from None

    def _answer(self):
        """Answer what the tool asks now, if anything; the default answers nothing."""

    def _read(self):
        """Collect what the tool printed and answer it. True once the tool has ended."""
        stdout, stderr = self._terminal.recv()
        self.output += (stdout or "") + (stderr or "")
        self._answer()
        quiet = (stdout is None and stderr is None) or not self._terminal.has_unread_data
        if quiet and not self._terminal.isalive():
            self.exit_code = self._terminal.exitstatus
            return True
        return False

    def wait(self, seconds):
        """Wait up to ``seconds`` for the tool to end; True when it has."""
        deadline = time.monotonic() + seconds
        while self.exit_code is None:
            if self._read():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(TOOL_POLL_SECONDS)
        return True

    def kill(self):
        if self.exit_code is None:
            self._terminal.close(terminate=True, kill=True)

    def printed(self):
        """What the tool printed, the password blanked out."""
        return self.settings.redact(self.output).replace("\r\n", "\n")

    def shown_output(self):
        """The output for a message to a person."""
        return self.printed().strip() or "no output"

    def result(self):
        """What the tool printed, once it ended with exit 0; a CommandExecutionError otherwise."""
        if self.exit_code != 0:
            raise CommandExecutionError(f"{self.display} failed (exit {self.exit_code}): {self.shown_output()}")
        return self.printed()

    def finish(self, timeout):
        """Wait for the tool to end within ``timeout`` seconds, killing it if it does not."""
        if not self.wait(timeout):
            self.kill()
            raise CommandExecutionError(
                f"{self.display} did not finish within {timeout}s and was killed; output: {self.shown_output()}"
            )
        return self.result()


class _ToolRun(_TerminalRun):
    """
    One run of ``cell-management-tool cell OPTION...``.

    The real tool reads the password from its terminal, so with ``auth: password`` the run answers the
    ``Password:`` prompt; the password is never on the argument list.
    """

    def __init__(self, settings, option_args):
        _require_executable(settings.cmt_path, "cmt_path")
        if settings.auth == "pid":
            argv = [settings.cmt_path, "cell", "-i", _cell_pid(settings), *option_args]
        else:
            argv = [settings.cmt_path, "-u", settings.username, "cell", *option_args]
        self._password_due = settings.auth == "password"
        super().__init__(settings, argv, "cell-management-tool cell " + " ".join(option_args))
        # Answer the prompt now, so the tool never waits on whatever its caller does next.
        deadline = self.started + settings.cli_timeout
        while self._password_due and not self._read() and time.monotonic() < deadline:
            time.sleep(TOOL_POLL_SECONDS)

    def _answer(self):
        if self._password_due and self.output.rstrip().lower().endswith(PASSWORD_PROMPT):
            self._password_due = False
            self._terminal.sendline(self.settings.password)

    def printed(self):
        """What the tool printed after its password prompt, the password blanked out."""
        return re.sub(r"^\s*Password:[ \t]*\n?", "", super().printed(), flags=re.IGNORECASE)


class _Dialogue(_TerminalRun):
    """
    A run of an installer or of the database upgrade utility, whose yes/no questions are answered by
    their meaning: ``rules`` pairs a pattern with ``"y"``, ``"n"``, or a callable that returns the answer
    or raises. The wording is undocumented and varies, so a question no rule knows stops the run, and
    the error quotes it. ``asked`` lists each question with its answer.
    """

    def __init__(self, settings, argv, display, rules):
        self.rules = rules
        self.asked = []
        self.unknown = None
        self._answered_upto = 0
        super().__init__(settings, argv, display)

    def _answer(self):
        pending = self.output[self._answered_upto :]
        question = pending.replace("\r\n", "\n").rsplit("\n", 1)[-1].strip()
        if not QUESTION.search(question):
            return
        self._answered_upto = len(self.output)
        for pattern, answer in self.rules:
            if re.search(pattern, question, re.IGNORECASE):
                reply = answer(question) if callable(answer) else answer
                self.asked.append({"question": question, "answer": reply})
                self._terminal.sendline(reply)
                return
        self.unknown = question
        self.kill()

    def finish(self, timeout):
        try:
            return super().finish(timeout)
        except CommandExecutionError:
            if self.unknown is not None:
                raise CommandExecutionError(
                    f"{self.display} asked a question this module does not know how to answer, so it was "
                    f"stopped: {self.unknown!r}"
                ) from None
            raise


def _cell_tool(settings, *option_args):
    return _ToolRun(settings, list(option_args)).finish(settings.cli_timeout)


def _cell_script(settings, action, expected=(0,)):
    """
    Run ``vmware-vcd-cell ACTION``; its exit code, which must be one of ``expected``, else the error
    quotes what the script said.
    """
    result = _run_command(settings, [settings.cell_script, action], "cell_script")
    if result["retcode"] not in expected:
        said = (result["stdout"] + result["stderr"]).strip() or "no output"
        raise CommandExecutionError(f"{settings.cell_script} {action} failed (exit {result['retcode']}): {said}")
    return result["retcode"]


def parse_status(output):
    """
    Parse the fields of ``cell --status`` from ``output``, whatever the layout.

    Accepts two or three fields, one per line or all on one line, CRLF line ends and unrelated lines
    (JVM or log noise) around them. Raises CommandExecutionError quoting the output when a field is
    missing, repeated with different values, or malformed.

    CLI Example:

    .. code-block:: bash

        salt '*' vcd_cell.parse_status 'Job count = 3 Is Active = true'
    """
    if not isinstance(output, str):
        raise SaltInvocationError(f"output must be the text the tool printed, not {type(output).__name__}")
    found = {}
    for field, pattern in STATUS_FIELDS.items():
        values = {match.group(1) for match in pattern.finditer(output or "")}
        if len(values) > 1:
            raise CommandExecutionError(f"The cell status shows {field} twice with different values: {output!r}")
        found[field] = values.pop() if values else None
    for required in ("job_count", "active"):
        if found[required] is None:
            raise CommandExecutionError(f"The cell status has no {required} field: {output!r}")
    if not found["job_count"].isdigit():
        raise CommandExecutionError(f"The cell status has a malformed job count {found['job_count']!r}: {output!r}")
    status = {"job_count": int(found["job_count"])}
    for field in ("active", "maintenance"):
        value = found[field]
        if value is not None and value.lower() not in ("true", "false"):
            raise CommandExecutionError(f"The cell status has a malformed {field} value {value!r}: {output!r}")
        status[field] = None if value is None else value.lower() == "true"
    return status


def _status(settings):
    return parse_status(_cell_tool(settings, "--status"))


# -- the REST API ----------------------------------------------------------------------------------


class _Api:
    """
    A system administrator's session with the cell's REST API, used as a context manager.

    Provider login first (vCD 9.0 on), the legacy ``/api/sessions`` when that does not exist.
    """

    def __init__(self, settings):
        if not settings.api_url:
            raise CommandExecutionError("The vCD REST API is not configured: set vcd_cell:api_url")
        if not settings.password:
            raise CommandExecutionError("The vCD REST API needs vcd_cell:username and vcd_cell:password")
        self.settings = settings
        self.http = requests.Session()
        self.http.verify = settings.api_verify
        self.version = None
        self.token_headers = None

    @property
    def accept(self):
        return f"application/*+json;version={self.version}"

    @property
    def cloudapi_accept(self):
        return f"application/json;version={self.version}"

    def negotiate(self):
        """
        The API version to speak: ``vcd_cell:api_version`` if set, else the newest the cell lists in
        ``GET /api/versions`` (no login needed), else the last one every supported vCD speaks.
        """
        if self.version:
            return self.version
        self.version = self.settings.api_version
        if self.version:
            return self.version
        self.version = FALLBACK_API_VERSION
        response = self._request("GET", "/api/versions", headers={"Accept": "application/json"})
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            if response.status_code == 200:
                listed = response.json().get("versionInfo") or []
                usable = [v["version"] for v in listed if not v.get("deprecated")] or [v["version"] for v in listed]
                self.version = max(usable, key=_version_key)
        return self.version

    def speaks(self, version):
        return _version_key(self.version) >= _version_key(version)

    def _request(self, method, path, **kwargs):
        url = self.settings.api_url + path
        try:
            response = self.http.request(method, url, timeout=API_TIMEOUT, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise CommandExecutionError(f"TLS verification failed for {url}: {exc}") from None
        except requests.exceptions.RequestException as exc:
            raise CommandExecutionError(f"The vCD API at {url} did not answer: {exc}") from None
        return response

    def _fail(self, response, what):
        detail = response.text[:300]
        with contextlib.suppress(ValueError):
            detail = response.json().get("message", detail)
        raise CommandExecutionError(f"{what} failed: HTTP {response.status_code} from {response.url}: {detail}")

    def _basic_authorization(self, principal):
        """
        The Basic credentials, encoded as UTF-8 (RFC 7617): requests would encode them as Latin-1 and
        fail, with the password in its error, on any other letter.
        """
        pair = f"{principal}:{self.settings.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}

    def login(self):
        self.negotiate()
        principal = self.settings.username if "@" in self.settings.username else f"{self.settings.username}@System"
        credentials = self._basic_authorization(principal)
        headers = dict(credentials, Accept=self.cloudapi_accept)
        response = self._request("POST", "/cloudapi/1.0.0/sessions/provider", headers=headers)
        if response.status_code == 404:
            response = self._request("POST", "/api/sessions", headers=dict(credentials, Accept=self.accept))
        if response.status_code == 401:
            raise CommandExecutionError(f"The vCD API refused the credentials of {principal} (HTTP 401)")
        if response.status_code != 200:
            self._fail(response, "Login to the vCD API")
        token = response.headers.get("X-VMWARE-VCLOUD-ACCESS-TOKEN")
        if token:
            self.token_headers = {"Authorization": f"Bearer {token}"}
        elif response.headers.get("x-vcloud-authorization"):
            self.token_headers = {"x-vcloud-authorization": response.headers["x-vcloud-authorization"]}
        else:
            raise CommandExecutionError("The vCD API login answered without a session token")
        return self

    def logout(self):
        if self.token_headers is None:
            return
        path = "/cloudapi/1.0.0/sessions/current" if "Authorization" in self.token_headers else "/api/session"
        try:
            self._request("DELETE", path, headers=dict(self.token_headers, Accept=self.accept))
        except CommandExecutionError as exc:
            log.debug("vcd_cell: logout failed: %s", exc)
        self.token_headers = None

    def close(self):
        self.logout()
        self.http.close()

    def abandon(self):
        """Drop the session without a logout request: the API is failing, so do not wait on it again."""
        self.token_headers = None
        self.http.close()

    def __enter__(self):
        return self.login()

    def __exit__(self, *exc_info):
        self.close()

    def _get(self, path, params):
        response = self._request("GET", path, params=params, headers=dict(self.token_headers, Accept=self.accept))
        if response.status_code != 200:
            self._fail(response, f"GET {path}")
        return response.json()

    def running_tasks(self):
        """This cell's running tasks; other cells' are dropped even if the server ignores the filter."""
        cell = self.settings.cell_name
        records = []
        for page in range(1, API_MAX_PAGES + 1):
            params = {
                "type": "adminTask",
                "format": "records",
                "filter": f"status==running;cellName=={cell}",
                "page": page,
                "pageSize": API_PAGE_SIZE,
            }
            body = self._get("/api/query", params)
            records += body.get("record") or []
            if len(records) >= body.get("total", 0) or not body.get("record"):
                break
        return [_task_summary(r) for r in records if r.get("cellName") == cell and r.get("status") == "running"]

    def cells(self):
        """The server group's cells: the cloudapi list (API 33.0 on), else the legacy cell query."""
        listed, response = [], None
        for page in range(1, API_MAX_PAGES + 1):
            params = {"page": page, "pageSize": API_PAGE_SIZE}
            headers = dict(self.token_headers, Accept=self.cloudapi_accept)
            response = self._request("GET", "/cloudapi/1.0.0/cells", params=params, headers=headers)
            if response.status_code != 200:
                break
            body = response.json()
            listed += body.get("values") or []
            if page >= body.get("pageCount", 1):
                return [_cell_summary(c["name"], c.get("isActive"), c.get("productVersion"), c) for c in listed]
        if response is not None and response.status_code not in (400, 404):
            self._fail(response, "GET /cloudapi/1.0.0/cells")
        body = self._get("/api/query", {"type": "cell", "format": "records", "pageSize": API_PAGE_SIZE})
        return [_cell_summary(r["name"], r.get("isActive"), r.get("version"), r) for r in body.get("record") or []]

    def own_cell(self):
        """
        This cell's record in the cells API, found by its name, once the session speaks API 38.1 (vCD
        10.5.1), where a cell's state can be read and set; None before that, or when vCD does not list it.
        """
        if not self.speaks(CELL_STATES_API):
            return None
        params = {"filter": f"name=={self.settings.cell_name}", "pageSize": API_PAGE_SIZE}
        headers = dict(self.token_headers, Accept=self.cloudapi_accept)
        response = self._request("GET", "/cloudapi/1.0.0/cells", params=params, headers=headers)
        if response.status_code != 200:
            self._fail(response, "GET /cloudapi/1.0.0/cells")
        values = response.json().get("values") or []
        return next((v for v in values if v.get("name") == self.settings.cell_name and "status" in v), None)

    def set_cell_state(self, record, state):
        """``PUT`` the cell with ``status`` ``state``; returns the URL of the task that completes it."""
        path = f"/cloudapi/1.0.0/cells/{record['id']}"
        headers = dict(self.token_headers, Accept=self.cloudapi_accept)
        response = self._request("PUT", path, json=dict(record, status=state), headers=headers)
        if response.status_code != 202 or not response.headers.get("Location"):
            self._fail(response, f"Setting the cell {state}")
        return response.headers["Location"]

    def task_status(self, url):
        """The status of the task at ``url`` (running, success, error, ...)."""
        path = url[len(self.settings.api_url) :] if url.startswith(self.settings.api_url) else url
        return self._get(path, {}).get("status")

    def cancel(self, task_id):
        path = f"/api/task/{task_id}/action/cancel"
        response = self._request("POST", path, headers=dict(self.token_headers, Accept=self.accept))
        if response.status_code not in (202, 204):
            self._fail(response, f"Cancelling task {task_id}")


def _version_key(version):
    """``"38.1"`` as ``(38, 1)``, for comparing API versions."""
    return tuple(int(part) if part.isdigit() else 0 for part in str(version).split("."))


def _cell_summary(name, active, product_version, record):
    return {
        "name": name,
        "active": bool(active),
        "version": product_version,
        "status": record.get("status"),
        "primary_ip": record.get("primaryIP") or record.get("primaryIp"),
    }


def _task_summary(record):
    """The facts about a task a person needs to decide about it."""
    started = record.get("startDate")
    age = None
    if started:
        try:
            begun = datetime.datetime.fromisoformat(started.replace("Z", "+00:00"))
            age = round((datetime.datetime.now(datetime.timezone.utc) - begun).total_seconds())
        except ValueError:
            pass
    return {
        "id": (record.get("href") or "").rstrip("/").rsplit("/", 1)[-1],
        "name": record.get("name"),
        "operation": record.get("operationFull"),
        "owner": record.get("ownerName"),
        "org": record.get("org"),
        "started": started,
        "age_seconds": age,
    }


def describe_tasks(tasks):
    """
    One line naming each task: id, name, owner and age.

    CLI Example:

    .. code-block:: bash

        salt '*' vcd_cell.describe_tasks "$(salt --out json cell1 vcd_cell.tasks)"
    """
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise SaltInvocationError("tasks must be a list of task summaries, as vcd_cell.tasks returns")
    return "; ".join(
        f"{t.get('id')} {t.get('name')} (owner {t.get('owner')}, running {t.get('age_seconds')}s)" for t in tasks
    )


# -- progress --------------------------------------------------------------------------------------


class _Progress:
    """Drain progress on the master's event bus, at most once per ``event_interval``."""

    def __init__(self, settings, started, deadline):
        self.settings = settings
        self.started = started
        self.deadline = deadline
        self.tag = f"vcd/cell/{__opts__['id']}/drain"
        self.last_sent = None

    def report(self, job_count, tasks, force=False):
        now = time.monotonic()
        if not force and self.last_sent is not None and now - self.last_sent < self.settings.event_interval:
            return
        self.last_sent = now
        data = {
            "cell": self.settings.cell_name,
            "job_count": job_count,
            "elapsed": round(now - self.started, 1),
            "remaining": max(0, round(self.deadline - now, 1)),
            "tasks": tasks,
        }
        try:
            __salt__["event.send"](self.tag, data)
        except Exception as exc:  # pylint: disable=broad-except
            # Progress is informative: a lost event must never break a drain.
            log.debug("vcd_cell: could not send a progress event: %s", exc)


# -- waiting ---------------------------------------------------------------------------------------


def _open_api(settings):
    """A logged-in API session, or None when the API is not configured or does not work."""
    if not (settings.api_url and settings.password):
        return None
    return _logged_in(_Api(settings))


def _logged_in(api):
    try:
        return api.login()
    except CommandExecutionError as exc:
        api.abandon()
        log.warning("vcd_cell: working without the REST API, with the tool instead: %s", exc)
        return None


def _own_cell(api):
    """This cell's record when its state can be read and set through the API (vCD 10.5.1), else None."""
    try:
        return api.own_cell() if api is not None else None
    except CommandExecutionError as exc:
        log.warning("vcd_cell: the cells API failed, using the tool instead: %s", exc)
        return None


@contextlib.contextmanager
def _cell_states(settings):
    """
    ``(api, record)``: a logged-in session and this cell's record, when the cell's state can be read and
    set through the REST API (API 38.1, vCD 10.5.1); ``(None, None)`` otherwise (no ``api_url`` or
    password, an older cell, an API that fails), and the tool does the work. The API versions are asked
    before any login, so an older cell costs no login attempt.
    """
    api = None
    if settings.api_url and settings.password:
        probe = _Api(settings)
        try:
            speaks = probe.negotiate() and probe.speaks(CELL_STATES_API)
        except CommandExecutionError as exc:
            log.warning("vcd_cell: the REST API did not answer, using the tool instead: %s", exc)
            speaks = False
        if speaks:
            api = _logged_in(probe)
        else:
            probe.abandon()
    try:
        record = _own_cell(api)
        yield (api, record) if record is not None else (None, None)
    finally:
        if api is not None:
            api.close()


def _wait_for_task(api, url, timeout):
    """Whether the task at ``url`` succeeded within ``timeout`` seconds; an error if it failed."""
    deadline = time.monotonic() + timeout
    while True:
        state = api.task_status(url)
        if state == "success":
            return True
        if state in ("error", "aborted", "canceled"):
            raise CommandExecutionError(f"The vCD task {url} ended {state}")
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(API_POLL_SECONDS, max(0.0, deadline - time.monotonic())))


def _set_state_through_api(settings, state, timeout):
    """
    Set the cell ``state`` (ACTIVE, QUIESCED, MAINTENANCE) through the cells API and wait up to
    ``timeout`` for its task: whether it completed. None when the API cannot do it here (the tool must).
    """
    with _cell_states(settings) as (api, record):
        if record is None:
            return None
        return _wait_for_task(api, api.set_cell_state(record, state), timeout)


def _reading_from_api(record, tasks):
    """What the cells API says of the cell, in the shape of a tool reading, plus what the tool cannot say."""
    state = record["status"]
    return {
        "job_count": len(tasks),
        "active": state == "ACTIVE",
        "maintenance": state == "MAINTENANCE",
        "quiesced": state == "QUIESCED",
        "source": "api",
    }


def _drained(reading):
    return reading["job_count"] == 0 and not reading["active"]


def _poll_tasks(api):
    """The cell's running tasks, or None (and the session dropped) when the API fails."""
    try:
        return api.running_tasks()
    except CommandExecutionError as exc:
        log.warning("vcd_cell: the REST API failed, polling the tool instead: %s", exc)
        api.abandon()
        return None


class _QuiesceFailed(CommandExecutionError):
    """The quiesce itself failed (the tool's run, or the API's request or task): it never took effect."""


@contextlib.contextmanager
def _quiescing():
    """A failure of what runs inside is the quiesce's own failure (see :func:`_leased`)."""
    try:
        yield
    except _QuiesceFailed:
        raise
    except CommandExecutionError as exc:
        raise _QuiesceFailed(str(exc)) from None


def _lost_jobs_error(settings, cause, tasks, reading):
    """
    The error for a drain whose tool failed: a cell that stopped under it lost its jobs, and says so;
    a cell still running reports the tool's own failure.
    """
    if _cell_script(settings, "status", expected=(0, *LSB_NOT_RUNNING)) == 0:
        return cause
    if tasks:
        lost = f"{len(tasks)} job(s) were still running and are lost: {describe_tasks(tasks)}"
    elif reading:
        lost = f"the tool last reported {reading['job_count']} job(s), now lost"
    else:
        lost = "jobs running on it may be lost (set vcd_cell:api_url to know which)"
    return CommandExecutionError(f"The cell stopped during the drain, before it was drained: {lost}")


class _Drain:
    """
    One wait for a cell to drain, until the tool reports 0 jobs and an inactive scheduler or until the
    deadline: what is known of the cell so far, and how to look at it next.

    While a ``--quiesce true`` run is still going (newer tools return only once drained), its end is
    the signal; otherwise the REST API is polled cheaply and the tool is only run to confirm, or, without
    the API, the tool is polled every ``interval``. A ``lease`` is renewed on every look at the cell.

    ``quiesce_if_active``: a drain that did not quiesce (the cell was believed quiesced) reads the tool
    at once, and quiesces the cell when a reading finds its scheduler active after all (restarted, or
    unquiesced by hand meanwhile).
    """

    def __init__(self, settings, timeout, interval, lease, quiesce_if_active=False):
        self.settings = settings
        self.interval = interval
        self.lease = lease
        self.quiesce_if_active = quiesce_if_active
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.progress = _Progress(settings, self.started, self.deadline)
        self.reading, self.tasks, self.quiesce_run, self.quiesce_task = None, None, None, None
        self.jobs_at_start = None
        self.next_tool_run = self.started
        # The tasks are listed before anything else, so that a cell dying under the drain can name the
        # jobs it lost.
        self.api = _open_api(settings)
        self._poll_api()

    def quiesce(self):
        """Through the cells API where the cell has it (vCD 10.5.1: no tool start), else the tool."""
        self.quiesce_if_active = False
        record = _own_cell(self.api)
        with _quiescing():
            if record is None:
                self.quiesce_run = _ToolRun(self.settings, ["--quiesce", "true"])
            else:
                self.quiesce_task = self.api.set_cell_state(record, "QUIESCED")

    def _poll_api(self):
        if self.api is None:
            return
        polled = _poll_tasks(self.api)
        if polled is None:
            self.api = None
        else:
            self.tasks = polled
            self._first_count(len(polled))

    def _first_count(self, job_count):
        if self.jobs_at_start is None:
            self.jobs_at_start = job_count

    def _check_quiesce(self):
        """
        Forget a quiesce that completed (the tool's run ended well, or the API's task succeeded once the
        cell's tasks ended); a failed one is the drain's failure.
        """
        try:
            if self.quiesce_run is not None and self.quiesce_run.wait(0):
                self.quiesce_run.result()
                self.quiesce_run = None
        except CommandExecutionError as exc:
            raise _QuiesceFailed(str(_lost_jobs_error(self.settings, exc, self.tasks, self.reading))) from None
        if self.quiesce_task is None:
            return
        if self.api is None:
            self.quiesce_task = None  # the API failed: the quiesce holds, the tool confirms from now on
            return
        try:
            done = _wait_for_task(self.api, self.quiesce_task, 0)
        except CommandExecutionError as exc:
            raise _QuiesceFailed(str(_lost_jobs_error(self.settings, exc, self.tasks, self.reading))) from None
        if done:
            self.quiesce_task = None

    def _tool_due(self, now):
        """
        The tool has the last word: it confirms what the API says (or is polled without one), and is
        asked once more at the deadline in case the API still lists tasks the cell no longer runs.
        """
        if self.quiesce_run is not None or self.quiesce_task is not None:
            return False
        if self.quiesce_if_active and self.reading is None:
            # A cell believed quiesced is read at once, whatever the API lists: a restarted cell comes
            # back active, and waiting on the API alone would never find it out.
            return True
        confirm = (self.api is None or not self.tasks) and now >= self.next_tool_run
        return confirm or now >= self.deadline

    def _read_status(self, now):
        try:
            self.reading = _status(self.settings)
        except CommandExecutionError as exc:
            raise _lost_jobs_error(self.settings, exc, self.tasks, self.reading) from None
        self.next_tool_run = now + self.interval
        self._first_count(self.reading["job_count"])
        if self.quiesce_if_active and self.reading["active"]:
            self.quiesce()
        return self.reading

    def _outcome(self, drained, now):
        return {
            "drained": drained,
            "status": self.reading,
            "tasks": [] if drained else self.tasks,
            "jobs_at_start": self.jobs_at_start,
            "elapsed": round(now - self.started, 1),
        }

    def _pause(self, now):
        tick = min(self.interval, API_POLL_SECONDS) if self.api else self.interval
        pause = max(0.0, min(tick, self.deadline - now))
        if self.quiesce_run is not None:
            self.quiesce_run.wait(pause)
        else:
            time.sleep(pause)

    def run(self):
        while True:
            now = time.monotonic()
            if self.lease:
                _renew_lease(self.lease)
            self._check_quiesce()
            self._poll_api()
            if self._tool_due(now) and _drained(self._read_status(now)):
                self.progress.report(0, [], force=True)
                return self._outcome(True, now)
            job_count = len(self.tasks) if self.tasks is not None else (self.reading or {}).get("job_count")
            self.progress.report(job_count, self.tasks)
            if now >= self.deadline:
                return self._outcome(False, now)
            self._pause(now)

    def close(self):
        if self.quiesce_run is not None:
            self.quiesce_run.kill()
        if self.api is not None:
            self.api.close()


def _wait(settings, timeout, interval, quiesce=None, lease=0, shutdown=False):
    """
    Wait as :class:`_Drain` does. ``quiesce``: ``"first"`` quiesces the cell before anything else,
    ``"if active"`` only when a reading finds its scheduler active; None never. With ``shutdown``, a cell
    found drained is shut down at once: the tool has just read 0 jobs and an inactive scheduler (so no new
    job can start there), and a second reading would only cost another tool start.
    """
    watch = _Drain(settings, timeout, interval, lease, quiesce_if_active=quiesce == "if active")
    try:
        if quiesce == "first":
            watch.quiesce()
        outcome = watch.run()
    finally:
        watch.close()
    outcome["shut_down"] = False
    if shutdown and outcome["drained"]:
        _cell_tool(settings, "--shutdown")
        outcome["shut_down"] = True
    return outcome


def _check_wait_arguments(timeout, interval):
    _positive_number("timeout", timeout)
    _positive_number("interval", interval)
    if interval > timeout:
        raise SaltInvocationError(f"interval ({interval}) must not be longer than timeout ({timeout})")


# -- the quiesce lease -----------------------------------------------------------------------------
#
# A drain that quiesced a cell and then died (a dropped ssh session, a killed job, a killed minion) must
# not leave the cell quiesced forever. Before the quiesce, the drain writes a lease (a file in the
# minion's cachedir) and makes sure a keeper process guards it: a grandchild of the drain in a session of
# its own, so it outlives the drain's process group, its terminal and the minion daemon, and needs nothing
# but the cell host. The drain renews the lease while it waits and releases it once the cell is shut down.
# If the lease runs out, the keeper unquiesces the cell (if it still runs). One lock file serialises every
# change of the lease, so the keeper never acts on a lease that was renewed or released meanwhile.


def _lease_dir():
    return os.path.join(__opts__["cachedir"], "vcd_cell")


def _lease_file(name):
    os.makedirs(_lease_dir(), mode=0o700, exist_ok=True)
    return os.path.join(_lease_dir(), name)


@contextlib.contextmanager
def _lease_lock():
    """Exclusive use of the lease record, across every process of this host."""
    fd = os.open(_lease_file("lease.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _read_lease():
    return _read_json(_lease_file(LEASE_FILE))


def _write_lease(lease):
    """Written whole, so a reader never sees half a lease."""
    path = _lease_file(LEASE_FILE)
    partial = path + ".new"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(lease, handle)
    os.replace(partial, path)


def _remove_lease():
    with contextlib.suppress(FileNotFoundError):
        os.remove(_lease_file(LEASE_FILE))


def _this_run():
    """Who runs this drain, for a person: the process and how Salt was started, never its command line."""
    if __opts__.get("__cli") == "salt-call":
        how = "salt-call --local" if _masterless() else "salt-call"
    else:
        how = "salt-minion job"
    since = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return {"pid": os.getpid(), "run": how, "since": since}


def _masterless():
    return bool(__opts__.get("local")) or __opts__.get("file_client") == "local"


def _describe_run(run):
    return f"pid {run.get('pid')} ({run.get('run')}, since {run.get('since')})"


def _held_by_a_live_process(name):
    """
    Whether a process holds the lock ``name`` (a drain, or the keeper): the kernel drops a lock with its
    holder, so a killed process never looks alive, whatever became of its pid.
    """
    path = _lease_file(name)
    if not os.path.exists(path):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _hold(name, record):
    """Take the lock ``name`` for this process and write ``record`` into it; its fd, or None when taken."""
    fd = os.open(_lease_file(name), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps(record).encode())
    return fd


# The drain this process runs, if any: {lock path: fd}. A process keeps its claim until it releases the
# lease or ends, so a second run fails at once instead of quiescing the cell under the first.
_CLAIMS = {}


def _claim_cell():
    """This process drains the cell; an error naming the other run when one already does."""
    path = _lease_file(DRAIN_LOCK)
    if path in _CLAIMS:
        return
    fd = _hold(DRAIN_LOCK, _this_run())
    if fd is None:
        other = _read_json(path) or {}
        if other.get("pid") == os.getpid():
            return  # this process's own claim, taken by an earlier load of this module
        raise CommandExecutionError(
            f"Another drain of this cell is running: {_describe_run(other)}. Nothing was touched; "
            "wait for it to end (or stop it), then apply again"
        )
    _CLAIMS[path] = fd


def _end_claim():
    fd = _CLAIMS.pop(_lease_file(DRAIN_LOCK), None)
    if fd is not None:
        os.close(fd)


def _arrange_lease(settings, seconds):
    """
    Before a quiesce: a lease that runs out ``seconds`` from now, guarded by a keeper. A keeper already
    guarding this cell's lease (a re-applied drain) is kept: one lease, one keeper per cell. Returns
    whether the lease is new (none was held).
    """
    with _lease_lock():
        fresh = _read_lease() is None
        _write_lease({"expires": time.time() + seconds, "seconds": seconds, "by": _this_run()})
        if not _held_by_a_live_process(KEEPER_LOCK):
            try:
                _start_keeper(settings)
            except CommandExecutionError:
                _remove_lease()
                raise
    return fresh


@contextlib.contextmanager
def _leased(settings, seconds):
    """
    A quiesce under a lease of ``seconds`` (none for 0). When the quiesce itself fails, a lease this run
    took is ended again: its keeper would otherwise "unquiesce", at its end, a cell nobody quiesced.
    """
    fresh = _arrange_lease(settings, seconds) if seconds else False
    try:
        yield
    except _QuiesceFailed:
        if fresh:
            with _lease_lock():
                _remove_lease()
        raise


def _renew_lease(seconds):
    """Push the lease's end ``seconds`` from now; an error when it was released or ran out meanwhile."""
    with _lease_lock():
        lease = _read_lease()
        if lease is None:
            raise CommandExecutionError(
                "The quiesce lease ended while the drain waited (it ran out, or was released by vcd.active "
                "or vcd_cell.release_lease): the cell may be back in service, so it is not shut down"
            )
        lease["expires"] = time.time() + seconds
        _write_lease(lease)


def _start_keeper(settings):
    """
    Start the lease's keeper: a grandchild in a new session, so that it outlives this run's process
    group and terminal, and is nobody's child to be killed with it. Returns once it guards the lease;
    the keeper says so (or why it cannot) through a pipe.
    """
    ready_read, ready_write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(ready_read)
            os.setsid()
            if os.fork() == 0:
                _keeper_main(settings, ready_write)
        finally:
            os._exit(0)  # pylint: disable=protected-access
    os.close(ready_write)
    try:
        os.waitpid(child, 0)
        ready, _, _ = select.select([ready_read], [], [], KEEPER_START_SECONDS)
        said = os.read(ready_read, 1000) if ready else None
    finally:
        os.close(ready_read)
    if said == b"1":
        return
    why = (
        f"it did not start within {KEEPER_START_SECONDS}s"
        if said is None
        else f"it failed: {said[1:].decode(errors='replace') or 'it ended before it guarded the lease'}"
    )
    raise CommandExecutionError(
        f"The quiesce lease's keeper could not be started ({why}); the cell was not touched. "
        "Set lease to 0 to drain without one"
    )


def _keeper_main(settings, ready_write):
    """The keeper's whole life; it never returns into the drain's code."""
    code = 1
    try:
        ready = _leave_the_drain(ready_write)
        try:
            _become_keeper(settings)
        except Exception as exc:  # pylint: disable=broad-except
            # Only the kind of error and a file's name: a message could quote anything.
            where = f" ({exc.strerror}: {exc.filename})" if isinstance(exc, OSError) else ""
            os.write(ready, f"0{type(exc).__name__}{where}".encode())
            raise
        os.write(ready, b"1")
        os.close(ready)
        code = _keep_lease(settings)
    except BaseException as exc:  # pylint: disable=broad-except
        log.error("vcd_cell: the quiesce lease keeper failed: %s", type(exc).__name__)
    finally:
        logging.shutdown()
        os._exit(code)  # pylint: disable=protected-access


def _leave_the_drain(ready_write):
    """
    Leave everything of the drain behind: its files (its claim on the cell, its pipes to whoever waits
    for its output) and its signal handlers. Returns the pipe to say "ready" on.
    """
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    # Above the standard streams, which a daemonised parent may have had closed.
    ready = fcntl.fcntl(ready_write, fcntl.F_DUPFD, 3)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, ready)
    os.closerange(ready + 1, os.sysconf("SC_OPEN_MAX"))
    return ready


def _become_keeper(settings):
    """Its own log handlers and process title, and the keeper's lock: one keeper per cell."""
    _keeper_log()
    with contextlib.suppress(ImportError):
        import setproctitle  # pylint: disable=import-outside-toplevel

        setproctitle.setproctitle(f"vcd_cell lease keeper (cell {settings.cell_name}, minion {__opts__['id']})")
    if _hold(KEEPER_LOCK, {"pid": os.getpid()}) is None:
        raise RuntimeError("another keeper guards the lease")


def _keeper_log():
    """The keeper logs to the minion's log file, as the drain did, at the minion's level for that file."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    path = __opts__.get("log_file")
    if not path or "://" in str(path):
        root.addHandler(logging.NullHandler())
        return
    level = logging.getLevelName(str(__opts__.get("log_level_logfile") or "warning").upper())
    try:
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        # A log file it cannot open must not cost the cell its lease.
        root.addHandler(logging.NullHandler())
        return
    handler.setLevel(level if isinstance(level, int) else logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s [%(name)-17s][%(levelname)-8s][%(process)d] %(message)s"))
    root.addHandler(handler)
    root.setLevel(handler.level)


def _keep_lease(settings):
    """Until the lease is released (end quietly) or runs out (act once, say so, then end)."""
    while True:
        outcome = None
        with _lease_lock():
            lease = _read_lease()
            if lease is None:
                return 0
            left = lease["expires"] - time.time()
            if left <= 0:
                outcome = _act_on_expired_lease(settings, overdue=-left)
                if outcome is not None:
                    _remove_lease()
        if outcome is not None:
            _announce_expiry(settings, lease, outcome)
            return 0
        time.sleep(LEASE_RETRY_SECONDS if left <= 0 else min(LEASE_POLL_SECONDS, left))


def _act_on_expired_lease(settings, overdue):
    """
    Unquiesce the cell if it runs; ``{"unquiesced": bool, "error": None}``. None when the cell could not
    be asked or told and the keeper should try again; after ``LEASE_GIVE_UP_SECONDS`` it gives up, with
    the reason as ``error``, rather than linger for ever.
    """
    try:
        running = _cell_script(settings, "status", expected=(0, *LSB_NOT_RUNNING)) == 0
        if running:
            _cell_tool(settings, "--quiesce", "false")
        return {"unquiesced": running, "error": None}
    except CommandExecutionError as exc:
        if overdue >= LEASE_GIVE_UP_SECONDS:
            return {"unquiesced": False, "error": str(exc)}
        log.warning("vcd_cell: the quiesce lease ran out but the cell could not be unquiesced, trying again: %s", exc)
        return None


def _announce_expiry(settings, lease, outcome):
    """The keeper's act in the minion's log and on the master's bus."""
    drain = _describe_run(lease.get("by") or {})
    if outcome["error"]:
        log.error(
            "vcd_cell: the quiesce lease of %ss taken by the drain %s ran out, and the cell could not be "
            "unquiesced within %ss: %s. It may still be quiesced: apply vcd.active",
            lease.get("seconds"),
            drain,
            LEASE_GIVE_UP_SECONDS,
            outcome["error"],
        )
    else:
        log.warning(
            "vcd_cell: the quiesce lease of %ss taken by the drain %s ran out: the cell was %s",
            lease.get("seconds"),
            drain,
            "unquiesced and is back in service" if outcome["unquiesced"] else "not running and is left as it is",
        )
    _send_to_master(
        f"vcd/cell/{__opts__['id']}/lease",
        dict(outcome, expired=True, cell=settings.cell_name, drain=drain),
    )


def _send_to_master(tag, data):
    """
    An event on the master's bus, sent straight to the master: the minion daemon that would carry it
    may be the very process that died. Nothing to send to without a master.
    """
    if _masterless():
        return
    try:
        __salt__["event.fire_master"](data, tag, preload={"id": __opts__["id"]})
    except Exception as exc:  # pylint: disable=broad-except
        log.warning("vcd_cell: could not send the event %s to the master: %s", tag, type(exc).__name__)


# -- public functions ------------------------------------------------------------------------------


def status(source="auto"):
    """
    The cell's job count, whether its task scheduler is active, and its maintenance mode flag (``None``
    on versions whose tool does not report it).

    source
        ``auto`` (default): through the REST API where the cell can say (vCD 10.5.1, API 38.1: its state
        and its tasks, no tool start; the reading then also says whether it is ``quiesced``), else from
        ``cell-management-tool cell --status``. ``tool`` or ``api``: only that way.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.status
        salt 'cell1*' vcd_cell.status source=tool
    """
    if source not in ("auto", "tool", "api"):
        raise SaltInvocationError(f"source must be auto, tool or api, not {source!r}")
    settings = _settings()
    if source != "tool":
        with _cell_states(settings) as (api, record):
            if record is not None:
                return _reading_from_api(record, api.running_tasks())
        if source == "api":
            raise CommandExecutionError(
                "The cell's state cannot be read through the REST API: that needs vcd_cell:api_url, the "
                "administrator's credentials and vCD 10.5.1 (API 38.1) or later"
            )
    return _status(settings)


def quiesce(timeout=None, lease=0):
    """
    Stop the cell's task scheduler (``cell --quiesce true``): no new job starts on this cell, running
    jobs go on.

    On vCD 10.5.1 (API 38.1) with ``api_url`` set, the cells API does it (no tool start). Newer tools,
    and the API's quiesce task, finish only once no job is left. This waits up to ``timeout`` seconds
    (default ``vcd_cell:cli_timeout``); if jobs still run then, the cell stays quiesced and ``finished``
    is false. Use :py:func:`drain` to quiesce and wait with progress reports.

    lease
        Seconds: arrange the quiesce lease first, as :py:func:`drain` does, so the cell does not stay
        quiesced forever if nothing drains it afterwards (a drain renews the lease). 0: no lease.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.quiesce
        salt 'cell*' vcd_cell.quiesce timeout=30 lease=900
    """
    _check_lease(lease)
    settings = _settings()
    limit = _positive_number("timeout", timeout) if timeout is not None else settings.cli_timeout
    _claim_cell()
    with _leased(settings, lease), _quiescing():
        finished = _set_state_through_api(settings, "QUIESCED", limit)
        if finished is not None:
            return {"quiesced": True, "finished": finished, "via": "api"}
        run = _ToolRun(settings, ["--quiesce", "true"])
        if not run.wait(limit):
            run.kill()
            return {"quiesced": True, "finished": False, "via": "tool"}
        run.result()
        return {"quiesced": True, "finished": True, "via": "tool"}


def unquiesce():
    """
    Start the cell's task scheduler again: through the cells API on vCD 10.5.1 (API 38.1, status
    ACTIVE), else ``cell --quiesce false``.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.unquiesce
    """
    settings = _settings()
    if _set_state_through_api(settings, "ACTIVE", settings.cli_timeout) is None:
        _cell_tool(settings, "--quiesce", "false")
    return True


def maintenance_mode(enabled=True):
    """
    Turn a running cell's maintenance mode on or off (``cell --maintenance true|false``, vCD 8.10 on).
    Not the maintenance message of a stopped cell: see :py:func:`maintenance_message`.

    On vCD 10.5.1 (API 38.1) with ``api_url`` set, the cells API does it: status MAINTENANCE, or ACTIVE
    to turn it off (which also starts a quiesced scheduler again: the API has no state for both).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.maintenance_mode enabled=False
    """
    if not isinstance(enabled, bool):
        raise SaltInvocationError(f"enabled must be True or False, not {enabled!r}")
    settings = _settings()
    if _set_state_through_api(settings, "MAINTENANCE" if enabled else "ACTIVE", settings.cli_timeout) is None:
        _cell_tool(settings, "--maintenance", "true" if enabled else "false")
    return True


def shutdown(force=False):
    """
    Shut the cell down (``cell --shutdown``), after checking again that the tool reports 0 jobs and an
    inactive scheduler. Refuses otherwise, unless ``force=True``: then running jobs fail.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.shutdown
    """
    if not isinstance(force, bool):
        raise SaltInvocationError(f"force must be True or False, not {force!r}")
    settings = _settings()
    before = None
    if not force:
        before = _status(settings)
        if not _drained(before):
            raise CommandExecutionError(
                f"Refusing to shut the cell down: the tool reports {before['job_count']} job(s) and "
                f"{'an active' if before['active'] else 'an inactive'} scheduler. Drain it first "
                "(vcd_cell.drain), or pass force=True to let the running jobs fail"
            )
    _cell_tool(settings, "--shutdown")
    return {"shutdown": True, "status_before": before}


def is_running():
    """
    Whether the cell's service runs (``vmware-vcd-cell status``, LSB exit codes).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.is_running
    """
    return _cell_script(_settings(), "status", expected=(0, *LSB_NOT_RUNNING)) == 0


def start():
    """
    Start the cell's service (``vmware-vcd-cell start``). Returns whether it runs afterwards; it may take
    a while more to serve requests (see :py:func:`wait_serving`).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.start
    """
    _cell_script(_settings(), "start")
    return is_running()


def maintenance_message(enabled=True):
    """
    Turn the maintenance message of a stopped cell on (``vmware-vcd-cell maintenance``) or off
    (``vmware-vcd-cell stop``; the cell stays stopped). The real script needs the cell stopped first.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.maintenance_message
        salt 'cell1*' vcd_cell.maintenance_message enabled=False
    """
    if not isinstance(enabled, bool):
        raise SaltInvocationError(f"enabled must be True or False, not {enabled!r}")
    if enabled and is_running():
        raise CommandExecutionError("The maintenance message needs a stopped cell: shut the cell down first")
    _cell_script(_settings(), "maintenance" if enabled else "stop")
    return True


def health():
    """
    What a load balancer sees: ``GET /cloud/server_status`` on ``vcd_cell:api_url``. Returns ``up``
    (answers "Service is up."), the HTTP status (``None`` when nothing answers) and whether the cell
    shows the maintenance message.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.health
    """
    settings = _settings()
    if not settings.api_url:
        raise CommandExecutionError("health needs the cell's URL: set vcd_cell:api_url")
    url = settings.api_url + "/cloud/server_status"
    try:
        response = requests.get(url, timeout=API_TIMEOUT, verify=settings.api_verify)
    except requests.exceptions.SSLError as exc:
        raise CommandExecutionError(f"TLS verification failed for {url}: {exc}") from None
    except requests.exceptions.RequestException:
        return {"up": False, "status_code": None, "maintenance_message": False}
    up = response.status_code == 200 and "Service is up" in response.text
    in_maintenance = response.status_code == 503 and "maintenance" in response.text.lower()
    return {"up": up, "status_code": response.status_code, "maintenance_message": in_maintenance}


def wait_serving(timeout=600, interval=None):
    """
    Wait until the cell serves: its health check answers when ``api_url`` is set, else the tool answers
    ``--status``. Returns True when it does within ``timeout`` seconds, False otherwise.

    ``interval`` defaults to a quarter second with the health check (a cheap HTTP request), 5 seconds
    with the tool (a JVM start each).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.wait_serving timeout=300
    """
    settings = _settings()
    if interval is None:
        interval = min(timeout, HEALTH_POLL_SECONDS if settings.api_url else 5)
    _check_wait_arguments(timeout, interval)
    deadline = time.monotonic() + timeout
    while True:
        if settings.api_url:
            serving = health()["up"]
        else:
            try:
                _status(settings)
                serving = True
            except CommandExecutionError as exc:
                log.debug("vcd_cell: not serving yet: %s", exc)
                serving = False
        if serving:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def tasks():
    """
    This cell's running tasks through the REST API: id, name, operation, owner, org, start and age.
    Tasks of other cells of the server group are left out.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.tasks
    """
    with _Api(_settings()) as api:
        return api.running_tasks()


def cancel_tasks(ids=None):
    """
    Cancel tasks as a system administrator through the REST API: the given ids, or every task running
    on this cell. Returns the ids cancelled and, per id, why a cancel failed.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.cancel_tasks
        salt 'cell1*' vcd_cell.cancel_tasks ids='[5c1f..., 77aa...]'
    """
    if ids is not None and (isinstance(ids, str) or not all(isinstance(i, str) and i for i in ids)):
        raise SaltInvocationError("ids must be a list of task ids")
    settings = _settings()
    cancelled, failed = [], {}
    with _Api(settings) as api:
        targets = list(ids) if ids is not None else [t["id"] for t in api.running_tasks()]
        for task_id in targets:
            try:
                api.cancel(task_id)
                cancelled.append(task_id)
            except CommandExecutionError as exc:
                failed[task_id] = str(exc)
    return {"cancelled": cancelled, "failed": failed}


def wait_drained(timeout=3600, interval=5, lease=0, shutdown=False):
    """
    Wait until the tool reports 0 jobs and an inactive scheduler, without quiescing. Polls the REST API
    when ``api_url`` is set and runs the tool only to confirm; else runs the tool every ``interval``.
    Sends progress events tagged ``vcd/cell/<minion id>/drain``.

    Returns ``drained``, the last ``status`` read from the tool, the blocking ``tasks`` (when the API is
    available), ``jobs_at_start`` (the first count of running jobs), the ``elapsed`` seconds and whether the
    cell was ``shut_down``. A cell that stops while
    waiting is an error naming the jobs it lost. ``lease``: renew the quiesce lease for that many seconds
    while waiting (see :py:func:`drain`). ``shutdown``: shut the cell down as soon as the tool reads it
    drained, on that reading (0 jobs and an inactive scheduler: no new job can start there).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.wait_drained timeout=600 interval=5
    """
    _check_wait_arguments(timeout, interval)
    _check_lease(lease)
    _check_flag("shutdown", shutdown)
    return _wait(_settings(), timeout, interval, lease=lease, shutdown=shutdown)


def _check_flag(name, value):
    if not isinstance(value, bool):
        raise SaltInvocationError(f"{name} must be True or False, not {value!r}")


def _check_lease(lease):
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or lease < 0:
        raise SaltInvocationError(f"lease must be 0 (no lease) or a positive number of seconds, not {lease!r}")


def drain(timeout=3600, interval=5, lease=0, shutdown=False, quiesce=True):
    """
    Quiesce the cell and wait until it is drained, as :py:func:`wait_drained` does; with ``shutdown``,
    shut it down on the tool's reading that confirmed it drained (by default it is left running).
    ``quiesce=False`` when the cell is known to be quiesced already (a quiesce of this host's, its lease
    still held): the drain then claims the cell, takes the lease and reads it at once, so that reading,
    if it finds the cell drained, is the one the shutdown goes ahead on; a reading that finds the
    scheduler active after all quiesces it then.

    Newer tools only return from ``--quiesce true`` once no job is left: then the tool's return is the
    signal and no other tool run is needed until then. At the deadline the tool is stopped; the cell
    stays quiesced.

    The drain claims the cell first (see :py:func:`claim`): a second drain of the same cell fails at once.

    lease
        Seconds. Before quiescing, a keeper process is started on the cell host that unquiesces the cell
        once the lease runs out; the drain renews the lease while it waits, and :py:func:`release_lease`
        ends it. So a cell is never left quiesced forever when the run that quiesced it dies, however
        Salt ran it (minion daemon, ``salt-call``, ``salt-call --local``). 0 (the default here): no lease.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.drain timeout=1800 lease=600
        salt 'cell1*' vcd_cell.drain timeout=1800 shutdown=True
    """
    _check_wait_arguments(timeout, interval)
    _check_lease(lease)
    _check_flag("shutdown", shutdown)
    _check_flag("quiesce", quiesce)
    settings = _settings()
    _claim_cell()
    with _leased(settings, lease):
        how = "first" if quiesce else "if active"
        return _wait(settings, timeout, interval, quiesce=how, lease=lease, shutdown=shutdown)


def claim():
    """
    Claim the cell for a drain by this process, until it ends or releases the lease: fails at once,
    naming the other run (its process id, how Salt runs it and since when), when another process on this
    host drains the cell, whether through the minion daemon, ``salt-call`` or ``salt-call --local``.
    :py:func:`drain` claims the cell itself; ``vcd_cell.drained`` claims it before it touches anything.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.claim
    """
    _claim_cell()
    return True


def release_lease():
    """
    End the quiesce lease: the cell drained and stopped, or was put back into service. Its keeper ends
    within a moment and never acts on it. Returns whether there was one.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.release_lease
    """
    with _lease_lock():
        held = _read_lease() is not None
        _remove_lease()
    _end_claim()
    return held


def lease():
    """
    The quiesce lease of this cell: whether one is ``held``, when it ``expires`` (UTC) and in how many
    ``seconds_left``, which drain took it, its ``keeper`` (the process that unquiesces the cell when the
    lease runs out) and whether that keeper is alive, and the ``drain`` running on this host now, if any.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.lease
    """
    with _lease_lock():
        record = _read_lease()
        keeper = _read_json(_lease_file(KEEPER_LOCK)) if _held_by_a_live_process(KEEPER_LOCK) else None
    drain = _read_json(_lease_file(DRAIN_LOCK)) if _held_by_a_live_process(DRAIN_LOCK) else None
    report = {"held": record is not None, "expires": None, "seconds_left": None, "taken_by": None}
    if record is not None:
        expires = datetime.datetime.fromtimestamp(record["expires"], datetime.timezone.utc)
        report.update(
            expires=expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            seconds_left=max(0, round(record["expires"] - time.time())),
            taken_by=_describe_run(record.get("by") or {}),
        )
    report["keeper"] = {"pid": keeper.get("pid"), "alive": True} if keeper else None
    report["drain"] = _describe_run(drain) if drain else None
    return report


# -- upgrades ----------------------------------------------------------------------------------------


def version():
    """
    The vCD software installed on the cell host: the first non-empty line printed by
    ``vcd_cell:version_command`` (by default ``rpm -q --queryformat %{VERSION}
    vmware-vcloud-director-distribution``).

    CLI Example:

    .. code-block:: bash

        salt 'cell*' vcd_cell.version
    """
    settings = _settings()
    argv = settings.version_command
    result = _run_command(settings, [_require_executable(argv[0], "version_command"), *argv[1:]], "version_command")
    lines = [line.strip() for line in result["stdout"].splitlines() if line.strip()]
    if result["retcode"] != 0 or not lines:
        detail = (result["stdout"] + " " + result["stderr"]).strip() or "no output"
        raise CommandExecutionError(
            f"Cannot read the installed vCD version with {' '.join(argv)} (exit {result['retcode']}): {detail}"
        )
    return lines[0]


INSTALLER_ANSWERS = (
    # Order matters: the last question mentions the database upgrade, the first only the upgrade.
    (r"database|upgrade (tool|utility)", "n"),
    (r"\bstart\b", "n"),
    (r"upgrade|continue|proceed|install", "y"),
)


def install(installer=None):
    """
    Run the vCD installer on this stopped cell (``installer``, by default ``vcd_cell:installer``), on a
    pseudo-terminal, answering its questions by their meaning: yes to the upgrade; no to running the
    database upgrade now (it runs once, after every cell of the server group is upgraded) and to starting
    the service. A question it does not know stops the installer, and the error quotes it. Refuses on a
    running cell. Returns the version installed afterwards and the questions answered.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.install installer=/root/vmware-vcloud-director-distribution-10.6.0-24000000.bin
    """
    settings = _settings()
    path = installer or settings.installer
    if not path or not isinstance(path, str):
        raise SaltInvocationError("No installer given: pass installer=PATH or set vcd_cell:installer")
    path = _require_executable(path, "installer")
    if is_running():
        raise CommandExecutionError("The cell is running: drain and shut it down before installing (vcd.drained)")
    run = _Dialogue(settings, [path], os.path.basename(path), INSTALLER_ANSWERS)
    run.finish(settings.install_timeout)
    return {"version": version(), "questions": run.asked}


def upgrade_database(backup_completed=False):
    """
    Run the database upgrade utility (``vcd_cell:upgrade_tool``) once, from this upgraded cell, on a
    pseudo-terminal. Answers yes to the upgrade; yes to the backup question only with
    ``backup_completed=True`` (then ``--backup-completed`` is passed and the question is skipped); never
    yes to continuing while other cells are active: it fails naming them. Returns whether the schema was
    upgraded (``False`` when it already was at this cell's version) and the questions answered.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.upgrade_database backup_completed=True
    """
    if not isinstance(backup_completed, bool):
        raise SaltInvocationError(f"backup_completed must be True or False, not {backup_completed!r}")
    settings = _settings()
    path = _require_executable(settings.upgrade_tool, "upgrade_tool")
    active = []

    def refuse_active(question):
        active.append(question)
        return "n"

    def backup(question):
        return "y" if backup_completed else "n"

    rules = (
        (r"back(ed)?[ -]?up", backup),
        (r"active|still running|running cells?", refuse_active),
        (r"\bstart\b", "n"),
        (r"upgrade|continue|proceed", "y"),
    )
    argv = [path, "--backup-completed"] if backup_completed else [path]
    run = _Dialogue(settings, argv, "upgrade", rules)
    try:
        output = run.finish(settings.db_upgrade_timeout)
    except CommandExecutionError:
        if active:
            raise CommandExecutionError(
                f"The database was not upgraded: cells of the server group still run ({active[0]}). "
                "Stop every cell first"
            ) from None
        if any(q["answer"] == "n" and re.search(r"back(ed)?[ -]?up", q["question"], re.I) for q in run.asked):
            raise CommandExecutionError(
                "The database was not upgraded: the utility asks for a database backup; make one, then pass "
                "backup_completed=True"
            ) from None
        raise
    if "complete" in output.lower():
        return {"upgraded": True, "questions": run.asked}
    if re.search(r"already|nothing to upgrade", output, re.IGNORECASE):
        return {"upgraded": False, "questions": run.asked}
    raise CommandExecutionError(f"upgrade ended without saying the database upgrade completed: {run.shown_output()}")


def cells():
    """
    The cells of this cell's server group as vCD lists them (every cell sharing the database), through
    the REST API: ``/cloudapi/1.0.0/cells``, else the legacy cell query. Each with ``name``, ``active``,
    ``version`` (its product version), ``status`` (API 38.1 on, else ``None``) and ``primary_ip``.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.cells
    """
    with _Api(_settings()) as api:
        return api.cells()
