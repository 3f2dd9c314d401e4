"""
The behaviour of one vCloud Director cell, without any I/O.

A :class:`Cell` holds the service state (running, starting, stopped, stopped with the maintenance
message), the task scheduler (active or quiesced), the running-cell maintenance mode flag and the
jobs. Time is read from a clock callable, and jobs end *lazily*: every public method first advances
the cell to "now", recording each job end at its own scheduled instant. That keeps the timeline exact
without a background thread, and lets tests drive the model with a fake clock.

Every change is written to the :class:`Timeline`, which is what tests assert on.
"""

import contextlib
import datetime
import itertools
import math
import random
import threading
import time
import uuid
from dataclasses import dataclass, field

from simulator.faults import Faults

SERVICE_RUNNING = "running"
SERVICE_STARTING = "starting"
SERVICE_STOPPED = "stopped"
SERVICE_MAINTENANCE = "maintenance"  # stopped, answering every request with the maintenance message

JOB_RUNNING = "running"
JOB_SUCCESS = "success"
JOB_CANCELED = "canceled"
JOB_ABORTED = "aborted"

# The two meanings of "Is Active" after a quiesce seen across vCD versions.
ACTIVE_FALSE_AT_ONCE = "at-once"
ACTIVE_UNTIL_DRAINED = "until-drained"

VERSIONS = ("5.1", "8.10", "10.5", "10.5.1")
# The REST API versions each simulated vCD version speaks (GET /api/versions), oldest first.
API_VERSIONS = {
    "5.1": ("1.5", "5.1"),
    "8.10": ("20.0", "26.0", "27.0"),
    "10.5": ("36.0", "37.0", "38.0"),
    "10.5.1": ("36.0", "37.0", "38.0", "38.1"),
}
NEWER = ("10.5", "10.5.1")
# The states of a cell as /cloudapi/1.0.0/cells reports them from API 38.1 (vCD 10.5.1) on.
CELL_ACTIVE, CELL_QUIESCED, CELL_MAINTENANCE, CELL_INACTIVE = "ACTIVE", "QUIESCED", "MAINTENANCE", "INACTIVE"
TOOL_FAULTS = (None, "hang", "garbage", "truncated", "exit")
API_FAULTS = (None, "unauthorized", "error")
PROMPT_WORDINGS = ("standard", "alternate")


class CellError(Exception):
    """An operation the cell refuses in its current state; the message is what a user would be told."""


@dataclass
class CellConfig:
    """
    Every knob of a simulated cell. ``None`` on a version-dependent knob means "as that version does".
    """

    cell_name: str = "cell1"
    version: str = "10.5"
    admin_user: str = "administrator"
    admin_password: str = "vmware"
    # Whether `cell --quiesce true` returns at once or only once the last job ended.
    quiesce_blocks: bool | None = None
    # ACTIVE_FALSE_AT_ONCE or ACTIVE_UNTIL_DRAINED.
    active_after_quiesce: str | None = None
    # Output variants of cell-management-tool, to exercise every parser.
    layout: str = "lines"  # "lines" or "oneline"
    noise: bool = False  # JVM and logging lines around the fields
    crlf: bool = False
    # Seconds the Java tools (cell-management-tool, the database upgrade) wait first, like a JVM starting.
    cli_delay: float = 0.0
    # Seconds between `start` and the cell serving requests.
    start_seconds: float = 0.0
    # Seconds the cell's host takes to reboot (a Linux install; an appliance has its own knob).
    reboot_seconds: float = 1.0
    # Seconds a cancelled job takes to end.
    cancel_seconds: float = 0.0
    # Whether the REST query honours a cellName filter (unconfirmed on real cells).
    filter_cell_name: bool = True
    # Faults to inject. tool_fault makes cell-management-tool hang, print garbage or a truncated
    # status, or exit 1, for tool_fault_option only (a cell option such as "status") or every option.
    tool_fault: str | None = None
    tool_fault_option: str | None = None
    # api_fault makes every REST call but the health checks answer 401 ("unauthorized") or 500 ("error").
    api_fault: str | None = None
    # After this many failed logins in a row (tool or REST) the account is locked; 0: never.
    lockout_after: int = 0
    # The vCD software installed on the cell (what `rpm -q` prints), and its first address.
    installed_version: str = "10.5.0"
    primary_ip: str = "127.0.0.1"
    # The installer and the database upgrade utility: their prompts' wording (undocumented, so two
    # variants), and faults: the installer fails on this cell; the database upgrade run here fails.
    prompts: str = "standard"
    install_seconds: float = 0.0
    install_fault: bool = False
    db_upgrade_fault: bool = False
    # Seconds the cell's clock is ahead of the real one (negative: behind), as the Date header of its
    # API's answers shows it: a host whose NTP is broken.
    clock_offset: float = 0.0

    def __post_init__(self):
        if self.version not in VERSIONS:
            raise ValueError(f"version must be one of {', '.join(VERSIONS)}, not {self.version!r}")
        if self.layout not in ("lines", "oneline"):
            raise ValueError(f"layout must be 'lines' or 'oneline', not {self.layout!r}")
        if self.active_after_quiesce not in (None, ACTIVE_FALSE_AT_ONCE, ACTIVE_UNTIL_DRAINED):
            raise ValueError(f"active_after_quiesce must be {ACTIVE_FALSE_AT_ONCE!r} or {ACTIVE_UNTIL_DRAINED!r}")
        if self.tool_fault not in TOOL_FAULTS:
            raise ValueError(f"tool_fault must be one of {', '.join(map(str, TOOL_FAULTS))}")
        if self.api_fault not in API_FAULTS:
            raise ValueError(f"api_fault must be one of {', '.join(map(str, API_FAULTS))}")
        if self.lockout_after < 0:
            raise ValueError("lockout_after must not be negative")
        if self.prompts not in PROMPT_WORDINGS:
            raise ValueError(f"prompts must be one of {', '.join(PROMPT_WORDINGS)}, not {self.prompts!r}")
        for name in ("cli_delay", "start_seconds", "cancel_seconds", "install_seconds", "reboot_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    @property
    def blocks_on_quiesce(self):
        """Newer cells block in `--quiesce true` until drained; older ones return at once."""
        if self.quiesce_blocks is not None:
            return self.quiesce_blocks
        return self.version in NEWER

    @property
    def active_semantics(self):
        if self.active_after_quiesce is not None:
            return self.active_after_quiesce
        return ACTIVE_UNTIL_DRAINED if self.version in NEWER else ACTIVE_FALSE_AT_ONCE

    @property
    def has_maintenance_mode(self):
        """`cell --maintenance` and the third status line appeared after 5.1."""
        return self.version != "5.1"

    @property
    def has_status_verbose(self):
        return self.version in NEWER

    @property
    def api_versions(self):
        return API_VERSIONS[self.version]

    @property
    def has_cell_states(self):
        """Reading and setting a cell's state through /cloudapi/1.0.0/cells/{urn}: API 38.1, vCD 10.5.1."""
        return "38.1" in self.api_versions

    @property
    def has_cloudapi(self):
        """The /cloudapi provider login arrived long after 5.1."""
        return self.version != "5.1"

    def public(self):
        """The configuration as JSON-friendly data, without the administrator password."""
        data = {k: v for k, v in self.__dict__.items() if k != "admin_password"}
        data.update(
            blocks_on_quiesce=self.blocks_on_quiesce,
            active_semantics=self.active_semantics,
            has_maintenance_mode=self.has_maintenance_mode,
            has_status_verbose=self.has_status_verbose,
        )
        return data


@dataclass
class Job:
    """One task known to the cell (vCD calls them tasks; the tool counts them as jobs)."""

    id: str
    name: str
    operation: str
    owner: str
    org: str
    object_name: str
    object_type: str
    cell_name: str
    started: float
    started_at: str
    # Seconds the job runs; None means until it is cancelled.
    duration: float | None
    cancellable: bool = True
    status: str = JOB_RUNNING
    ended: float | None = None
    cancel_requested: float | None = None

    @property
    def end_due(self):
        """When the job ends by itself or by its cancellation, whichever is first; None if never."""
        due = []
        if self.duration is not None:
            due.append((self.started + self.duration, JOB_SUCCESS))
        if self.cancel_requested is not None and self.cancellable:
            due.append((self.cancel_requested, JOB_CANCELED))
        return min(due) if due else None

    def record(self, now):
        """The job as a vCD AdminTaskRecord-like dict."""
        return {
            "id": self.id,
            "name": self.name,
            "operationFull": self.operation,
            "status": self.status,
            "startDate": self.started_at,
            "ownerName": self.owner,
            "objectName": self.object_name,
            "objectType": self.object_type,
            "org": self.org,
            "cellName": self.cell_name,
            "age_seconds": round(now - self.started, 3),
            "runs_until_cancelled": self.duration is None,
            "cancellable": self.cancellable,
        }


@dataclass
class Timeline:
    """An append-only list of what happened, each entry with a sequence number and a time."""

    events: list = field(default_factory=list)

    def add(self, t, event, **details):
        entry = {"seq": len(self.events) + 1, "t": round(t, 6), "event": event}
        entry.update(details)
        self.events.append(entry)
        return entry

    def since(self, seq=0):
        return [e for e in self.events if e["seq"] > seq]


class Cell:
    """
    A simulated vCD cell. Thread-safe: the web app serves requests from several threads.

    :param config: a :class:`CellConfig`
    :param clock: a callable returning seconds (monotonic); ``time.monotonic`` by default
    """

    def __init__(self, config=None, clock=time.monotonic):
        self.config = config or CellConfig()
        self._clock = clock
        # The clock's reading when the cell was made: timeline times are relative to it, so cells made
        # with the same clock can be put on one time axis as epoch + t.
        self.epoch = clock()
        self._wall_epoch = time.time()
        self._lock = threading.RLock()
        # Process ids as a Linux host would hand out; each start of the cell gets a new one.
        self._pids = itertools.count(random.randrange(2000, 60000))
        self.timeline = Timeline()
        self.jobs = {}
        self.service = SERVICE_RUNNING
        self.serving_from = 0.0
        self.quiesced = False
        self.maintenance_mode = False
        self.failed_logins = 0
        self.pid = next(self._pids)
        self.installed_version = self.config.installed_version
        # The server group whose database this cell shares; None for a cell on its own.
        self.group = None
        # Tasks of cell state changes through the cells API (id -> the state asked for).
        self.state_tasks = {}
        # The appliance this cell runs on (simulator.appliance); None for a Linux install.
        self.appliance = None
        # Its host: the kernel's boot id (new at each boot), and until when a reboot keeps it down.
        self.boot_id = str(uuid.uuid4())
        self.host_down_until = None
        # Faults armed through the control API (simulator.faults), each firing on this timeline.
        self.faults = Faults(self.now, self._record)

    # -- time -------------------------------------------------------------------------------------

    def now(self):
        """Seconds since the cell was created."""
        return self._clock() - self.epoch

    def _iso(self, t):
        stamp = datetime.datetime.fromtimestamp(self._wall_epoch + t, tz=datetime.timezone.utc)
        return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _advance(self):
        """Bring the cell up to now: end due jobs in time order, finish a pending start, a host's boot."""
        if self.appliance is not None:
            # Its host may have rebooted meanwhile (the appliance group shares this cell's lock).
            self.appliance.group.advance()
        now = self.now()
        if self.host_down_until is not None and self.host_down_until <= now:
            self._boot(self.host_down_until)
        while True:
            due = [(job.end_due, job) for job in self._running_jobs() if job.end_due is not None]
            due = [(when, outcome, job) for (when, outcome), job in due if when <= now]
            if self.service == SERVICE_STARTING and self.serving_from <= now:
                due.append((self.serving_from, "serving", None))
            if not due:
                return now
            when, outcome, job = min(due, key=lambda d: d[0])
            if job is None:
                self.service = SERVICE_RUNNING
                self.timeline.add(when, "serving", pid=self.pid)
            else:
                self._end_job(job, outcome, when)

    def _end_job(self, job, outcome, when, **details):
        job.status = outcome
        job.ended = when
        event = {JOB_SUCCESS: "job_end", JOB_CANCELED: "job_cancel", JOB_ABORTED: "job_abort"}[outcome]
        self.timeline.add(when, event, job=job.id, name=job.name, cell_name=job.cell_name, **details)

    def _record(self, when, event, **details):
        with self._lock:
            self.timeline.add(when, event, **details)

    # -- queries ----------------------------------------------------------------------------------

    def _running_jobs(self, local_only=False):
        return [
            job
            for job in self.jobs.values()
            if job.status == JOB_RUNNING and (not local_only or job.cell_name == self.config.cell_name)
        ]

    def _active(self):
        if self.service != SERVICE_RUNNING:
            return False
        if not self.quiesced:
            return True
        if self.config.active_semantics == ACTIVE_UNTIL_DRAINED:
            return bool(self._running_jobs(local_only=True))
        return False

    def status(self, record=False):
        """
        What `cell --status` reports. Raises :class:`CellError` unless the cell serves. ``record``: a
        ``status`` event on the timeline with what was read, as for every run of the tool.
        """
        with self._lock:
            now = self._advance()
            self._require_serving()
            jobs = self._running_jobs(local_only=True)
            if record:
                self.timeline.add(now, "status", job_count=len(jobs), active=self._active(), quiesced=self.quiesced)
            return {
                "job_count": len(jobs),
                "active": self._active(),
                "maintenance": self.maintenance_mode,
                "quiesced": self.quiesced,
                "tasks": [job.record(now) for job in jobs],
            }

    def snapshot(self):
        """Everything about the cell, for the test-control API."""
        with self._lock:
            now = self._advance()
            return {
                "t": round(now, 6),
                "cell_name": self.config.cell_name,
                "version": self.config.version,
                "service": self.service,
                "pid": self.pid if self.service in (SERVICE_RUNNING, SERVICE_STARTING) else None,
                "quiesced": self.quiesced,
                "active": self._active(),
                "maintenance_mode": self.maintenance_mode,
                "job_count": len(self._running_jobs(local_only=True)),
                "jobs": [job.record(now) for job in self.jobs.values()],
                "config": self.config.public(),
            }

    def own_tasks(self):
        """The task records this cell holds (its jobs, and tasks added for other cells)."""
        with self._lock:
            now = self._advance()
            return [job.record(now) for job in self.jobs.values()]

    def tasks(self):
        """Every task record the server group's database would return, all cells included."""
        if self.group is None:
            return self.own_tasks()
        return self.group.tasks()

    def listing(self):
        """This cell as vCD lists the cells of its server group."""
        with self._lock:
            self._advance()
            if self.service != SERVICE_RUNNING:
                status = CELL_INACTIVE
            elif self.maintenance_mode:
                status = CELL_MAINTENANCE
            else:
                status = CELL_QUIESCED if self.quiesced else CELL_ACTIVE
            return {
                "name": self.config.cell_name,
                "primaryIP": self.config.primary_ip,
                "isActive": self.service == SERVICE_RUNNING,
                "productVersion": self.installed_version,
                "status": status,
            }

    def running(self):
        with self._lock:
            self._advance()
            return self.service in (SERVICE_RUNNING, SERVICE_STARTING)

    def events(self, since=0):
        with self._lock:
            self._advance()
            return self.timeline.since(since)

    def serves_requests(self):
        with self._lock:
            self._advance()
            return self.service == SERVICE_RUNNING

    def in_maintenance(self):
        """True when the cell answers users with a maintenance notice (either kind)."""
        with self._lock:
            self._advance()
            return self.service == SERVICE_MAINTENANCE or (self.service == SERVICE_RUNNING and self.maintenance_mode)

    def _require_serving(self):
        if self.service == SERVICE_STARTING:
            raise CellError("The cell is starting and does not answer yet")
        if self.service != SERVICE_RUNNING:
            raise CellError("Cannot connect to the cell: the cell is not running")

    def check_pid(self, pid):
        """`cell -i PID` authenticates by the cell's process id; a wrong one is refused."""
        with self._lock:
            self._advance()
            if self.service not in (SERVICE_RUNNING, SERVICE_STARTING) or str(pid) != str(self.pid):
                raise CellError(f"No running cell has the process id {pid}")

    def check_credentials(self, user, password, via="tool"):
        """Check a system administrator's login; failures count towards the lockout and are recorded."""
        with self._lock:
            now = self._advance()
            limit = self.config.lockout_after
            if limit and self.failed_logins >= limit:
                self.timeline.add(now, "auth_failure", via=via, user=user, locked=True)
                raise CellError(f"Authentication failed: the account {user} is locked")
            if user != self.config.admin_user or password != self.config.admin_password:
                self.failed_logins += 1
                self.timeline.add(now, "auth_failure", via=via, user=user, locked=False)
                raise CellError("Authentication failed: invalid user name or password")
            self.failed_logins = 0

    # -- jobs -------------------------------------------------------------------------------------

    def add_job(
        self,
        seconds=None,
        name="deployVApp",
        operation=None,
        owner="orgadmin",
        org="ExampleOrg",
        object_name=None,
        object_type="vApp",
        cell_name=None,
        cancellable=True,
    ):
        """
        Start a job. ``seconds=None`` runs until cancelled. ``cell_name`` other than this cell's adds a
        task of another cell of the server group: visible through REST, never counted by the tool.
        """
        with self._lock:
            now = self._advance()
            local = cell_name in (None, self.config.cell_name)
            if local and (self.service != SERVICE_RUNNING or self.quiesced):
                why = "quiesced" if self.service == SERVICE_RUNNING else self.service
                self.timeline.add(now, "job_refused", name=name, reason=why)
                raise CellError(f"The cell does not accept new jobs: it is {why}")
            if seconds is not None and seconds < 0:
                raise ValueError("seconds must not be negative")
            job = Job(
                id=str(uuid.uuid4()),
                name=name,
                operation=operation or f"Running {name}",
                owner=owner,
                org=org,
                object_name=object_name or f"{name}-{len(self.jobs) + 1}",
                object_type=object_type,
                cell_name=self.config.cell_name if local else cell_name,
                started=now,
                started_at=self._iso(now),
                duration=seconds,
                cancellable=cancellable,
            )
            self.jobs[job.id] = job
            self.timeline.add(now, "job_start", job=job.id, name=name, seconds=seconds, cell_name=job.cell_name)
            return job.record(now)

    def _job(self, job_id):
        try:
            return self.jobs[job_id]
        except KeyError:
            raise KeyError(f"No task has the id {job_id}") from None

    def _running_job(self, job_id):
        """The job ``job_id``, which must be running (called with the lock held)."""
        job = self._job(job_id)
        if job.status != JOB_RUNNING:
            raise CellError(f"Task {job_id} is not running: it is {job.status}")
        return job

    def hang_job(self, job_id, cancellable=True):
        """Make a job run until cancelled; ``cancellable=False`` makes it ignore cancellation too."""
        with self._lock:
            now = self._advance()
            job = self._running_job(job_id)
            job.duration = None
            job.cancellable = cancellable
            self.timeline.add(now, "job_hang", job=job.id, cancellable=cancellable)
            return job.record(now)

    def end_job(self, job_id):
        """End a running job now, as it would end by itself: what a test does instead of giving it a duration."""
        with self._lock:
            now = self._advance()
            job = self._running_job(job_id)
            self._end_job(job, JOB_SUCCESS, now)
            return job.record(now)

    def cancel_job(self, job_id):
        """A system administrator's cancel; the job ends ``cancel_seconds`` later if it can."""
        with self._lock:
            now = self._advance()
            job = self._job(job_id)
            if job.status != JOB_RUNNING:
                raise CellError(f"Task {job_id} cannot be cancelled: it is {job.status}")
            if job.cell_name == self.config.cell_name:
                self._require_serving()
            self.timeline.add(now, "cancel_request", job=job.id)
            if job.cancel_requested is None:
                job.cancel_requested = now + self.config.cancel_seconds
            self._advance()

    # -- the task scheduler -----------------------------------------------------------------------

    def quiesce(self, quiesced=True, via="tool"):
        """`cell --quiesce true|false`, or the same through the cells API (``via="api"``)."""
        with self._lock:
            now = self._advance()
            self._require_serving()
            self.quiesced = quiesced
            self.timeline.add(
                now,
                "quiesce" if quiesced else "unquiesce",
                job_count=len(self._running_jobs(local_only=True)),
                via=via,
            )

    def set_state(self, state):
        """
        ``PUT /cloudapi/1.0.0/cells/{urn}`` with ``status`` (API 38.1): ACTIVE, QUIESCED or MAINTENANCE.
        Returns the id of the task that completes the change: a quiesce completes once no task of this
        cell runs any more.
        """
        with self._lock:
            now = self._advance()
            self._require_serving()
            if state == CELL_QUIESCED:
                self.quiesce(True, via="api")
            elif state == CELL_ACTIVE:
                if self.maintenance_mode:
                    self.maintenance_mode = False
                    self.timeline.add(now, "maintenance_mode_off", via="api")
                self.quiesce(False, via="api")
            elif state == CELL_MAINTENANCE:
                self.maintenance_mode = True
                self.timeline.add(now, "maintenance_mode_on", via="api")
            else:
                raise ValueError(f"status must be ACTIVE, QUIESCED or MAINTENANCE, not {state!r}")
            task_id = str(uuid.uuid4())
            self.state_tasks[task_id] = {"state": state, "started": now}
            return task_id

    def add_task(self, operation):
        """A task this cell completed at once (a vCenter reconnect); its id, for ``GET /api/task/{id}``."""
        with self._lock:
            now = self._advance()
            task_id = str(uuid.uuid4())
            self.state_tasks[task_id] = {"state": operation, "started": now}
            return task_id

    def state_task(self, task_id):
        """The status of a cell-state task: ``running`` until a quiesce's jobs have ended, then ``success``."""
        with self._lock:
            self._advance()
            task = self.state_tasks[task_id]
            if task["state"] == CELL_QUIESCED and self._running_jobs(local_only=True) and self.quiesced:
                return "running"
            return "success"

    def set_maintenance_mode(self, enabled):
        """`cell --maintenance true|false`: a running cell's maintenance mode."""
        with self._lock:
            now = self._advance()
            self._require_serving()
            if not self.config.has_maintenance_mode:
                raise CellError(f"vCD {self.config.version} has no cell maintenance mode")
            self.maintenance_mode = enabled
            self.timeline.add(now, "maintenance_mode_on" if enabled else "maintenance_mode_off")

    # -- the service ------------------------------------------------------------------------------

    def _stop(self, event, now, **details):
        """Stop the services; jobs still running on this cell fail (are aborted), its VC proxies are lost."""
        jobs = self._running_jobs(local_only=True)
        self.timeline.add(now, event, job_count=len(jobs), active=self._active(), **details)
        for job in jobs:
            # What ended it: a shutdown or stop with jobs is a defect of the caller; a crash is the fault's.
            self._end_job(job, JOB_ABORTED, now, by=event)
        self.service = SERVICE_STOPPED
        self.quiesced = False
        if self.group is not None:
            self.group.cell_stopped(self, now)

    def shutdown(self):
        """`cell --shutdown`: stops the cell whatever it runs."""
        with self._lock:
            now = self._advance()
            self._require_serving()
            self._stop("shutdown", now)

    def crash(self):
        """The cell dies at once (test control)."""
        with self._lock:
            now = self._advance()
            if self.service not in (SERVICE_RUNNING, SERVICE_STARTING):
                raise CellError(f"The cell is not running: it is {self.service}")
            self._stop("crash", now)

    def database_lost(self):
        """
        The database went away under the cell for a moment (a switchover): a cell that is not quiesced
        fails the tasks it was running; a quiesced one keeps them. Returns how many failed.
        """
        with self._lock:
            now = self._advance()
            if self.service != SERVICE_RUNNING or self.quiesced:
                return 0
            jobs = self._running_jobs(local_only=True)
            self.timeline.add(now, "database_lost", job_count=len(jobs))
            for job in jobs:
                self._end_job(job, JOB_ABORTED, now)
            return len(jobs)

    def reboot_host(self):
        """The cell's (Linux) host reboots: the cell stops, and starts at boot ``reboot_seconds`` later."""
        with self._lock:
            now = self._advance()
            if self.host_down_until is not None:
                raise CellError("The host is rebooting already")
            self.timeline.add(now, "reboot", boot_id=self.boot_id)
            self.power_off()
            self.host_down_until = now + self.config.reboot_seconds + self.faults.reboot_delay()

    def host_up(self):
        with self._lock:
            self._advance()
            if self.appliance is not None:
                return self.appliance.host_up
            return self.host_down_until is None

    def _boot(self, when):
        """The host is up again with a new boot id; vmware-vcd starts at boot."""
        self.host_down_until = None
        self.boot_id = str(uuid.uuid4())
        self.timeline.add(when, "boot", boot_id=self.boot_id)
        with contextlib.suppress(CellError):
            self.service_start(at=when)

    def power_off(self):
        """The host goes down under the cell (a reboot): a running cell stops, its jobs aborted."""
        with self._lock:
            now = self._advance()
            if self.service in (SERVICE_RUNNING, SERVICE_STARTING):
                self._stop("power_off", now)
            self.service = SERVICE_STOPPED

    def service_stop(self):
        """`vmware-vcd-cell stop`: stops a running cell, or turns the maintenance message off."""
        with self._lock:
            now = self._advance()
            if self.service == SERVICE_MAINTENANCE:
                self.service = SERVICE_STOPPED
                self.timeline.add(now, "maintenance_message_off")
                return True
            if self.service in (SERVICE_RUNNING, SERVICE_STARTING):
                self._stop("stop", now)
                return True
            return False

    def service_start(self, at=None):
        """
        `vmware-vcd-cell start`: a stopped cell starts and serves ``start_seconds`` later. ``at``: the
        instant of the start on the cell's clock when it is in the past (a boot the cell learns of late).
        """
        with self._lock:
            now = self._advance()
            if at is not None:
                now = min(now, at)
            if self.service == SERVICE_MAINTENANCE:
                raise CellError("The maintenance message is on: run 'vmware-vcd-cell stop' first")
            if self.service != SERVICE_STOPPED:
                return False
            schema = self.group.schema_version if self.group is not None else self.installed_version
            if schema != self.installed_version:
                self.timeline.add(now, "start_refused", installed=self.installed_version, schema=schema)
                raise CellError(
                    f"Cannot start: the cell's software is version {self.installed_version} but the database "
                    f"schema is version {schema}"
                )
            self.pid = next(self._pids)
            self.service = SERVICE_STARTING
            self.serving_from = now + self.config.start_seconds
            self.timeline.add(now, "start", pid=self.pid)
            self._advance()
            return True

    def maintenance_message(self):
        """`vmware-vcd-cell maintenance`: only a stopped cell can show the maintenance message."""
        with self._lock:
            now = self._advance()
            if self.service == SERVICE_MAINTENANCE:
                return False
            if self.service != SERVICE_STOPPED:
                raise CellError("The cell is running: stop it before turning the maintenance message on")
            self.service = SERVICE_MAINTENANCE
            self.timeline.add(now, "maintenance_message_on")
            return True

    # -- software --------------------------------------------------------------------------------

    def install(self, version):
        """The installer, once confirmed: upgrades a stopped cell's software to ``version``."""
        with self._lock:
            now = self._advance()
            if self.service in (SERVICE_RUNNING, SERVICE_STARTING):
                self.timeline.add(now, "install_refused", version=version, reason="running")
                raise CellError("The VMware Cloud Director service is running: stop it before you upgrade")
            if version == self.installed_version:
                raise CellError(f"Version {version} is already installed")
            if self.config.install_fault:
                self.timeline.add(now, "install_failed", version=version)
                raise CellError(f"Installing vmware-vcloud-director-distribution-{version} failed: rpm exited 1")
            self.timeline.add(now, "install", version=version, previous=self.installed_version)
            self.installed_version = version

    # -- the tools --------------------------------------------------------------------------------

    def record_invocation(self, tool, argv, age=None):
        """
        Every run of a stub CLI, with its arguments as the process received them; ``age``: seconds since
        its process started, so the run's ``started`` time is when it was started, not when it called.
        Returns the fault this run meets (``"fail"``, ``"hang"``) or None.
        """
        with self._lock:
            now = self._advance()
            started = round(now - age, 6) if age is not None else None
            self.timeline.add(now, "cli", tool=tool, argv=list(argv), started=started)
            return self.faults.tool_run(tool)

    def clear_faults(self):
        """Every armed fault cleared; a host held down by a ``never`` reboot fault boots now."""
        with self._lock:
            self.faults.clear()
            if self.appliance is not None:
                self.appliance.release_reboot()
            elif self.host_down_until == math.inf:
                self.host_down_until = self.now()
            self._advance()

    def reconfigure(self, **changes):
        """Change knobs of the running simulation (test control)."""
        with self._lock:
            self._advance()
            merged = dict(self.config.__dict__, **changes)
            unknown = set(changes) - set(self.config.__dict__)
            if unknown:
                raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
            before = self.config
            self.config = CellConfig(**merged)
            if self.service == SERVICE_STARTING:
                # A start under way takes as long as the knob now says (a test ends a long start so).
                self.serving_from += self.config.start_seconds - before.start_seconds
                self._advance()
            return self.config.public()
