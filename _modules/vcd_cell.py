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
          api_version: "37.0"
          cli_timeout: 300            # seconds any one run of a tool may take
          cell_name: cell1            # the cell's name in vCD task records; default: the minion id
          event_interval: 5           # seconds between drain progress events

The administrator password never goes on an argument list (``ps`` shows those to every user): with
``auth: password`` the module answers the tool's ``Password:`` prompt through a pseudo-terminal. Nor
does it appear in a log line, a return value, an event or an error message.
"""

import base64
import contextlib
import datetime
import json
import logging
import os
import re
import shlex
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
    "api_version": "37.0",
    "cli_timeout": 300,
    "cell_name": None,
    "event_interval": 5,
}
REDACTED = "******"
PASSWORD_PROMPT = "password:"
# LSB init script status codes: 0 running; 1, 2, 3 not running (stale pid/lock file, or clean).
LSB_NOT_RUNNING = (1, 2, 3)
# How often a waiting loop looks at a running tool; REST polling is cheap, so it runs at least this often.
TOOL_POLL_SECONDS = 0.05
API_POLL_SECONDS = 1.0
HEALTH_POLL_SECONDS = 0.25
API_TIMEOUT = 30
API_PAGE_SIZE = 128
API_MAX_PAGES = 100
LEASE_JOB = "vcd_cell_quiesce_lease"
# The scheduler looks at the lease this often at most; short leases are looked at more often.
LEASE_CHECK_SECONDS = 30
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
    for key in ("cli_timeout", "event_interval"):
        _positive_number(f"vcd_cell:{key}", values[key])
    if not isinstance(values["api_verify"], (bool, str)):
        raise SaltInvocationError("vcd_cell:api_verify must be true, false or the path of a CA bundle")
    pid_command = values["pid_command"] or [values["cell_script"], "pid"]
    values["pid_command"] = shlex.split(pid_command) if isinstance(pid_command, str) else list(pid_command)
    return _Settings(values)


# -- running the tools -----------------------------------------------------------------------------


def _require_executable(path, key):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise CommandExecutionError(f"{path} is missing or not executable: check vcd_cell:{key}")


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


class _ToolRun:
    """
    One run of ``cell-management-tool cell OPTION...`` on a pseudo-terminal.

    The real tool reads the password from its terminal, so with ``auth: password`` the run answers the
    ``Password:`` prompt; the password is never on the argument list. Output is kept, not logged.
    """

    def __init__(self, settings, option_args):
        _require_executable(settings.cmt_path, "cmt_path")
        self.settings = settings
        self.display = "cell-management-tool cell " + " ".join(option_args)
        if settings.auth == "pid":
            argv = [settings.cmt_path, "cell", "-i", _cell_pid(settings), *option_args]
        else:
            argv = [settings.cmt_path, "-u", settings.username, "cell", *option_args]
        self._password_due = settings.auth == "password"
        self.output = ""
        self.exit_code = None
        self.started = time.monotonic()
        log.debug("vcd_cell: running %s", argv)
        try:
            self._terminal = salt.utils.vt.Terminal(
                argv, shell=False, stream_stdout=False, stream_stderr=False, rows=24, cols=200
            )
        except salt.utils.vt.TerminalException as exc:
            raise CommandExecutionError(f"Cannot start {settings.cmt_path}: {exc}") from None
        # Answer the prompt now, so the tool never waits on whatever its caller does next.
        deadline = self.started + settings.cli_timeout
        while self._password_due and not self._read() and time.monotonic() < deadline:
            time.sleep(TOOL_POLL_SECONDS)

    def _read(self):
        """Collect what the tool printed; answer the password prompt. True once the tool has ended."""
        stdout, stderr = self._terminal.recv()
        self.output += (stdout or "") + (stderr or "")
        if self._password_due and self.output.rstrip().lower().endswith(PASSWORD_PROMPT):
            self._password_due = False
            self._terminal.sendline(self.settings.password)
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
        """What the tool printed after its password prompt, the password blanked out."""
        text = self.settings.redact(self.output).replace("\r\n", "\n")
        return re.sub(r"^\s*Password:[ \t]*\n?", "", text, flags=re.IGNORECASE)

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
        self.accept = f"application/*+json;version={settings.api_version}"
        self.token_headers = None

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
        principal = self.settings.username if "@" in self.settings.username else f"{self.settings.username}@System"
        credentials = self._basic_authorization(principal)
        headers = dict(credentials, Accept=f"application/json;version={self.settings.api_version}")
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

    def cancel(self, task_id):
        path = f"/api/task/{task_id}/action/cancel"
        response = self._request("POST", path, headers=dict(self.token_headers, Accept=self.accept))
        if response.status_code not in (202, 204):
            self._fail(response, f"Cancelling task {task_id}")


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
    if not settings.api_url:
        return None
    api = _Api(settings)
    try:
        return api.login()
    except CommandExecutionError as exc:
        api.abandon()
        log.warning("vcd_cell: waiting without the REST API, polling the tool instead: %s", exc)
        return None


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
    """

    def __init__(self, settings, timeout, interval, lease):
        self.settings = settings
        self.interval = interval
        self.lease = lease
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.progress = _Progress(settings, self.started, self.deadline)
        self.reading, self.tasks, self.quiesce_run = None, None, None
        self.next_tool_run = self.started
        # The tasks are listed before anything else, so that a cell dying under the drain can name the
        # jobs it lost.
        self.api = _open_api(settings)
        self._poll_api()

    def quiesce(self):
        self.quiesce_run = _ToolRun(self.settings, ["--quiesce", "true"])

    def _poll_api(self):
        if self.api is None:
            return
        polled = _poll_tasks(self.api)
        if polled is None:
            self.api = None
        else:
            self.tasks = polled

    def _check_quiesce(self):
        """Forget a quiesce run that ended well; a failed one is the drain's failure."""
        try:
            if self.quiesce_run is not None and self.quiesce_run.wait(0):
                self.quiesce_run.result()
                self.quiesce_run = None
        except CommandExecutionError as exc:
            raise _lost_jobs_error(self.settings, exc, self.tasks, self.reading) from None

    def _tool_due(self, now):
        """
        The tool has the last word: it confirms what the API says (or is polled without one), and is
        asked once more at the deadline in case the API still lists tasks the cell no longer runs.
        """
        if self.quiesce_run is not None:
            return False
        confirm = (self.api is None or not self.tasks) and now >= self.next_tool_run
        return confirm or now >= self.deadline

    def _read_status(self, now):
        try:
            self.reading = _status(self.settings)
        except CommandExecutionError as exc:
            raise _lost_jobs_error(self.settings, exc, self.tasks, self.reading) from None
        self.next_tool_run = now + self.interval
        return self.reading

    def _outcome(self, drained, now):
        tasks = [] if drained else self.tasks
        return {"drained": drained, "status": self.reading, "tasks": tasks, "elapsed": round(now - self.started, 1)}

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
                _write_lease(self.lease)
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


def _wait(settings, timeout, interval, quiesce=False, lease=0):
    """Wait as :class:`_Drain` does; with ``quiesce``, quiesce the cell first."""
    watch = _Drain(settings, timeout, interval, lease)
    try:
        if quiesce:
            watch.quiesce()
        return watch.run()
    finally:
        watch.close()


def _check_wait_arguments(timeout, interval):
    _positive_number("timeout", timeout)
    _positive_number("interval", interval)
    if interval > timeout:
        raise SaltInvocationError(f"interval ({interval}) must not be longer than timeout ({timeout})")


# -- the quiesce lease -----------------------------------------------------------------------------


def _lease_path():
    return os.path.join(__opts__["cachedir"], "vcd_cell", "quiesce_lease.json")


def _write_lease(seconds):
    """Set the lease to run out ``seconds`` from now; written whole, so a reader never sees half."""
    path = _lease_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = path + ".new"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump({"expires": time.time() + seconds, "seconds": seconds}, handle)
    os.replace(partial, path)


def _read_lease():
    try:
        with open(_lease_path(), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _lease_job_scheduled():
    return LEASE_JOB in (__salt__["schedule.list"](show_all=True, return_yaml=False) or {})


def _arrange_lease(seconds):
    """
    Before a quiesce: the minion's scheduler will unquiesce the cell once the lease runs out, unless
    the drain renews it (it does while it waits) or releases it (once the cell is shut down).
    """
    _write_lease(seconds)
    if _lease_job_scheduled():
        return
    added = __salt__["schedule.add"](
        LEASE_JOB,
        function="vcd_cell.lease_check",
        seconds=max(1, min(LEASE_CHECK_SECONDS, int(seconds // 3))),
        persist=True,
    )
    if not added.get("result"):
        os.remove(_lease_path())
        raise CommandExecutionError(
            f"Could not arrange the quiesce lease with the minion's scheduler ({added.get('comment')}); "
            "set lease to 0 to drain without one"
        )


# -- public functions ------------------------------------------------------------------------------


def status():
    """
    The cell's job count, whether its task scheduler is active, and its maintenance mode flag
    (``None`` on versions whose tool does not report it), from ``cell-management-tool cell --status``.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.status
    """
    return _status(_settings())


def quiesce(timeout=None):
    """
    Stop the cell's task scheduler (``cell --quiesce true``): no new job starts on this cell, running
    jobs go on.

    Newer tools return only once no job is left. This waits for the tool up to ``timeout`` seconds
    (default ``vcd_cell:cli_timeout``); if it is still waiting for jobs then, it is stopped and the cell
    stays quiesced. Use :py:func:`drain` to quiesce and wait with progress reports.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.quiesce
    """
    settings = _settings()
    limit = _positive_number("timeout", timeout) if timeout is not None else settings.cli_timeout
    run = _ToolRun(settings, ["--quiesce", "true"])
    if run.wait(limit):
        run.result()
        return {"quiesced": True, "tool_returned": True}
    run.kill()
    return {"quiesced": True, "tool_returned": False}


def unquiesce():
    """
    Start the cell's task scheduler again (``cell --quiesce false``).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.unquiesce
    """
    _cell_tool(_settings(), "--quiesce", "false")
    return True


def maintenance_mode(enabled=True):
    """
    Turn a running cell's maintenance mode on or off (``cell --maintenance true|false``, vCD 8.10 on).
    Not the maintenance message of a stopped cell: see :py:func:`maintenance_message`.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.maintenance_mode enabled=False
    """
    if not isinstance(enabled, bool):
        raise SaltInvocationError(f"enabled must be True or False, not {enabled!r}")
    _cell_tool(_settings(), "--maintenance", "true" if enabled else "false")
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


def wait_drained(timeout=3600, interval=5, lease=0):
    """
    Wait until the tool reports 0 jobs and an inactive scheduler, without quiescing. Polls the REST API
    when ``api_url`` is set and runs the tool only to confirm; else runs the tool every ``interval``.
    Sends progress events tagged ``vcd/cell/<minion id>/drain``.

    Returns ``drained``, the last ``status`` read from the tool, the blocking ``tasks`` (when the API is
    available) and the ``elapsed`` seconds. A cell that stops while waiting is an error naming the jobs
    it lost. ``lease``: renew the quiesce lease for that many seconds while waiting (see :py:func:`drain`).

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.wait_drained timeout=600 interval=5
    """
    _check_wait_arguments(timeout, interval)
    _check_lease(lease)
    return _wait(_settings(), timeout, interval, lease=lease)


def _check_lease(lease):
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or lease < 0:
        raise SaltInvocationError(f"lease must be 0 (no lease) or a positive number of seconds, not {lease!r}")


def drain(timeout=3600, interval=5, lease=0):
    """
    Quiesce the cell and wait until it is drained, as :py:func:`wait_drained` does. Does not shut down.

    Newer tools only return from ``--quiesce true`` once no job is left: then the tool's return is the
    signal and no other tool run is needed until then. At the deadline the tool is stopped; the cell
    stays quiesced.

    lease
        Seconds. Before quiescing, the minion's scheduler is told to unquiesce the cell once the lease
        runs out; the drain renews it while it waits, and :py:func:`release_lease` ends it. So a cell is
        never left quiesced forever when the run that quiesced it dies. 0 (the default here): no lease.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.drain timeout=1800 lease=600
    """
    _check_wait_arguments(timeout, interval)
    _check_lease(lease)
    settings = _settings()
    if lease:
        _arrange_lease(lease)
    return _wait(settings, timeout, interval, quiesce=True, lease=lease)


def release_lease():
    """
    End the quiesce lease: the cell drained and stopped, or was put back into service. Returns whether
    there was one.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.release_lease
    """
    if _read_lease() is None:
        return False
    os.remove(_lease_path())
    _remove_lease_job()
    return True


def _remove_lease_job():
    if _lease_job_scheduled():
        __salt__["schedule.delete"](LEASE_JOB, persist=True)


def lease_check():
    """
    Run by the minion's scheduler while a quiesce lease exists: once it has run out, unquiesce the cell
    (if it runs) and end the lease, with an event tagged ``vcd/cell/<minion id>/lease``.

    CLI Example:

    .. code-block:: bash

        salt 'cell1*' vcd_cell.lease_check
    """
    lease = _read_lease()
    if lease is None:
        _remove_lease_job()
        return {"lease": None}
    left = lease["expires"] - time.time()
    if left > 0:
        return {"lease": "held", "seconds_left": round(left)}
    unquiesced = is_running()
    if unquiesced:
        _cell_tool(_settings(), "--quiesce", "false")
    release_lease()
    log.warning("vcd_cell: the quiesce lease ran out, the cell was %s", "unquiesced" if unquiesced else "stopped")
    try:
        __salt__["event.send"](f"vcd/cell/{__opts__['id']}/lease", {"expired": True, "unquiesced": unquiesced})
    except Exception as exc:  # pylint: disable=broad-except
        log.debug("vcd_cell: could not send the lease event: %s", exc)
    return {"lease": "expired", "unquiesced": unquiesced}
