"""
The readiness of a server group for a window, days before it: what VMware's procedures ask an operator
to verify by hand, asked of every cell at once and judged per cell, touching nothing (no quiesce, no
lease, no record, no tool that changes a cell). ``vcd_upgrade.precheck`` and ``vcd_rolling.precheck``
run it with their orchestration's keys.

Its return: ``{"ready": bool, "checks": [row, ...], "comment": a line}`` (and ``retcode: 1`` when not
ready), each row ``{"check": one of
CHECKS, "cell": the minion id or None for the group, "result": pass, warn or fail, "detail": what was
found, "fix": what to do}``, in the order of :data:`CHECKS`, then of the plan's cells, the group's row
first. ``ready`` is false when any row fails. A cell that does not answer fails ``reachable`` and has no
other row: nothing more of it is known.
"""

import datetime
import email.utils
import inspect
import re
import time
import types

import salt.utils.args
from salt.exceptions import SaltInvocationError

import _vcd_appliance_cluster as cluster
import _vcd_cell_defaults as defaults
import _vcd_cell_values as valid
import _vcd_extension as extension
import _vcd_orchestration as orchestration
import _vcd_orchestration_skeleton as skeleton
import _vcd_orchestration_window as windowing
import _vcd_rolling_appliance as rolling_appliance
import _vcd_upgrade_steps as upgrade_steps
import _vcd_window as windows
from _vcd_cell_upgrade import same_version

PASS, WARN, FAIL = "pass", "warn", "fail"
# Every check, in the order of the report: docs/topics/precheck.md says what each reads and means.
CHECKS = (
    "reachable",
    "extension",
    "cell_list",
    "versions",
    "package",
    "disk",
    "transfer_share",
    "clock",
    "certificate",
    "tasks",
    "backup",
    "cluster",
    "failover_mode",
    "vcenters",
    "window",
    "budget",
)
# A failure of these makes the window unsafe: the orchestrations' preflight refuses on them.
UNSAFE = frozenset(("reachable", "cell_list", "versions", "package", "cluster", "failover_mode", "budget"))
# Free space below this many times what is needed warns (the disk check): logs and the other files of
# the window write there too.
DISK_HEADROOM = 1.5
DISK_NEEDS = {
    "installer": "twice the installer's size, to unpack it",
    "database": "the database's size: a major upgrade copies it",
}
# A certificate that expires within this many days after the window's end warns (VMware's 30 days).
CERTIFICATE_WARN_DAYS = 30
# A backup on the share older than this (seconds) warns, when the window makes none itself.
BACKUP_AGE = 86400
# The key ``precheck`` of the orchestrations: see :func:`refusing`.
MODES = ("report", "strict")
CHECKSUM = re.compile(r"[0-9a-fA-F]{64}")
# The outputter that shows the report to a person as a table (_output/vcd_precheck.py).
OUTPUTTER = "vcd_precheck"
# A VC proxy's listener state that says it does not work (the record's values are unconfirmed: by word).
LISTENER_DOWN = ("DISCONNECT", "FAIL", "DOWN", "STOP", "ERROR")


def row(check, cell, result, detail, fix=""):
    """One line of the report."""
    return {"check": check, "cell": cell, "result": result, "detail": detail, "fix": fix}


# -- asking the cells --------------------------------------------------------------------------------


def gather(plan, options):
    """
    Everything the checks read, in one job to every cell (and a second to appliances for their cluster):
    a namespace with ``answers`` (``{function: {cell: return}}``), ``answered`` (the cells that
    returned, in the plan's order), ``route`` (``linux``, ``appliance`` or ``mixed``), the master's clock
    before and after the job (``asked_at``, ``answered_at``) and the master's own ``extension``.
    """
    readiness = ("vcd_cell.readiness", (), {"checksum": True} if options["checksum"] else None)
    asked = [
        # The preflight's own questions (it reads these answers), the installer's checksum asked for.
        *(readiness if fun == "vcd_cell.readiness" else (fun, arg, kwarg) for fun, arg, kwarg in upgrade_steps.ASKED),
        ("vcd_cell.health", (), None),
        ("vcd_cell.tasks", (), None),
        ("vcd_cell.vcenters", (), None),
        ("vcd_cell.window", (), None),
        ("config.get", ("vcd_cell:drain",), None),
    ]
    cells = plan.order
    asked_at = time.time()
    answers = plan.cells.call_each(cells, asked)
    answered_at = time.time()
    returned = [cell for cell in cells if any(cell in by_cell for by_cell in answers.values())]
    readiness = answers["vcd_cell.readiness"]
    kinds = {bool(readiness[cell].get("appliance")) for cell in returned if isinstance(readiness.get(cell), dict)}
    route = "mixed" if len(kinds) > 1 else "appliance" if kinds == {True} else "linux"
    if route == "appliance":
        answers.update(plan.cells.call_each(returned, [("vcd_cell.appliance_nodes", (), None)]))
    return types.SimpleNamespace(
        answers=answers,
        silent=answers["vcd_cell.readiness"],
        answered=returned,
        route=route,
        asked_at=asked_at,
        answered_at=answered_at,
        extension=extension.identity(),
    )


def _facts(found, fun, cell):
    """What ``cell`` answered ``fun`` with, or None where it failed (:func:`_failure` says why)."""
    answers = found.answers.get(fun, {})
    if cell not in answers or answers.failed(cell):
        return None
    return answers[cell]


def _failure(found, fun, cell):
    return orchestration.answered(found.answers[fun], [cell], fun)[cell] or f"{fun} answered nothing"


# -- the checks, each ``check(plan, options, found)`` returning its rows -----------------------------------


def reachable(plan, options, found):
    """Each cell answers through its route; a group mixing appliances and Linux cells has none."""
    how = "salt-ssh" if options["ssh"] else "its salt-minion"
    rows = []
    if found.route == "mixed":
        appliances = [c for c in found.answered if (_facts(found, "vcd_cell.readiness", c) or {}).get("appliance")]
        linux = [c for c in found.answered if c not in appliances]
        rows.append(
            row(
                "reachable",
                None,
                FAIL,
                f"the plan mixes vCD appliances ({', '.join(appliances)}) and Linux cells ({', '.join(linux)})",
                "VMware does not support a mixed server group: plan the appliances and the Linux cells apart",
            )
        )
    fix = (
        "check the cell's roster entry and that salt-ssh reaches it (salt-ssh <cell> test.ping)"
        if options["ssh"]
        else "start the cell's salt-minion and accept its key (salt-key), then: salt <cell> test.ping"
    )
    for cell in plan.order:
        if cell in found.answered:
            rows.append(row("reachable", cell, PASS, f"answers through {how}"))
        else:
            rows.append(row("reachable", cell, FAIL, found.silent.why_silent(cell), fix))
    return rows


def extension_check(plan, options, found):
    """The same extension (version and machinery) on every cell as on the master."""
    del plan, options
    master = found.extension
    rows = []
    sync = "salt-run saltutil.sync_all, then salt '<cells>' saltutil.sync_all (or the same saltext-vcd-cell installed)"
    for cell in found.answered:
        facts = _facts(found, "vcd_cell.readiness", cell)
        if facts is None:
            rows.append(row("extension", cell, FAIL, _failure(found, "vcd_cell.readiness", cell), sync))
            continue
        theirs = facts.get("extension") or {}
        if theirs.get("version") != master["version"]:
            detail = f"the cell runs version {theirs.get('version')} of the extension, the master {master['version']}"
            rows.append(row("extension", cell, FAIL, detail, sync))
        elif theirs.get("digest") != master["digest"]:
            detail = (
                f"version {master['version']} on both, but the cell's machinery ({theirs.get('directory')}) differs "
                f"from the master's (digest {theirs.get('digest')}, the master's {master['digest']}): a sync not "
                "done since a change"
            )
            rows.append(row("extension", cell, WARN, detail, sync))
        else:
            rows.append(row("extension", cell, PASS, f"version {master['version']}, the same as the master's"))
    return rows


def cell_list(plan, options, found):
    """
    vCD's list of the server group's cells against the plan. For an upgrade a listed cell outside the plan
    fails (the database upgrade needs it stopped too); a rollout leaves it alone: a warning.
    """
    names = upgrade_steps.cell_names(plan.order, found.answers["vcd_cell.readiness"])
    listed, outside, unlisted = upgrade_steps.cell_list(found.answered, names, found.answers["vcd_cell.cells"])
    if listed is None:
        if not found.answered:
            return []
        fix = "set vcd_cell:api_url (and the administrator's password) on the cells; see: salt <cell> vcd_cell.cells"
        return [row("cell_list", None, FAIL, upgrade_steps.NO_CELL_LIST, fix)]
    rows = []
    if outside and options["kind"] == "upgrade":
        detail = (
            f"vCD lists cell(s) outside the plan: {', '.join(outside)}: the database upgrade would corrupt their work"
        )
        rows.append(
            row("cell_list", None, FAIL, detail, "add them to cells, or retire them from the server group first")
        )
    elif outside:
        detail = f"vCD lists cell(s) outside the plan: {', '.join(outside)}; the rollout leaves them alone"
        rows.append(row("cell_list", None, WARN, detail, "add them to cells to maintain them too"))
    else:
        rows.append(row("cell_list", None, PASS, f"vCD lists exactly the planned cells: {', '.join(listed)}"))
    for cell in unlisted:
        detail = f"vCD does not list this cell ({names[cell]}) in the server group"
        fix = "check vcd_cell:cell_name (the cell's name in vCD) or take the cell out of the plan"
        rows.append(row("cell_list", cell, FAIL, detail, fix))
    return rows


def _parts(version):
    return tuple(int(part) if part.isdigit() else 0 for part in str(version).split("."))


def versions(plan, options, found):
    """Every cell on the version the group runs, or on the target already; the target newer."""
    del options
    target = plan.version
    running = {cell: _facts(found, "vcd_cell.version", cell) for cell in found.answered}
    behind = [str(v) for v in running.values() if v is not None and not same_version(target, v)]
    # The version most cells run is the group's; of versions run by as many cells, the newest, since
    # a cell left behind an upgrade is likelier than one ahead of its database (and a set's order varies).
    group = max(set(behind), key=lambda v: (behind.count(v), _parts(v))) if behind else None
    rows = []
    for cell in found.answered:
        version = running[cell]
        if version is None:
            fix = "check vcd_cell:version_command on the cell (salt <cell> vcd_cell.version)"
            rows.append(row("versions", cell, FAIL, _failure(found, "vcd_cell.version", cell), fix))
        elif same_version(target, version):
            rows.append(row("versions", cell, PASS, f"already on {version}: an upgrade run again resumes there"))
        elif str(version) != group:
            detail = f"runs vCD {version} while the group runs {group}"
            fix = f"bring the cell to {group} first: the cells of a server group share one database"
            rows.append(row("versions", cell, FAIL, detail, fix))
        elif _parts(target) <= _parts(version):
            detail = f"runs vCD {version}: the target {target} is not newer"
            rows.append(
                row("versions", cell, FAIL, detail, "a vCD upgrade goes to a newer version only: check version")
            )
        else:
            rows.append(row("versions", cell, PASS, f"runs vCD {version}; the target {target} is newer"))
    return rows


def package(plan, options, found):
    """The installer (Linux) or the extracted update package (appliances) of the target on every cell."""
    rows = []
    for cell in found.answered:
        facts = _facts(found, "vcd_cell.readiness", cell)
        if facts is None:
            continue  # the extension check names the failure
        if same_version(plan.version, _facts(found, "vcd_cell.version", cell)):
            rows.append(row("package", cell, PASS, f"already on {plan.version}: nothing to install"))
        elif plan.install_sls and found.route != "appliance":
            detail = f"install_sls {plan.install_sls} installs the software: what it installs is not read here"
            rows.append(row("package", cell, WARN, detail, "check that the SLS installs " + plan.version))
        elif facts["package"]["kind"] == "installer":
            rows.append(_installer_row(cell, facts["package"], plan.version, options["checksum"]))
        else:
            rows.append(_update_package_row(cell, facts["package"], plan.version, options["checksum"]))
    return rows


def _installer_row(cell, facts, version, checksum):
    path = facts["path"]
    fix = f"copy VMware's installer of {version} to the cell, set vcd_cell:installer to its path, chmod u+x it"
    if not path:
        return row("package", cell, FAIL, "vcd_cell:installer is not set", fix)
    if not facts["present"]:
        return row("package", cell, FAIL, f"no installer at {path}", fix)
    if not facts["executable"]:
        return row("package", cell, FAIL, f"{path} is not executable", f"chmod u+x {path}")
    if facts["version"] is not None and not same_version(version, facts["version"]):
        return row("package", cell, FAIL, f"{path} is the installer of {facts['version']}, not {version}", fix)
    if checksum and facts.get("sha256", "").lower() != checksum.lower():
        detail = f"{path}'s SHA-256 is {facts.get('sha256')}, not the checksum given ({checksum})"
        return row("package", cell, FAIL, detail, "download the installer again: the copy on the cell is not VMware's")
    if facts["version"] is None:
        detail = f"{path} is executable, but its name carries no version: the install checks it only in the window"
        return row("package", cell, WARN, detail, f"name it as VMware does (...-{version}-<build>.bin)")
    said = " and matches the checksum" if checksum else " (no checksum given to compare)"
    return row("package", cell, PASS, f"{path}: the installer of {facts['version']}, executable{said}")


def _update_package_row(cell, facts, version, checksum):
    fix = f"extract VMware's update package of {version} on the appliance where vcd_cell:update_repo points"
    if facts["problem"]:
        return row("package", cell, FAIL, facts["problem"], fix)
    if not same_version(version, facts["version"]):
        return row(
            "package", cell, FAIL, f"the update package at {facts['repo']} is {facts['version']}, not {version}", fix
        )
    if checksum:
        detail = f"the update package of {facts['version']} is there; the checksum is the archive's, not comparable"
        return row("package", cell, WARN, detail, "compare the archive's SHA-256 before extracting it")
    return row("package", cell, PASS, f"the update package of {facts['version']} at {facts['repo']}")


def _size(count):
    """Bytes as a person reads them (GiB, MiB, ...)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return None  # not reached: the loop returns at TiB


def disk(plan, options, found):
    """
    Upgrade: free space where it needs it: on Linux where the installer unpacks (twice its size), on
    appliances the database partition (the database's size, which a major upgrade copies). Less than
    needed fails; less than :data:`DISK_HEADROOM` times it warns.
    """
    del options
    rows = []
    for cell in found.answered:
        space = (_facts(found, "vcd_cell.readiness", cell) or {}).get("disk")
        if space is None:
            continue  # the extension check names the failure
        if same_version(plan.version, _facts(found, "vcd_cell.version", cell)):
            rows.append(row("disk", cell, PASS, f"already on {plan.version}: nothing to install"))
        else:
            rows.append(_space_row(cell, space))
    return rows


def _space_row(cell, space):
    path, free, needed = space["path"], space["free"], space["needed"]
    if needed is None:
        what = (
            "no installer to size (the package check says why)" if space["what"] == "installer" else "no database there"
        )
        fix = (
            "set vcd_cell:installer"
            if space["what"] == "installer"
            else "set vcd_cell:database_dir to the database's directory"
        )
        return row("disk", cell, WARN, f"{_size(free)} free at {path}; {what}", fix)
    said = f"{_size(free)} free at {path}, {_size(needed)} needed ({DISK_NEEDS[space['what']]})"
    fix = f"free space at {path} (or grow its partition) to {_size(needed * DISK_HEADROOM)} at least"
    if free < needed:
        return row("disk", cell, FAIL, said, fix)
    if free < needed * DISK_HEADROOM:
        return row("disk", cell, WARN, f"{said}: less than {DISK_HEADROOM}x to spare", fix)
    return row("disk", cell, PASS, said)


def transfer_share(plan, options, found):
    """
    The transfer share on every cell: there and writable (a cell that cannot write it fails in ways
    unrelated to the window), mounted from a network file system (else a warning: what this cell writes
    the others may not read), and the same share on every cell (the group's row).
    """
    del plan, options
    rows, seen = [], {}
    for cell in found.answered:
        facts = (_facts(found, "vcd_cell.readiness", cell) or {}).get("transfer_share")
        if facts is None:
            continue  # the extension check names the failure
        rows.append(_share_row(cell, facts))
        if facts["present"]:
            seen.setdefault(facts["identity"], []).append(cell)
    if len(seen) > 1:
        detail = "the cells see different shares: " + "; ".join(
            f"{', '.join(cells)}: {identity}" for identity, cells in seen.items()
        )
        fix = "mount the same NFS export at vcd_cell:transfer_share on every cell of the group"
        rows.insert(0, row("transfer_share", None, FAIL, detail, fix))
    elif seen:
        rows.insert(0, row("transfer_share", None, PASS, f"every cell sees the same share: {next(iter(seen))}"))
    return rows


def _share_row(cell, facts):
    path = facts["path"]
    if not facts["present"]:
        fix = "mount the group's NFS transfer share there, or set vcd_cell:transfer_share to where it is mounted"
        return row("transfer_share", cell, FAIL, f"no directory at {path}", fix)
    if not facts["writable"]:
        return row("transfer_share", cell, FAIL, f"{path} is not writable", "give vCD's user write access to it")
    if not facts["network"]:
        where = "a mount point" if facts["mount_point"] else "not a mount point"
        detail = f"{path} is {where} on this host's own disk ({facts['fstype'] or 'unknown'})"
        fix = "mount the group's NFS transfer share there: what this cell writes the others must read"
        return row("transfer_share", cell, WARN, detail, fix)
    return row("transfer_share", cell, PASS, f"{path}: {facts['fstype']} {facts['source']}, writable")


def _offset(date, asked_at, answered_at):
    """
    Seconds the ``Date`` header ``date`` is off the master's clock: 0 when it falls within the job
    (``asked_at`` to ``answered_at``, one second either side for the header's resolution), else its
    distance from there. None when there is no date to read.
    """
    try:
        stamp = email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return None
    if stamp > answered_at + 1:
        return stamp - answered_at
    if stamp < asked_at - 1:
        return stamp - asked_at
    return 0.0


def clock(plan, options, found):
    """Each cell's clock (its API's Date header) within ``clock_tolerance`` seconds of the master's."""
    del plan
    tolerance = options["clock_tolerance"]
    fix = "synchronise the cell's clock (NTP) with the master's and the other cells'"
    rows = []
    for cell in found.answered:
        health = _facts(found, "vcd_cell.health", cell) or {}
        offset = _offset(health.get("date"), found.asked_at, found.answered_at)
        if offset is None:
            detail = "the cell's API answered no Date header (is the cell running, its vcd_cell:api_url set?)"
            rows.append(row("clock", cell, WARN, detail, "read its clock on the host: date -u"))
        elif abs(offset) > tolerance:
            way = "ahead of" if offset > 0 else "behind"
            detail = f"the cell's clock is {abs(offset):.0f} s {way} the master's (tolerance {tolerance} s)"
            rows.append(row("clock", cell, FAIL, detail, fix))
        else:
            rows.append(row("clock", cell, PASS, f"within {max(1, round(abs(offset)))} s of the master's"))
    return rows


def _day(stamp):
    return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def certificate(plan, options, found):
    """
    Each cell's HTTPS certificate (at ``vcd_cell:api_url``) against the window's end (``window_end``):
    expiring before it fails, within :data:`CERTIFICATE_WARN_DAYS` after it warns; an ``http://``
    address has none to read (a warning saying so), and one this cell's own client does not trust warns.
    """
    del plan
    ends = options["window_end"]
    rows = []
    renew = (
        "renew the cell's certificate before the window (the Certificate Library from vCD 10.5.1, else "
        "cell-management-tool certificates), and restart the cell on it"
    )
    for cell in found.answered:
        facts = (_facts(found, "vcd_cell.readiness", cell) or {}).get("certificate")
        if facts is None:
            continue  # the extension check names the failure
        if facts["scheme"] != "https":
            what = f"{facts['url']} is {facts['scheme']}://" if facts["scheme"] else "vcd_cell:api_url is not set"
            fix = "read the certificate of the cell's https:// address by hand, or set vcd_cell:api_url to it"
            rows.append(row("certificate", cell, WARN, f"{what}: no certificate to read", fix))
            continue
        if facts["expires_at"] is None:
            rows.append(row("certificate", cell, WARN, f"not read: {facts['problem']}", "is the cell serving?"))
            continue
        left = (facts["expires_at"] - ends) / 86400
        said = f"the certificate at {facts['url']} expires {_day(facts['expires_at'])}"
        if left <= 0:
            rows.append(row("certificate", cell, FAIL, f"{said}, before the window ends ({_day(ends)})", renew))
        elif left <= CERTIFICATE_WARN_DAYS:
            rows.append(row("certificate", cell, WARN, f"{said}, {left:.0f} day(s) after the window ends", renew))
        elif facts["problem"]:
            fix = "set vcd_cell:api_verify to the CA file that signed it (or install the CA on the cell's host)"
            rows.append(row("certificate", cell, WARN, f"{said}; {facts['problem']}", fix))
        else:
            trust = "trusted" if facts["verified"] else "not verified (vcd_cell:api_verify is false)"
            rows.append(row("certificate", cell, PASS, f"{said}, {left:.0f} days after the window ends; {trust}"))
    return rows


def _drain(plan, found, cell):
    """The drain's settings on ``cell`` in the window: its own pillar's, with ``cell_pillar``'s over them."""
    own = _facts(found, "config.get", cell)
    drain = dict(defaults.DRAIN, **(own if isinstance(own, dict) else {}))
    drain.update(((plan.cell_pillar or {}).get("vcd_cell") or {}).get("drain") or {})
    return drain


def tasks(plan, options, found):
    """The tasks each cell runs now and the oldest's age, against the drain's timeout and policy."""
    del options
    rows = []
    for cell in found.answered:
        if _facts(found, "vcd_cell.is_running", cell) is False:
            rows.append(row("tasks", cell, PASS, "the cell is stopped: no task runs there"))
            continue
        running = _facts(found, "vcd_cell.tasks", cell)
        if not isinstance(running, list):
            detail = f"its tasks cannot be listed: {_failure(found, 'vcd_cell.tasks', cell)}"
            rows.append(row("tasks", cell, WARN, detail, "check vcd_cell:api_url and the administrator's password"))
            continue
        drain = _drain(plan, found, cell)
        timeout, policy = drain["timeout"], drain["on_timeout"]
        if not running:
            rows.append(row("tasks", cell, PASS, f"no task runs; the drain would wait up to {timeout} s"))
            continue
        oldest = max(running, key=lambda task: task.get("age_seconds") or 0)
        age = oldest.get("age_seconds") or 0
        detail = (
            f"{len(running)} task(s) run; the oldest, {oldest.get('name')} ({oldest.get('id')}, owner "
            f"{oldest.get('owner')}), for {age} s"
        )
        if age < timeout:
            rows.append(row("tasks", cell, PASS, f"{detail}; the drain would wait up to {timeout} s for them"))
            continue
        detail += f", longer than the drain's timeout ({timeout} s, on_timeout: {policy})"
        rows.append(row("tasks", cell, WARN, detail, _long_task_fix(policy)))
    return rows


def _long_task_fix(policy):
    if policy == "cancel":
        return "the drain cancels what still runs at its timeout: end the task first if it must not be cancelled"
    return (
        "a task that runs on past the drain's timeout stops the window: end or cancel it before, "
        "or raise vcd_cell:drain:timeout"
    )


def backup(plan, options, found):
    """
    The database backup: confirmed by the operator (``backup_completed``), or the appliances' own
    (``backup: appliance``). On appliances, also the newest backup on the transfer share and its age:
    with ``backup: confirmed``, none there or one older than :data:`BACKUP_AGE` warns (a snapshot of
    every database node is then the way back).
    """
    rows = []
    if plan.backup == "appliance" and found.route == "appliance":
        detail = "backup: appliance: create-backup.sh runs on the primary after the drain, before the first install"
        rows.append(row("backup", None, PASS, detail))
    elif options["backup_completed"] is True:
        rows.append(row("backup", None, PASS, "backup_completed: the operator made the database backup"))
    else:
        fix = "back the vCD database up, then pass backup_completed=True" + (
            " (or backup: appliance)" if found.route == "appliance" else ""
        )
        rows.append(row("backup", None, FAIL, "backup_completed is not true: the upgrade refuses without it", fix))
    if found.route == "appliance":
        rows += _share_backup_rows(plan, found)
    return rows


def _share_backup_rows(plan, found):
    """The newest backup on the share, as the primary reads it (the share is the group's: one row)."""
    views = _views(found)
    reader = next((c for c in found.answered if (views.get(c) or {}).get("role") == "PRIMARY"), None)
    reader = reader or (found.answered[0] if found.answered else None)
    facts = (_facts(found, "vcd_cell.readiness", reader) or {}).get("backup") if reader else None
    if facts is None:
        return []
    made_in_the_window = plan.backup == "appliance"
    fix = (
        ""
        if made_in_the_window
        else "make one on the primary (/opt/vmware/appliance/bin/create-backup.sh), or run with backup: appliance"
    )
    if facts["newest"] is None:
        detail = f"no database backup under {facts['dir']}"
        return [row("backup", reader, PASS if made_in_the_window else WARN, detail, fix)]
    age = facts["age_seconds"]
    detail = f"the newest of {facts['count']} backup(s), {facts['newest']}, is {_age(age)} old"
    if age > BACKUP_AGE and not made_in_the_window:
        return [row("backup", reader, WARN, f"{detail} (more than {_age(BACKUP_AGE)})", fix)]
    return [row("backup", reader, PASS, detail)]


def _age(seconds):
    """Seconds as a person reads an age."""
    if seconds < 3600:
        return f"{seconds // 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _views(found):
    return {cell: cluster.nodes_of(found.answers["vcd_cell.appliance_nodes"], cell) for cell in found.answered}


def cluster_check(plan, options, found):
    """Appliances: the cluster HEALTHY, one primary, its database nodes the planned primary and standbys."""
    del plan, options
    views = _views(found)
    planned = None
    if all(views.values()):
        planned = [views[cell]["node"] for cell in found.answered if views[cell]["role"] != cluster.CELL_ROLE]
    rows = []
    fix = "bring every database node back (vcd_cell.appliance_nodes shows each), or plan the whole server group"
    for cell in found.answered:
        view = views[cell]
        if view is None:
            rows.append(row("cluster", cell, FAIL, _failure(found, "vcd_cell.appliance_nodes", cell), fix))
            continue
        problems = cluster.problems(view, planned, failover=False)
        if problems:
            rows.append(row("cluster", cell, FAIL, "; ".join(problems), fix))
        else:
            detail = f"HEALTHY, primary {view['primaries'][0]}; this appliance is {view['role']} ({view['node']})"
            rows.append(row("cluster", cell, PASS, detail))
    return rows


def failover_mode(plan, options, found):
    """Appliances: the failover mode the same on every node, MANUAL or AUTOMATIC."""
    del plan, options
    modes = {cell: view["failover"] for cell, view in _views(found).items() if view}
    if not modes:
        return []
    seen = sorted(set(modes.values()))
    if len(seen) == 1 and seen[0] in ("MANUAL", "AUTOMATIC"):
        detail = f"{seen[0]} on every node" + (
            ": the upgrade sets it MANUAL and back" if seen[0] == "AUTOMATIC" else ""
        )
        return [row("failover_mode", None, PASS, detail)]
    detail = "the nodes report " + ", ".join(f"{cell}: {mode}" for cell, mode in modes.items())
    own = _nodes_own_modes(_views(found).values())
    if own:
        detail += "; each node's own: " + ", ".join(f"{node}: {mode}" for node, mode in own.items())
    fix = "set one mode on the primary (vcd_cell.failover_mode automatic) and wait for every node to report it"
    return [row("failover_mode", None, FAIL, detail, fix)]


def _nodes_own_modes(views):
    """Each database node's own failover mode, as the first appliance that lists the nodes says them."""
    for view in views:
        if view and any(node.get("failover") for node in view["nodes"]):
            return {node["name"]: node.get("failover") or "unknown" for node in view["nodes"]}
    return {}


def vcenters(plan, options, found):
    """Each registered vCenter connected, its VC proxy's listener alive on a cell."""
    del plan, options
    listing = next(
        (v for v in (_facts(found, "vcd_cell.vcenters", c) for c in found.answered) if isinstance(v, list)), None
    )
    if listing is None:
        if not found.answered:
            return []
        detail = "no cell could list the vCenters: " + _failure(found, "vcd_cell.vcenters", found.answered[0])
        return [row("vcenters", None, WARN, detail, "check vcd_cell:api_url and the administrator's password")]
    if not listing:
        return [row("vcenters", None, PASS, "no vCenter is registered")]
    rows = []
    for vcenter in listing:
        name, proxy, listener = vcenter.get("name"), vcenter.get("proxy"), str(vcenter.get("listener") or "")
        if not vcenter.get("connected"):
            detail = f"vCenter {name} is not connected"
            rows.append(row("vcenters", None, FAIL, detail, "reconnect it (vcd_cell.reconnect_vcenter) and check it"))
        elif any(word in listener.upper() for word in LISTENER_DOWN):
            detail = f"vCenter {name}'s VC proxy on {proxy} is {listener}"
            rows.append(row("vcenters", None, FAIL, detail, "reconnect the vCenter: its proxy starts again on a cell"))
        else:
            detail = f"vCenter {name} connected, its VC proxy on {proxy or 'a cell'} ({listener or 'state not given'})"
            rows.append(row("vcenters", None, PASS, detail))
    return rows


def window(plan, options, found):
    """
    Whether a window holds each cell now (the claim on its host, else in this master's cache): another
    run's, alive or dead with its window unfinished, warns (a window begun now would be refused, or taken
    over by the same plan); this run's own passes.
    """
    del options
    own = plan.window.run if plan.window else None
    in_cache = {cell: windowing.claim_in(plan.record.cache, cell) for cell in found.answered}
    rows = []
    for cell in found.answered:
        on_cell = _facts(found, "vcd_cell.window", cell) or {}
        claim, age = (on_cell["claim"], on_cell.get("age")) if on_cell.get("held") else (in_cache[cell], None)
        if not claim:
            rows.append(row("window", cell, PASS, "no window holds it"))
        elif claim.get("run") == own:
            rows.append(row("window", cell, PASS, f"held by this run's window (run {own})"))
        else:
            alive, why = windows.judge(claim, age)
            if alive:
                detail = f"held by the live window of {windows.describe(claim)} (alive: {why})"
                fix = f"a window begun now is refused: wait for it to end ({windows.follow_command(claim)})"
            else:
                detail = f"claimed by {windows.describe(claim)}, no longer running ({why}), its window unfinished"
                fix = f"run its plan again (it takes the claim over), or {windows.release_command(claim)}"
            rows.append(row("window", cell, WARN, detail, fix))
    return rows


def budget(plan, options, found):
    """
    Rolling: each batch, taken down, leaves ``min_active`` cells serving: those serving now, and those
    of the batches before it, which the rollout has brought back by then (a cell down now, as one a
    failed run left down, serves again once its batch is done).
    """
    serving = [c for c in found.answered if (_facts(found, "vcd_cell.health", c) or {}).get("up")]
    batches = _batches(plan, options, found)
    back = []
    for batch in batches:
        others = [cell for cell in plan.order if cell in serving or cell in back]
        others = [cell for cell in others if cell not in batch]
        if len(others) < plan.min_active:
            detail = (
                f"{len(serving)} of {len(plan.order)} cells serve now ({', '.join(serving) or 'none'}): with "
                f"{', '.join(batch)} down only {len(others)} would, min_active is {plan.min_active}"
            )
            fix = "start the cells that do not serve (state.apply vcd.active), or lower batch or min_active"
            return [row("budget", None, FAIL, detail, fix)]
        back += batch
    detail = (
        f"{len(serving)} of {len(plan.order)} cells serve now: each of the {len(batches)} batch(es) leaves "
        f"{plan.min_active} serving"
    )
    return [row("budget", None, PASS, detail)]


def _batches(plan, options, found):
    """The rollout's batches: the plan's order, or on appliances the cluster's."""
    views = _views(found) if found.route == "appliance" else {}
    if views and all(views.values()) and found.answered == plan.order:
        roles = {cell: view["role"] for cell, view in views.items()}
        return rolling_appliance.ordered_batches(plan.order, options["batch"], roles)
    return plan.batches


UPGRADE = (
    ("reachable", reachable),
    ("extension", extension_check),
    ("cell_list", cell_list),
    ("versions", versions),
    ("package", package),
    ("disk", disk),
    ("transfer_share", transfer_share),
    ("clock", clock),
    ("certificate", certificate),
    ("tasks", tasks),
    ("backup", backup),
    ("cluster", cluster_check),
    ("failover_mode", failover_mode),
    ("vcenters", vcenters),
    ("window", window),
)
ROLLOUT = tuple((name, check) for name, check in UPGRADE if name not in ("versions", "package", "disk", "backup")) + (
    ("budget", budget),
)
APPLIANCE_ONLY = ("cluster", "failover_mode")


# -- the report --------------------------------------------------------------------------------------


def report(plan, options, found=None):
    """
    Every check of ``options["kind"]`` (``upgrade`` or ``rollout``) on the plan's cells, from what the
    cells answered (``found``: :func:`gather`, asked here when not given): the precheck's return. Fires
    ``precheck/start`` and ``precheck/finish`` (with ``ready``, the failures and each cell's running
    tasks, ``jobs``).
    """
    plan.fire("precheck/start", {"precheck": plan.id, "cells": plan.order})
    found = found or gather(plan, options)
    rows = []
    for name, check in UPGRADE if options["kind"] == "upgrade" else ROLLOUT:
        if name in APPLIANCE_ONLY and found.route != "appliance":
            continue
        rows += check(plan, options, found)
    failed = [r for r in rows if r["result"] == FAIL]
    warned = [r for r in rows if r["result"] == WARN]
    ready = not failed
    # The tasks each cell runs as the window begins: what a run's report counts as waited for.
    jobs = {cell: len(tasks) for cell, tasks in found.answers["vcd_cell.tasks"].items() if isinstance(tasks, list)}
    plan.fire("precheck/finish", {"precheck": plan.id, "ready": ready, "failed": failed, "jobs": jobs})
    return {"ready": ready, "checks": rows, "comment": summary(ready, rows, failed, warned)}


def refusing(rows, strict):
    """The rows that refuse a window: a failure of an :data:`UNSAFE` check, or with ``strict`` any failure."""
    return [r for r in rows if r["result"] == FAIL and (strict or r["check"] in UNSAFE)]


def gate(options):
    """
    The orchestrations' first step, ``step(cells, plan)``, before anything is touched: the precheck's
    checks (one job to every cell, whose answers the preflight that follows reads: ``plan.found.answers``).
    A cell fails it for each row that refuses the window (:func:`refusing`, ``precheck: strict`` in
    ``options``), a row of the group's failing every cell. The report's warnings and failures go in
    ``plan.found.precheck``, for the run's return.
    """

    def precheck(cells, plan):
        found = gather(plan, options)
        ret = report(plan, options, found)
        plan.found.answers = found.answers
        plan.found.precheck = dict(ret, checks=[r for r in ret["checks"] if r["result"] != PASS])
        outcome = dict.fromkeys(cells)
        for refused_by in refusing(ret["checks"], options["strict"]):
            why = f"{refused_by['check']}: {refused_by['detail']}" + (
                f" (fix: {refused_by['fix']})" if refused_by["fix"] else ""
            )
            for cell in [refused_by["cell"]] if refused_by["cell"] else cells:
                outcome[cell] = outcome[cell] or why
        return outcome

    return precheck


def summary(ready, rows, failed, warned):
    """The report in a line."""
    counts = f"{len(rows) - len(failed) - len(warned)} passed, {len(warned)} warning(s), {len(failed)} failed"
    if ready:
        return f"Ready: {counts}."
    unsafe = sorted({r["check"] for r in failed if r["check"] in UNSAFE})
    said = f" The window would be refused on: {', '.join(unsafe)}." if unsafe else ""
    return f"Not ready: {counts}.{said} Nothing was touched."


def refused(comment):
    """The return of a precheck whose arguments were refused before any cell was asked."""
    return {"ready": False, "checks": [], "comment": comment}


# -- the runner functions' machinery ---------------------------------------------------------------------


def bind(orchestration_function, name, pillar, kwargs):
    """
    The keys of the orchestration ``orchestration_function`` (``vcd_upgrade.upgrade``), each with its
    default: ``pillar[name]`` (``vcd_upgrade``: the pillar the orchestration's SLS reads) under the
    command line's ``kwargs``. A key the orchestration does not take, or a required one missing, is a
    SaltInvocationError naming it.
    """
    valid.optional_dict("pillar", pillar)
    keys = dict((pillar or {}).get(name) or {}, **salt.utils.args.clean_kwargs(**kwargs))
    signature = inspect.signature(orchestration_function)
    unknown = sorted(set(keys) - set(signature.parameters))
    if unknown:
        raise SaltInvocationError(
            f"unknown key(s) {', '.join(unknown)}: the keys are those of {name} ({', '.join(signature.parameters)})"
        )
    try:
        bound = signature.bind(**keys)
    except TypeError as exc:
        raise SaltInvocationError(f"{name}: {exc}") from None
    bound.apply_defaults()
    return dict(bound.arguments)


def options_of(kind, args):
    """What the checks read beside the plan (``args``: the orchestration's, by name), checked."""
    checksum = args.get("checksum")
    if checksum is not None and not (isinstance(checksum, str) and CHECKSUM.fullmatch(checksum)):
        raise SaltInvocationError(
            f"checksum must be VMware's SHA-256 of the installer, 64 hex digits, as text (quote one of digits "
            f"only on the command line: checksum='\"0123...\"'), not {checksum!r}"
        )
    valid.seconds("clock_tolerance", args["clock_tolerance"])
    valid.choice("precheck", args["precheck"], MODES)
    window_end = _window_end(args["window_end"], args["timeout"])
    return {
        "kind": kind,
        "ssh": args["ssh"],
        "checksum": checksum,
        "clock_tolerance": args["clock_tolerance"],
        "window_end": window_end,
        "strict": args["precheck"] == "strict",
        "backup_completed": args.get("backup_completed"),
        "batch": args.get("batch"),
    }


def _window_end(given, timeout):
    """
    When the window ends, in epoch seconds: ``given`` (ISO 8601, e.g. ``2026-12-12T06:00:00Z``; without
    a zone, UTC), or by default ``timeout`` seconds from now (a window that starts now).
    """
    if given is None:
        return time.time() + timeout
    try:
        ends = datetime.datetime.fromisoformat(str(given))
    except ValueError:
        raise SaltInvocationError(
            f"window_end must be when the window ends, in ISO 8601 (2026-12-12T06:00:00Z), not {given!r}"
        ) from None
    return (ends if ends.tzinfo else ends.replace(tzinfo=datetime.timezone.utc)).timestamp()


def run(opts, loader_context, where, bound, prepare):
    """
    The precheck: ``bound()`` gives ``(args, options)`` (:func:`bind`, :func:`options_of`), ``prepare``
    builds the plan as the orchestration would, without its route and touching nothing; then
    :func:`report`. Returned for Salt's runner display (``{"outputter", "data"}``): a table for a person,
    the structure itself with ``--out=json``. Not ready, or refused: the report has ``retcode: 1`` and
    ``salt-run`` exits non-zero. (Salt judges the job's ``success`` of a runner that names its outputter
    as it judges a state run's return, which the report is not: it is false then, ready or not; a
    window's gate is the orchestration's own preflight.)
    """
    try:
        args, options = bound()
    except SaltInvocationError as exc:
        loader_context["retcode"] = 1
        return {"outputter": OUTPUTTER, "data": dict(refused(f"{exc}. Nothing was touched."), retcode=1)}
    targets = (args["cells"], args["tgt_type"], args["timeout"], args["ssh"])
    ret = skeleton.orchestrate(
        opts,
        loader_context,
        where,
        targets,
        lambda planned, ordered: prepare(args, planned, ordered),
        lambda plan: report(plan, options),
        judge=lambda ret: ret.get("ready") is True,
    )
    if "ready" not in ret:
        ret = dict(refused(ret["comment"]), retcode=1)
    return {"outputter": OUTPUTTER, "data": ret}
