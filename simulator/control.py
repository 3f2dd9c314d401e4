"""
The simulator's own API under ``/sim/``: nothing a real cell has.

Tests use it to read the timeline, add jobs, make a job hang, crash the cell and change knobs.
The stub CLIs in ``simulator/bin`` use ``/sim/tool/`` to act on the cell, the way the real tools talk
to their cell over JMX.
"""

from flask import Blueprint, current_app, jsonify, request

from simulator.faults import describe
from simulator.group import ServerGroup
from simulator.model import CellError

blueprint = Blueprint("sim_control", __name__, url_prefix="/sim")

JOB_FIELDS = ("name", "operation", "owner", "org", "object_name", "object_type", "cell_name", "cancellable")


def _cell():
    return current_app.extensions["vcd_sim"]["cell"]


def _fail(status, message):
    return jsonify({"error": message}), status


def _json_body():
    body = request.get_json(silent=True)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    return body


@blueprint.errorhandler(ValueError)
def _bad_request(exc):
    return _fail(400, str(exc))


@blueprint.errorhandler(CellError)
def _refused(exc):
    return _fail(409, str(exc))


@blueprint.errorhandler(KeyError)
def _not_found(exc):
    return _fail(404, exc.args[0] if exc.args else "not found")


# -- test control ------------------------------------------------------------------------------


@blueprint.get("/state")
def state():
    return jsonify(_cell().snapshot())


@blueprint.get("/timeline")
def timeline():
    since = request.args.get("since", "0")
    if not since.isdigit():
        raise ValueError(f"since must be a sequence number, not {since!r}")
    return jsonify({"events": _cell().events(int(since))})


@blueprint.post("/jobs")
def add_jobs():
    """Start ``count`` jobs of ``seconds`` each (``null``: until cancelled)."""
    body = _json_body()
    count = body.get("count", 1)
    if not isinstance(count, int) or count < 1:
        raise ValueError("count must be a positive whole number")
    seconds = body.get("seconds")
    if seconds is not None and not isinstance(seconds, (int, float)):
        raise ValueError("seconds must be a number or null")
    unknown = set(body) - set(JOB_FIELDS) - {"count", "seconds"}
    if unknown:
        raise ValueError(f"unknown job field(s): {', '.join(sorted(unknown))}")
    options = {k: body[k] for k in JOB_FIELDS if k in body}
    jobs = [_cell().add_job(seconds=seconds, **options) for _ in range(count)]
    return jsonify({"jobs": jobs}), 201


@blueprint.post("/jobs/<job_id>/hang")
def hang_job(job_id):
    cancellable = _json_body().get("cancellable", True)
    if not isinstance(cancellable, bool):
        raise ValueError("cancellable must be true or false")
    return jsonify(_cell().hang_job(job_id, cancellable=cancellable))


@blueprint.post("/jobs/<job_id>/end")
def end_job(job_id):
    """End a running job now, as it would end by itself."""
    return jsonify(_cell().end_job(job_id))


@blueprint.post("/crash")
def crash():
    _cell().crash()
    return jsonify(_cell().snapshot())


@blueprint.post("/faults")
def arm_fault():
    """Arm a fault (see simulator.faults): a tool's Nth run fails or hangs, an API out, a reboot slow."""
    return jsonify(_cell().faults.arm(_json_body())), 201


@blueprint.get("/faults")
def armed_faults():
    return jsonify(describe(_cell().faults))


@blueprint.delete("/faults")
def clear_faults():
    _cell().clear_faults()
    return jsonify(_cell().snapshot())


@blueprint.get("/config")
def get_config():
    return jsonify(_cell().config.public())


@blueprint.patch("/config")
def change_config():
    try:
        return jsonify(_cell().reconfigure(**_json_body()))
    except TypeError as exc:
        raise ValueError(str(exc)) from None


# -- the cell's host and certificate, as a precheck reads them -------------------------------------


def _extension(name, missing):
    found = current_app.extensions["vcd_sim"].get(name)
    if found is None:
        raise KeyError(missing)
    return found


def _host():
    return _extension("host", "this cell has no host laid out: simulator.pillar.vcd_cell_pillar lays one out")


@blueprint.get("/host")
def host_state():
    return jsonify(_host().facts())


@blueprint.patch("/host")
def change_host():
    """``{"package", "disk", "share", "backups"}``: see :meth:`simulator.host.Host.change`."""
    try:
        return jsonify(_host().change(**_json_body()))
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def _certificate():
    missing = "this cell serves no certificate of the simulator's authority (tls=Authority().serving())"
    return _extension("certificate", missing)


@blueprint.get("/certificate")
def certificate_state():
    return jsonify({"not_after": _certificate().not_after.isoformat()})


@blueprint.patch("/certificate")
def reissue_certificate():
    """``{"days": N}``: the cell presents a new certificate expiring in N days (negative: expired)."""
    body = _json_body()
    if "days" not in body:
        raise ValueError("days is required: the certificate's expiry, in days from now")
    return jsonify({"not_after": _certificate().reissue(body["days"]).isoformat()})


# -- the stub tools' back end ------------------------------------------------------------------


@blueprint.post("/tool/invocation")
def record_invocation():
    """A stub CLI announces itself with its argument list; it gets the cell's knobs back."""
    body = _json_body()
    age = body.get("age")
    if age is not None and (isinstance(age, bool) or not isinstance(age, (int, float)) or age < 0):
        raise ValueError("age must be a number of seconds")
    fault = _cell().record_invocation(body.get("tool", "?"), body.get("argv", []), age=age)
    return jsonify(dict(_cell().config.public(), fault=fault))


def _authenticate(body):
    cell = _cell()
    if body.get("pid") is not None:
        cell.check_pid(body["pid"])
    else:
        cell.check_credentials(body.get("user"), body.get("password"))


CELL_ACTIONS = {
    "status": lambda cell, value: cell.status(record=True),
    "status-verbose": lambda cell, value: cell.status(record=True),
    # A newer tool's own wait inside `--quiesce true` (simulator.cmt.wait_drained): a reading of the
    # tool's, not a `--status` run of the operator's, so it leaves no line on the timeline.
    "quiesce-wait": lambda cell, value: cell.status(),
    "quiesce": lambda cell, value: cell.quiesce(value),
    "shutdown": lambda cell, value: cell.shutdown(),
    "maintenance": lambda cell, value: cell.set_maintenance_mode(value),
}


@blueprint.post("/tool/cell")
def cell_option():
    """`cell-management-tool cell OPTION`, after the CLI parsed its arguments."""
    body = _json_body()
    action = CELL_ACTIONS.get(body.get("option"))
    if action is None:
        raise ValueError(f"unknown cell option {body.get('option')!r}")
    try:
        _authenticate(body)
    except CellError as exc:
        return _fail(401, str(exc))
    return jsonify({"result": action(_cell(), body.get("value"))})


SERVICE_ACTIONS = {
    "start": lambda cell: cell.service_start(),
    "stop": lambda cell: cell.service_stop(),
    "maintenance": lambda cell: cell.maintenance_message(),
    "status": lambda cell: None,
}


@blueprint.post("/tool/service")
def service_action():
    """`vmware-vcd-cell ACTION`; every answer carries the service state before and after, and the PID."""
    action = _json_body().get("action")
    if action not in SERVICE_ACTIONS:
        raise ValueError(f"unknown service action {action!r}")
    was = _cell().snapshot()["service"]
    changed = SERVICE_ACTIONS[action](_cell())
    snapshot = _cell().snapshot()
    return jsonify({"changed": changed, "was": was, "service": snapshot["service"], "pid": snapshot["pid"]})


# -- software: the installer, the database upgrade utility, the installed version ----------------------


def _group():
    """The cell's server group; a cell served on its own is a group of one."""
    cell = _cell()
    return cell.group if cell.group is not None else ServerGroup([cell])


@blueprint.get("/group")
def group_state():
    return jsonify(_group().snapshot())


@blueprint.post("/tool/software")
def software():
    """What the installer and the upgrade utility look at before they ask anything."""
    cell, group = _cell(), _group()
    return jsonify(
        {
            "cell_name": cell.config.cell_name,
            "installed": cell.installed_version,
            "running": cell.running(),
            "schema": group.schema_version,
            "running_cells": [
                {"name": c.config.cell_name, "ip": c.config.primary_ip} for c in group.cells if c.running()
            ],
            "prompts": cell.config.prompts,
            "install_seconds": cell.config.install_seconds,
        }
    )


@blueprint.post("/tool/install")
def install():
    _cell().install(str(_json_body().get("version")))
    return jsonify({"installed": _cell().installed_version})


@blueprint.post("/tool/db-upgrade")
def db_upgrade():
    body = _json_body()
    outcome = _group().upgrade_database(_cell().config.cell_name, bool(body.get("continue_with_active")))
    return jsonify({"outcome": outcome, "schema": _group().schema_version})


# -- an appliance's host: vamicli, create-backup.sh, reboot, and its test control ----------------------


def _appliance():
    appliance = _cell().appliance
    if appliance is None:
        raise CellError("This cell is not an appliance: no vamicli, no embedded database")
    return appliance


@blueprint.get("/appliance")
def appliance_state():
    appliance = _appliance()
    return jsonify({"config": dict(appliance.config.__dict__, root_password="******"), "boots": appliance.boots})


@blueprint.patch("/appliance")
def change_appliance():
    try:
        return jsonify(_appliance().reconfigure(**_json_body()))
    except TypeError as exc:
        raise ValueError(str(exc)) from None


@blueprint.post("/tool/vamicli/state")
def vamicli_state():
    """What vamicli reads before it acts: the installed version and build, the repository set."""
    appliance = _appliance()
    return jsonify(
        {
            "installed": _cell().installed_version,
            "build": appliance.build,
            "repo": appliance.repo,
            "prompts": _cell().config.prompts,
            "install_seconds": _cell().config.install_seconds,
        }
    )


@blueprint.post("/tool/vamicli/repo")
def vamicli_repo():
    url = _json_body().get("url")
    if not isinstance(url, str) or not url:
        raise ValueError("url must be the repository's URL")
    _appliance().group.set_repo(_appliance(), url)
    return jsonify({"repo": url})


@blueprint.post("/tool/vamicli/install")
def vamicli_install():
    body = _json_body()
    _appliance().group.install(_appliance(), str(body.get("version")), str(body.get("build")))
    return jsonify({"installed": _cell().installed_version})


@blueprint.post("/tool/backup")
def create_backup():
    return jsonify({"path": _appliance().group.backup(_appliance())})


@blueprint.post("/tool/reboot")
def reboot():
    """The host reboots: an appliance with its database node, a Linux install with its cell."""
    cell = _cell()
    if cell.appliance is not None:
        cell.appliance.group.reboot(cell.appliance)
    else:
        cell.reboot_host()
    return jsonify({"rebooting": True})


@blueprint.post("/tool/host")
def host():
    """What a command run on the host reads of it (the kernel's boot id); 503 while it is down."""
    cell = _cell()
    if not cell.host_up():
        return _fail(503, "The host is down: no command runs on it")
    return jsonify({"boot_id": cell.boot_id})
