"""
One run of an orchestration for the fault matrix, in a process of its own: ``python -m tests.faults.run
SPEC.json`` prints ``{"return": the runner's return, "trace": ...}`` as JSON.

The runner (``_runners/``) and the execution module and states run for real, under Salt's loader: the
runner as salt-run loads it, and each fake cell behind a minion's loader (simulator.local_minion) in a
process of its own, as a minion is (Salt's state rendering in one process resolves ``salt[...]`` to the
last loader built, so minions cannot share one). :class:`LoaderCells` reaches them and answers as
:class:`_vcd_orchestration.Cells` does: a job reaches its cells in order (the middle of a step is as the
job reaches its last cell, the others reached) and runs on them at once. A killed salt-run is a real
SIGKILL of the process that runs the runner; a lost job, a real SIGKILL of the cell's minion process as
the job reaches it (it is started again for the next job, as a restarted minion is).

The spec: ``orchestration`` (``upgrade`` or ``rolling``), ``kwargs`` for it, ``cells`` (``{id: {"url": the
fake cell's, "settings": {"vcd_cell": ...}}}``), ``root`` (the master's and the minions' files, kept across
the runs of a case), and ``fault`` (None, or ``{"step", "execution", "cell", "kind", ...}``: armed when the
step's ``execution``-th run first acts on ``cell``), and ``measure`` (whether the trace says what each cell
met). The trace says, per step and run of it, which cells it acted on in order and, measured, what each
met: tool runs, API requests, whether the cell ran.
"""

import concurrent.futures
import contextlib
import fnmatch
import importlib
import itertools
import json
import multiprocessing
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import traceback

import requests
import salt.config
import salt.loader
import salt.loader.lazy
from salt.exceptions import CommandExecutionError, SaltInvocationError

from simulator.local_minion import REPO, load_minion

sys.path.insert(0, str(REPO / "_utils"))

import _vcd_orchestration as orchestration  # noqa: E402
import _vcd_orchestration_ssh as transports  # noqa: E402

RUNNERS = {"upgrade": "vcd_upgrade.upgrade", "rolling": "vcd_rolling.rollout"}
HTTP_TIMEOUT = 30
WARM_SLS = ("vcd.drained", "vcd.active")
# What a job calls besides vcd_cell.*: loaded in the minion before its jobs are forked from it.
WARM_FUNCTIONS = (
    "vcd_cell.version",
    "vcd_cell.appliance_nodes",
    "vcd_cell.boot_id",
    "vcd_cell.window_claim",
    "cmd.run_all",
    "config.get",
)
# What every fake minion's loader imports that is not a loader module (Salt's gitfs pulls GitPython in as
# the file server starts, the execution module its _utils): imported once in the run's process, before
# the minions are forked from it, rather than once in each.
PRELOADED = (
    "salt.utils.gitfs",
    "salt.utils.cloud",
    "salt.utils.job",
    "salt.runner",
    "salt.wheel",
    "saltext.vcd_cell.loader",
    "_vcd_cell_api",
    "_vcd_cell_appliance",
    "_vcd_cell_drain",
    "_vcd_cell_tools",
    "_vcd_cell_upgrade",
    "_vcd_cell_vamicli",
    "_vcd_cell_window",
    "_vcd_orchestration_window",
)
# Seconds a fake minion is given to end once the run is over.
STOP_SECONDS = 2
FORK = multiprocessing.get_context("fork")
# Where a run says that it fired its fault, in the case's root, and what a second run beside it returned.
FIRED = "fired.json"
SECOND = "second.json"
SECOND_RUN_TIMEOUT = 120
# What the transport does at a fault's moment (Tracer.before).
LOST, CUT, RESTART = "lost", "cut", "restart"
TRANSPORT_FAULTS = {"job-lost": LOST, "connection-cut": CUT, "master-restarted": RESTART}


class FakeCell:
    """The control API of one fake cell, as the harness reads and arms it."""

    def __init__(self, url):
        self.url = url.rstrip("/")

    def seen(self):
        """How many tool runs and API requests the cell has seen, and whether it runs."""
        timeline = requests.get(f"{self.url}/sim/timeline", timeout=HTTP_TIMEOUT).json()["events"]
        faults = requests.get(f"{self.url}/sim/faults", timeout=HTTP_TIMEOUT).json()
        state = requests.get(f"{self.url}/sim/state", timeout=HTTP_TIMEOUT).json()
        return {
            "tools": [event["tool"] for event in timeline if event["event"] == "cli"],
            "requests": faults["requests"],
            "running": state["service"] in ("running", "starting"),
        }

    def arm(self, fault):
        answer = requests.post(f"{self.url}/sim/faults", json=fault, timeout=HTTP_TIMEOUT)
        answer.raise_for_status()

    def crash(self):
        requests.post(f"{self.url}/sim/crash", timeout=HTTP_TIMEOUT).raise_for_status()


class Tracer:
    """
    Which step runs now, what each of its runs acted on (with ``measure``, what each cell met there), and
    the fault that is due.
    """

    def __init__(self, cells, fault, root, measure, spec=None):
        self.cells = cells
        self.spec = spec
        self.fault = fault
        self.root = root
        self.measure = measure
        self.trace = {}
        self.seconds = {}
        self.current = None

    def steps(self, steps):
        return [(name, self._traced(name, step)) for name, step in steps]

    def _traced(self, name, step):
        def traced(cells, context):
            runs = self.trace.setdefault(name, [])
            runs.append({})
            self.current = (name, len(runs) - 1)
            started = time.monotonic()
            try:
                return step(cells, context)
            finally:
                self._close(runs[-1])
                self.seconds[name] = self.seconds.get(name, 0) + time.monotonic() - started
                self.current = None

        return traced

    def _close(self, touched):
        if not self.measure:
            return
        for cell, seen in touched.items():
            now = self.cells[cell].seen()
            seen["tools"] = now["tools"][len(seen.pop("tools_before")) :]
            seen["requests"] = {api: now["requests"][api] - n for api, n in seen.pop("requests_before").items()}

    def before(self, cell):
        """
        Called before the transport acts on ``cell``: the fault's moment, if this is it. What the transport
        then does: None (as ever), :data:`LOST` (the job is lost with the minion), :data:`CUT` (the call's
        connection to the host cut, what runs there running on) or :data:`RESTART` (the master restarts).
        """
        if self.current is None:
            return None
        name, index = self.current
        touched = self.trace[name][index]
        if cell not in touched:
            touched[cell] = self._before(cell) if self.measure else {}
            fault = self.fault
            if fault and (fault["step"], fault["execution"], fault["cell"]) == (name, index, cell):
                return self._fire(cell)
        return None

    def _before(self, cell):
        seen = self.cells[cell].seen()
        return {"tools_before": seen["tools"], "requests_before": seen["requests"], "running": seen["running"]}

    def _fire(self, cell):
        kind, target = self.fault["kind"], self.cells[cell]
        # Said before it acts: a killed run says nothing after.
        (self.root / FIRED).write_text(json.dumps({"kind": kind, "cell": cell}))
        if kind == "runner-killed":
            os.kill(os.getpid(), signal.SIGKILL)
        if kind in TRANSPORT_FAULTS:
            return TRANSPORT_FAULTS[kind]
        if kind == "second-run":
            self._second_run()
        elif kind == "crash":
            target.crash()
        else:
            target.arm(self.fault["arm"])
        return None

    def _second_run(self):
        """The same run started again beside this one, in a process of its own; what it returned, in SECOND."""
        spec = dict(self.spec, fault=None, measure=False)
        spec_file, out_file = self.root / "second-spec.json", self.root / "second.out"
        spec_file.write_text(json.dumps(spec))
        with out_file.open("w") as out:
            subprocess.run(
                [sys.executable, "-m", "tests.faults.run", str(spec_file)],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.DEVNULL,
                timeout=SECOND_RUN_TIMEOUT,
                check=True,
            )
        (self.root / SECOND).write_text(json.dumps(json.loads(out_file.read_text())["return"]))


def _run(functions, fun, arg, kwarg):
    """
    What a minion would return: ``(return, return code)``, the function's return and 0, or its error as
    Salt words it and 1; for a job of several functions, each one's, where one that failed has none (a
    function that raises there gets no code from Salt).
    """
    if fun == "_compound":
        runs = {name: _run(functions, name, list(a), dict(k or {})) for name, a, k in arg[0]}
        returns = {name: ret for name, (ret, _) in runs.items()}
        return returns, {name: code for name, (_, code) in runs.items() if code == 0}
    if fun not in functions:
        return f"'{fun}' is not available.", 1
    try:
        return functions[fun](*arg, **kwarg), 0
    except CommandExecutionError as exc:
        return f"ERROR: {exc}", 1
    except SaltInvocationError as exc:
        return f"ERROR executing '{fun}': {exc}", 1
    except Exception:  # pylint: disable=broad-except
        return f"The minion function caused an exception: {traceback.format_exc()}", 1


def _job(connection, functions, job):
    connection.send(_run(functions, *job))
    # Done once its return is sent, as a minion's job process is: what it started (the drain's event
    # thread, Salt's exit handlers) is not waited for.
    os._exit(0)


def _warm(functions):
    """
    What every job would load again, loaded once in the minion's process before any job is forked from
    it (the execution module, the state system, the SLS rendered): touching no cell.
    """
    for sls in WARM_SLS:
        functions["state.show_sls"](sls)
    for name in WARM_FUNCTIONS:
        functions[name]  # pylint: disable=pointless-statement


def _remember_file_mappings():
    """
    Salt's loader lists its module directories anew for every loader it builds, and each job builds
    several (the state system's, the pillar's): a fake minion, whose module files do not change while it
    runs, lists each set of directories once.
    """
    original = salt.loader.lazy.LazyLoader._refresh_file_mapping
    found = {}

    def refresh(loader):
        key = (tuple(loader.module_dirs), tuple(loader.suffix_order), frozenset(loader.disabled))
        key += tuple(loader.static_modules)
        if key not in found:
            original(loader)
            found[key] = (dict(loader.file_mapping), dict(loader.suffix_map), list(loader.suffix_order))
            return
        mapping, suffix_map, suffix_order = found[key]
        loader.file_mapping = dict(mapping)
        loader.suffix_map.update(suffix_map)
        loader.suffix_order[:] = suffix_order

    salt.loader.lazy.LazyLoader._refresh_file_mapping = refresh


def _serve(connection, name, root, settings):
    """
    A fake cell's minion: its loader, and each job it is sent in a process of its own, forked from it as
    a minion's are (its reboot command waits for that process to end, as on a real minion), several at
    once (a job the orchestration stopped waiting for runs on while the next one comes).
    """
    _remember_file_mappings()
    functions = load_minion(name, root, settings)[1]
    _warm(functions)
    sending = threading.Lock()

    def run(job_id, job):
        ours, theirs = multiprocessing.Pipe()
        process = FORK.Process(target=_job, args=(theirs, functions, job))
        process.start()
        answer = ours.recv()
        with sending:
            connection.send((job_id, answer))
        process.join()

    while (message := connection.recv()) is not None:
        threading.Thread(target=run, args=message, daemon=True).start()
    # Salt's exit handlers in a forked process wait on what the process it was forked from started.
    os._exit(0)


class JobLost(Exception):
    """The minion died with the job."""


class Minion:
    """
    A fake cell's minion process (see :func:`_serve`), started again after it was killed; :meth:`run`
    gives each job's return as a future.
    """

    def __init__(self, name, root, settings):
        self.args = (name, root, settings)
        self.process = None
        self.lock = threading.Lock()
        self.jobs = {}
        self.ids = itertools.count()

    def _start(self):
        self.connection, theirs = multiprocessing.Pipe()
        self.process = FORK.Process(target=_serve, args=(theirs, *self.args))
        self.process.start()
        threading.Thread(target=self._returns, args=(self.connection,), daemon=True).start()

    def _returns(self, connection):
        with contextlib.suppress(EOFError, OSError):
            while True:
                job_id, answer = connection.recv()
                with self.lock:
                    job = self.jobs.pop(job_id)
                job.set_result(answer)

    def run(self, fun, arg, kwarg):
        job = concurrent.futures.Future()
        with self.lock:
            if self.process is None:
                self._start()
            job_id = next(self.ids)
            self.jobs[job_id] = job
            self.connection.send((job_id, (fun, arg, kwarg)))
        return job

    def kill(self):
        """SIGKILL the minion process, as a service restart or an OOM kill ends it: its jobs are lost."""
        with self.lock:
            if self.process is None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            self.process.join()
            self.process = None
            lost, self.jobs = self.jobs, {}
        for job in lost.values():
            job.set_exception(JobLost())

    def stop(self):
        """Asked to end once the run is over; SIGKILLed when it does not end soon."""
        if self.process is not None:
            self.connection.send(None)
            self.process.join(timeout=STOP_SECONDS)
            self.kill()


def dispatch(calls, cells, fun, arg, kwarg, timeout):
    """
    One job on the fake minions of ``cells`` (``calls``: :class:`LoaderCells` or :class:`LoaderSshCells`),
    reaching them in order, the fault's moment checked at each (:meth:`Tracer.before`), run on all of them
    at once, as Salt's publish does; a cell that has not returned within ``timeout`` (default the plan's)
    is silent, its job running on. A master restarted there: the job runs on every cell to its end, its
    returns lost with the runner.
    """
    what = ", ".join(name for name, _, _ in arg[0]) if fun == "_compound" else fun
    reached, silent, cut, restart = [], {}, [], False
    # The window's heartbeat calls the cells from a thread of its own: no step's act, no fault's moment.
    traced = threading.current_thread() is threading.main_thread()
    for cell in cells:
        done = calls.tracer.before(cell) if traced else None
        if done == LOST:
            # The minion killed as the job reaches it: the job is lost; the next one finds it restarted.
            calls.minions[cell].kill()
            silent[cell] = orchestration.job_lost(what)
            continue
        cut += [cell] if done == CUT else []
        restart = restart or done == RESTART
        reached.append(cell)
    timeout = timeout or calls.timeout
    running = {cell: calls.minions[cell].run(fun, list(arg), dict(kwarg or {})) for cell in reached}
    concurrent.futures.wait(running.values(), timeout=timeout)
    if restart:
        os.kill(os.getpid(), signal.SIGKILL)
    answers = orchestration.Answers(silent=silent)
    for cell, job in running.items():
        if cell in cut:
            answers.silent[cell] = "salt-ssh could not reach it or lost its connection (Connection to the host closed.)"
        elif not job.done():
            # As Cells says it: the step's deadline passed; the job runs on, on the cell.
            answers.silent[cell] = orchestration.no_return(what, timeout)
        elif job.exception() is not None:
            answers.silent[cell] = orchestration.job_lost(what)
        else:
            answers[cell], answers.codes[cell] = job.result()
    return answers


class LoaderCells(orchestration.Cells):
    """The fake cells' minion processes, answering as :class:`_vcd_orchestration.Cells` does."""

    what = "fake cell"

    def __init__(self, minions, timeout, tracer):  # pylint: disable=super-init-not-called
        self.minions = minions
        self.timeout = timeout
        self.tracer = tracer
        self.changed = {}

    def targets(self, expression, tgt_type):
        if tgt_type != "glob":
            raise SaltInvocationError("the fault matrix's cells are named by a list or a glob")
        return sorted(name for name in self.minions if fnmatch.fnmatch(name, expression))

    def call(self, cells, fun, arg=(), kwarg=None, timeout=None):
        """
        The job reaches its cells in order, the fault's moment checked at each (:meth:`Tracer.before`),
        and runs on all of them at once, as Salt's publish does; a cell that has not returned within
        ``timeout`` (default the plan's) is silent, its job running on.
        """
        return dispatch(self, cells, fun, arg, self.windowed(fun, kwarg), timeout)

    def call_each(self, cells, calls, timeout=None):
        answers = {fun: orchestration.Answers() for fun, _, _ in calls}
        for cell in cells:
            job = self.call(
                [cell],
                "_compound",
                [[(fun, list(arg), self.windowed(fun, kwarg)) for fun, arg, kwarg in calls]],
                timeout=timeout,
            )
            for fun, _, _ in calls:
                if cell in job:
                    answers[fun][cell] = job[cell][fun]
                    answers[fun].codes[cell] = job.codes[cell].get(fun, 1)
                else:
                    answers[fun].silent[cell] = job.why_silent(cell)
        return answers

    def close(self):
        """The minions live as long as the run."""


class LoaderSshCells(transports.SshCells):
    """
    The fake cells reached as salt-ssh reaches its targets (``ssh: true``): :class:`SshCells
    <_vcd_orchestration_ssh.SshCells>` itself, every ``vcd_cell.*`` function in a ``vcd_cell.call`` state
    run, with the fake minions in place of ``salt-ssh``'s connections.
    """

    what = "fake cell over salt-ssh"
    __init__ = LoaderCells.__init__
    targets = LoaderCells.targets

    def _ssh(self, cells, fun, arg, kwarg, timeout):
        if not cells:
            return orchestration.Answers()
        # salt-ssh's own wait is for the connection; a call runs to its end, as long as the plan allows.
        return dispatch(self, cells, fun, arg, kwarg, self.timeout)

    def close(self):
        """The minions live as long as the run."""


def master_opts(root):
    opts = salt.config.master_config(None)
    opts.update(
        cachedir=str(root / "master" / "cache"),
        sock_dir=str(root / "master" / "sock"),
        pki_dir=str(root / "master" / "pki"),
        runner_dirs=[str(REPO / "_runners")],
        utils_dirs=[str(REPO / "_utils")],
    )
    return opts


def run(spec):
    for name in PRELOADED:
        importlib.import_module(name)
    root = pathlib.Path(spec["root"])
    cells = {name: FakeCell(cell["url"]) for name, cell in spec["cells"].items()}
    tracer = Tracer(cells, spec.get("fault"), root, spec.get("measure", False), spec)
    minions = {name: Minion(name, root / "minions" / name, cell["settings"]) for name, cell in spec["cells"].items()}
    transports.reach = lambda opts, timeout, ssh: (LoaderSshCells if ssh else LoaderCells)(minions, timeout, tracer)
    run_steps = orchestration.run_steps
    orchestration.run_steps = lambda steps, *args, **kwargs: run_steps(tracer.steps(steps), *args, **kwargs)
    opts = master_opts(root)
    runners = salt.loader.runner(opts, utils=salt.loader.utils(opts))
    try:
        returned = runners[RUNNERS[spec["orchestration"]]](**spec["kwargs"])
    finally:
        for minion in minions.values():
            minion.stop()
    return {"return": returned, "trace": tracer.trace, "seconds": tracer.seconds}


def main(argv):
    spec = json.loads(pathlib.Path(argv[0]).read_text())
    print(json.dumps(run(spec), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
