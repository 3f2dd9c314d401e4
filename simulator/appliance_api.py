"""
The appliance management API of a fake vCD appliance (port 5480 on a real one): JSON, Basic auth as
``root``, the endpoints VMware's Appliance API reference documents for the database cluster.

- ``GET /api/1.0.0/nodes``: the cluster as every node sees it.
- ``POST /api/1.0.0/nodes/failover/{automatic|manual}``: 202 with ``Location`` of a task; 404 on a
  cell-type appliance.
- ``POST /api/1.0.0/nodes/{node}/switchover``, ``GET /api/1.0.0/tasks/{id}``.
- ``GET /api/1.0.0/services`` and ``/api/1.0.0/services/{name}``.

While the appliance reboots it answers nothing but 503.
"""

import base64
import binascii

from flask import Blueprint, Flask, current_app, jsonify, request

from simulator.appliance import NotApplicable
from simulator.faults import simulated_outage
from simulator.model import CellError

blueprint = Blueprint("appliance_api", __name__, url_prefix="/api/1.0.0")
ROOT = "root"


def _appliance():
    return current_app.extensions["vcd_sim_appliance"]["appliance"]


def _error(status, message):
    return jsonify({"code": status, "message": message}), status


def _authorized():
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return user == ROOT and password == _appliance().config.root_password


@blueprint.before_request
def _preconditions():
    appliance = _appliance()
    outage = simulated_outage(appliance.cell, "appliance")
    if outage is not None:
        return _error(503, outage)
    if not appliance.group.host_is_up(appliance):
        return _error(503, f"The appliance {appliance.name} is not reachable")
    if not _authorized():
        appliance.group.timeline.add(appliance.group.now(), "appliance_auth_failure", node=appliance.name)
        return _error(401, "Authentication required")
    return None


@blueprint.errorhandler(NotApplicable)
def _not_applicable(exc):
    return _error(404, str(exc))


@blueprint.errorhandler(CellError)
def _refused(exc):
    return _error(400, str(exc))


@blueprint.errorhandler(KeyError)
def _not_found(exc):
    return _error(404, exc.args[0] if exc.args else "not found")


@blueprint.get("/nodes")
def nodes():
    return jsonify(_appliance().group.cluster())


def _accepted(task_id):
    response = jsonify({})
    response.status_code = 202
    response.headers["Location"] = f"{request.host_url.rstrip('/')}/api/1.0.0/tasks/{task_id}"
    return response


@blueprint.post("/nodes/failover/<mode>")
def failover(mode):
    return _accepted(_appliance().group.set_failover(_appliance(), mode))


@blueprint.post("/nodes/<node>/switchover")
def switchover(node):
    return _accepted(_appliance().group.switchover(_appliance(), node))


@blueprint.get("/tasks/<task_id>")
def task(task_id):
    return jsonify(_appliance().group.task(_appliance(), task_id))


@blueprint.get("/services")
def services():
    return jsonify({"items": _appliance().group.services(_appliance())})


@blueprint.get("/services/<name>")
def service(name):
    for entry in _appliance().group.services(_appliance()):
        if entry["serviceName"] == name:
            return jsonify(entry)
    raise KeyError(f"No service is named {name}")


def create_appliance_app(appliance):
    """The appliance API of ``appliance`` (a :class:`simulator.appliance.Appliance` in a group)."""
    app = Flask(__name__)
    app.extensions["vcd_sim_appliance"] = {"appliance": appliance}
    app.register_blueprint(blueprint)
    return app
