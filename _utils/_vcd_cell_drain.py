"""
The drain: quiesce a cell, wait until the tool reports 0 jobs and an inactive scheduler (the REST API
polled cheaply meanwhile, the tool confirming), report progress on the way, and shut the cell down on
the very reading that confirmed it drained.
"""

import time

import _vcd_cell_api as rest
import _vcd_cell_errors as errors
import _vcd_cell_events as events
import _vcd_cell_lease as leases
import _vcd_cell_tools as tools


class Progress:
    """
    Drain progress on the master's event bus, at most once per ``event_interval``; sent without
    holding up the drain (see :class:`_vcd_cell_events.Events`).
    """

    def __init__(self, settings, started, deadline):
        self.settings = settings
        self.started = started
        self.deadline = deadline
        self.tag = f"vcd/cell/{settings.minion_id}/drain"
        self.events = events.Events(settings)
        self.last_sent = None

    def report(self, job_count, tasks, force=False, vcenter_proxies=None):
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
        if vcenter_proxies:
            # The vCenters whose work stalls once this cell stops, until their proxies move.
            data["vcenter_proxies"] = [vcenter["name"] for vcenter in vcenter_proxies]
        self.events.send(self.tag, data)

    def close(self):
        self.events.close()


# -- waiting ---------------------------------------------------------------------------------------


def drained(reading):
    return reading["job_count"] == 0 and not reading["active"]


def lost_jobs_error(settings, cause, tasks, reading):
    """
    The error for a drain whose tool failed: a cell that stopped under it lost its jobs, and says so;
    a cell still running reports the tool's own failure.
    """
    if tools.service_runs(settings):
        return cause
    if tasks:
        lost = f"{len(tasks)} job(s) were still running and are lost: {rest.describe_tasks(tasks)}"
    elif reading:
        lost = f"the tool last reported {reading['job_count']} job(s), now lost"
    else:
        lost = "jobs running on it may be lost (set vcd_cell:api_url to know which)"
    return errors.JobsLost(f"The cell stopped during the drain, before it was drained: {lost}")


class Drain:
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
        self.progress = Progress(settings, self.started, self.deadline)
        self.reading, self.tasks, self.quiesce_run, self.quiesce_task = None, None, None, None
        self.jobs_at_start = None
        self.next_tool_run = self.started
        # The tasks are listed before anything else, so that a cell dying under the drain can name the
        # jobs it lost.
        self.api = rest.open_api(settings)
        self._poll_api()
        self.vcenter_proxies = rest.hosted_proxies(self.api)

    def quiesce(self):
        """Through the cells API where the cell has it (vCD 10.5.1: no tool start), else the tool."""
        self.quiesce_if_active = False
        record = rest.own_cell(self.api)
        with leases.quiescing():
            if record is None:
                self.quiesce_run = tools.ToolRun(self.settings, ["--quiesce", "true"])
            else:
                self.quiesce_task = self.api.set_cell_state(record, "QUIESCED")

    def _poll_api(self):
        if self.api is None:
            return
        polled = rest.poll_tasks(self.api)
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
        except errors.CellError as exc:
            raise errors.QuiesceFailed(str(lost_jobs_error(self.settings, exc, self.tasks, self.reading))) from None
        if self.quiesce_task is None:
            return
        if self.api is None:
            self.quiesce_task = None  # the API failed: the quiesce holds, the tool confirms from now on
            return
        try:
            done = rest.wait_for_task(self.api, self.quiesce_task, 0)
        except errors.CellError as exc:
            raise errors.QuiesceFailed(str(lost_jobs_error(self.settings, exc, self.tasks, self.reading))) from None
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
            self.reading = tools.read_status(self.settings)
        except errors.CellError as exc:
            raise lost_jobs_error(self.settings, exc, self.tasks, self.reading) from None
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
            "vcenter_proxies": self.vcenter_proxies,
        }

    def _pause(self, now):
        tick = min(self.interval, rest.API_POLL_SECONDS) if self.api else self.interval
        pause = max(0.0, min(tick, self.deadline - now))
        if self.quiesce_run is not None:
            self.quiesce_run.wait(pause)
        else:
            time.sleep(pause)

    def run(self):
        while True:
            now = time.monotonic()
            if self.lease:
                leases.renew_lease(self.settings, self.lease)
            self._check_quiesce()
            self._poll_api()
            if self._tool_due(now) and drained(self._read_status(now)):
                self.progress.report(0, [], force=True, vcenter_proxies=self.vcenter_proxies)
                return self._outcome(True, now)
            job_count = len(self.tasks) if self.tasks is not None else (self.reading or {}).get("job_count")
            self.progress.report(job_count, self.tasks, vcenter_proxies=self.vcenter_proxies)
            if now >= self.deadline:
                return self._outcome(False, now)
            self._pause(now)

    def close(self):
        if self.quiesce_run is not None:
            self.quiesce_run.kill()
        if self.api is not None:
            self.api.close()
        self.progress.close()


def wait(settings, timeout, interval, quiesce=None, lease=0, shutdown=False):
    """
    Wait as :class:`Drain` does. ``quiesce``: ``"first"`` quiesces the cell before anything else,
    ``"if active"`` only when a reading finds its scheduler active; None never. With ``shutdown``, a cell
    found drained is shut down at once: the tool has just read 0 jobs and an inactive scheduler (so no new
    job can start there), and a second reading would only cost another tool start. Nothing comes between
    that reading and the shutdown: the API session and the progress events are closed after it.
    """
    watch = Drain(settings, timeout, interval, lease, quiesce_if_active=quiesce == "if active")
    try:
        if quiesce == "first":
            watch.quiesce()
        outcome = watch.run()
        outcome["shut_down"] = False
        if shutdown and outcome["drained"]:
            tools.cell_tool(settings, "--shutdown")
            leases.mark_stopped(settings)
            outcome["shut_down"] = True
    finally:
        watch.close()
    return outcome
