"""
The quiesce lease, and the claim of one drain per cell.

A drain that quiesced a cell and then died (a dropped ssh session, a killed job, a killed minion) must
not leave the cell quiesced forever. Before the quiesce, the drain writes a lease (a file in the lease
directory, ``vcd_cell:lease_dir``) and makes sure a keeper process guards it: a grandchild of the drain
in a session of its own, so it outlives the drain's process group, its terminal and the minion daemon,
and needs nothing but the cell host. The drain renews the lease while it waits and releases it once the
cell is shut down. If the lease runs out, the keeper unquiesces the cell (if it still runs). One lock
file serialises every change of the lease, so the keeper never acts on a lease that was renewed or
released meanwhile.

Every function takes the module's settings (:func:`_vcd_cell_settings.read`, or
:func:`_vcd_cell_settings.lease_only` where the lease alone is concerned): ``settings.lease_dir`` holds the
files, shared by every way Salt reaches the host (minion, ``salt-call``, salt-ssh).
"""

import contextlib
import datetime
import fcntl
import json
import logging
import os
import select
import signal
import time

import _vcd_cell_errors as errors
import _vcd_cell_events as events
import _vcd_cell_settings as config
import _vcd_cell_tools as tools

log = logging.getLogger(__name__)

LEASE_FILE = "quiesce_lease.json"
# The cell shut down by this extension, and when (mark_stopped).
STOPPED_FILE = "stopped.json"
# Locks in the lease's directory: held by the run that drains the cell, and by the lease's keeper.
DRAIN_LOCK = "drain.lock"
KEEPER_LOCK = "keeper.lock"
# The keeper looks at the lease this often (so a released lease ends it at once), and tries again this
# often when the cell could not be unquiesced.
LEASE_POLL_SECONDS = 0.25
LEASE_RETRY_SECONDS = 10
LEASE_GIVE_UP_SECONDS = 600
KEEPER_START_SECONDS = 10


def lease_file(settings, name):
    os.makedirs(settings.lease_dir, mode=0o700, exist_ok=True)
    return os.path.join(settings.lease_dir, name)


@contextlib.contextmanager
def lease_lock(settings):
    """Exclusive use of the lease record, across every process of this host."""
    fd = os.open(lease_file(settings, "lease.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def read_lease(settings):
    return read_json(lease_file(settings, LEASE_FILE))


def _write_json(settings, name, record):
    """Written whole, so a reader never sees half a record."""
    path = lease_file(settings, name)
    partial = path + ".new"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    os.replace(partial, path)


def write_lease(settings, lease):
    _write_json(settings, LEASE_FILE, lease)


def remove_lease(settings):
    with contextlib.suppress(FileNotFoundError):
        os.remove(lease_file(settings, LEASE_FILE))


def mark_stopped(settings):
    """
    This extension shut the cell down (a drain, ``vcd_cell.shutdown``): when, kept in the lease's
    directory until it starts the cell (:func:`clear_stopped`). The ``vcd_cell`` beacon tells a cell
    stopped so from one stopped behind everyone's back.
    """
    _write_json(settings, STOPPED_FILE, {"at": time.time(), "pid": os.getpid()})


def clear_stopped(settings):
    with contextlib.suppress(FileNotFoundError):
        os.remove(lease_file(settings, STOPPED_FILE))


def this_run(opts):
    """Who runs this drain, for a person: the process and how Salt was started, never its command line."""
    if config.over_ssh(opts):
        how = "salt-ssh"
    elif opts.get("__cli") == "salt-call":
        how = "salt-call --local" if config.masterless(opts) else "salt-call"
    else:
        how = "salt-minion job"
    since = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return {"pid": os.getpid(), "run": how, "since": since}


def describe_run(run):
    return f"pid {run.get('pid')} ({run.get('run')}, since {run.get('since')})"


def held_by_a_live_process(settings, name):
    """
    Whether a process holds the lock ``name`` (a drain, or the keeper): the kernel drops a lock with its
    holder, so a killed process never looks alive, whatever became of its pid.
    """
    path = lease_file(settings, name)
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


def hold(settings, name, record):
    """Take the lock ``name`` for this process and write ``record`` into it; its fd, or None when taken."""
    fd = os.open(lease_file(settings, name), os.O_RDWR | os.O_CREAT, 0o600)
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


def claim_cell(settings):
    """This process drains the cell; an error naming the other run when one already does."""
    path = lease_file(settings, DRAIN_LOCK)
    if path in _CLAIMS:
        return
    fd = hold(settings, DRAIN_LOCK, this_run(settings.opts))
    if fd is None:
        other = read_json(path) or {}
        if other.get("pid") == os.getpid():
            return  # this process's own claim, taken by an earlier load of this module
        raise errors.AnotherDrain(
            f"Another drain of this cell is running: {describe_run(other)}. Nothing was touched; "
            "wait for it to end (or stop it), then apply again"
        )
    _CLAIMS[path] = fd


def end_claim(settings):
    fd = _CLAIMS.pop(lease_file(settings, DRAIN_LOCK), None)
    if fd is not None:
        os.close(fd)


@contextlib.contextmanager
def quiescing():
    """A failure of what runs inside is the quiesce's own failure (see :func:`leased`)."""
    try:
        yield
    except errors.QuiesceFailed:
        raise
    except errors.CellError as exc:
        raise errors.QuiesceFailed(str(exc)) from None


def arrange_lease(settings, seconds):
    """
    Before a quiesce: a lease that runs out ``seconds`` from now, guarded by a keeper. A keeper already
    guarding this cell's lease (a re-applied drain) is kept: one lease, one keeper per cell. Returns
    whether the lease is new (none was held).
    """
    with lease_lock(settings):
        fresh = read_lease(settings) is None
        write_lease(settings, {"expires": time.time() + seconds, "seconds": seconds, "by": this_run(settings.opts)})
        if not held_by_a_live_process(settings, KEEPER_LOCK):
            try:
                start_keeper(settings)
            except errors.LeaseError:
                remove_lease(settings)
                raise
    return fresh


@contextlib.contextmanager
def leased(settings, seconds):
    """
    A quiesce under a lease of ``seconds`` (none for 0). When the quiesce itself fails, a lease this run
    took is ended again: its keeper would otherwise "unquiesce", at its end, a cell nobody quiesced.
    """
    fresh = arrange_lease(settings, seconds) if seconds else False
    try:
        yield
    except errors.QuiesceFailed:
        if fresh:
            with lease_lock(settings):
                remove_lease(settings)
        raise


def renew_lease(settings, seconds):
    """Push the lease's end ``seconds`` from now; an error when it was released or ran out meanwhile."""
    with lease_lock(settings):
        lease = read_lease(settings)
        if lease is None:
            raise errors.LeaseError(
                "The quiesce lease ended while the drain waited (it ran out, or was released by vcd.active "
                "or vcd_cell.release_lease): the cell may be back in service, so it is not shut down"
            )
        lease["expires"] = time.time() + seconds
        write_lease(settings, lease)


def report(settings):
    """
    The lease as a person reads it: held, when it expires and in how many seconds, which drain took it,
    its keeper (alive or gone), the drain running on this host now, if any, and when this extension
    last shut the cell down (``stopped_at``, until it starts it again).
    """
    with lease_lock(settings):
        record = read_lease(settings)
        keeper = read_json(lease_file(settings, KEEPER_LOCK)) if held_by_a_live_process(settings, KEEPER_LOCK) else None
    drain = read_json(lease_file(settings, DRAIN_LOCK)) if held_by_a_live_process(settings, DRAIN_LOCK) else None
    summary = {"held": record is not None, "expires": None, "seconds_left": None, "taken_by": None}
    if record is not None:
        expires = datetime.datetime.fromtimestamp(record["expires"], datetime.timezone.utc)
        summary.update(
            expires=expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            seconds_left=max(0, round(record["expires"] - time.time())),
            taken_by=describe_run(record.get("by") or {}),
        )
    summary["keeper"] = {"pid": keeper.get("pid"), "alive": True} if keeper else None
    summary["drain"] = describe_run(drain) if drain else None
    stopped = read_json(lease_file(settings, STOPPED_FILE))
    summary["stopped_at"] = stopped.get("at") if isinstance(stopped, dict) else None
    return summary


def release(settings):
    """End the lease and this process's claim on the cell; whether there was a lease."""
    with lease_lock(settings):
        held = read_lease(settings) is not None
        remove_lease(settings)
    end_claim(settings)
    return held


# -- the keeper ------------------------------------------------------------------------------------


def start_keeper(settings):
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
    raise errors.LeaseError(
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
    _keeper_log(settings.opts)
    with contextlib.suppress(ImportError):
        import setproctitle  # pylint: disable=import-outside-toplevel

        setproctitle.setproctitle(f"vcd_cell lease keeper (cell {settings.cell_name}, minion {settings.minion_id})")
    if hold(settings, KEEPER_LOCK, {"pid": os.getpid()}) is None:
        raise RuntimeError("another keeper guards the lease")


def _keeper_log(opts):
    """The keeper logs to the minion's log file, as the drain did, at the minion's level for that file."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    path = opts.get("log_file")
    if not path or "://" in str(path):
        root.addHandler(logging.NullHandler())
        return
    level = logging.getLevelName(str(opts.get("log_level_logfile") or "warning").upper())
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
        with lease_lock(settings):
            lease = read_lease(settings)
            if lease is None:
                return 0
            left = lease["expires"] - time.time()
            if left <= 0:
                outcome = _act_on_expired_lease(settings, overdue=-left)
                if outcome is not None:
                    remove_lease(settings)
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
        running = tools.service_runs(settings)
        if running:
            tools.cell_tool(settings, "--quiesce", "false")
        return {"unquiesced": running, "error": None}
    except errors.CellError as exc:
        if overdue >= LEASE_GIVE_UP_SECONDS:
            return {"unquiesced": False, "error": str(exc)}
        log.warning("vcd_cell: the quiesce lease ran out but the cell could not be unquiesced, trying again: %s", exc)
        return None


def _announce_expiry(settings, lease, outcome):
    """The keeper's act in the minion's log and on the master's bus."""
    drain = describe_run(lease.get("by") or {})
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
    events.send_to_master(
        settings,
        f"vcd/cell/{settings.minion_id}/lease",
        dict(outcome, expired=True, cell=settings.cell_name, drain=drain),
    )
