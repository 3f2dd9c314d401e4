"""
The part of a cell's HTTP surface that real clients use: the vCD REST API subset for sessions, the
task query and task cancellation, and the health checks load balancers poll.

Behaviour follows ``shared/reference/cell-management.md``: a stopped cell (or one showing the
maintenance message) answers nothing but 503, ``/api`` wants a version in its Accept header, and the
task query returns the tasks of every cell of the server group (filtering by ``cellName`` may or may
not be honoured, per the cell's configuration).
"""

import base64
import binascii
import math
import re
import uuid

from flask import Blueprint, current_app, jsonify, request

from simulator.faults import simulated_outage
from simulator.model import CellError

blueprint = Blueprint("vcd_api", __name__)

SERVER_STATUS_UP = "Service is up."
MAINTENANCE_PAGE = "The VMware Cloud Director service is currently undergoing maintenance."
UNAVAILABLE_PAGE = "Service Unavailable"
MAX_PAGE_SIZE = 128
DEFAULT_PAGE_SIZE = 25
TASK_FIELDS = (
    "name",
    "operationFull",
    "status",
    "startDate",
    "ownerName",
    "objectName",
    "objectType",
    "org",
    "cellName",
)


def _sim():
    return current_app.extensions["vcd_sim"]


def _error(status, message, minor="BAD_REQUEST"):
    body = {
        "_type": "ErrorType",
        "majorErrorCode": status,
        "minorErrorCode": minor,
        "message": message,
        "stackTrace": None,
    }
    return jsonify(body), status


def _unavailable():
    """What a stopped cell 'answers' through its load balancer; the maintenance page when it is on."""
    cell = _sim()["cell"]
    return (MAINTENANCE_PAGE if cell.in_maintenance() else UNAVAILABLE_PAGE), 503, {"Content-Type": "text/plain"}


LOGIN_PATHS = ("/api/sessions", "/cloudapi/1.0.0/sessions/provider")


@blueprint.before_request
def _api_preconditions():
    """
    What a real cell checks before any API call: that it serves at all, that the client asked for an
    API version, and that it holds a session. Health checks decide for themselves.
    """
    # An outage armed on the simulator takes the cell's whole web tier, health checks included.
    outage = simulated_outage(_sim()["cell"], "rest")
    if outage is not None:
        return _error(503, outage, "SERVICE_UNAVAILABLE")
    if not request.path.startswith(("/api", "/cloudapi")):
        return None
    if not _sim()["cell"].serves_requests():
        return _unavailable()
    if request.path == "/api/versions":
        return None
    if "version=" not in request.headers.get("Accept", ""):
        return _error(
            406,
            "The request has an invalid accept header: an API version is required, "
            "e.g. application/*+json;version=37.0",
            "NOT_ACCEPTABLE",
        )
    fault = _sim()["cell"].config.api_fault
    if fault == "unauthorized":
        return _error(401, "Authentication required (injected fault)", "UNAUTHORIZED")
    if fault == "error":
        return _error(500, "Internal server error (injected fault)", "INTERNAL_SERVER_ERROR")
    if request.path not in LOGIN_PATHS and not _sim()["sessions"].valid(_request_token()):
        return _error(401, "Authentication required: no valid session token", "UNAUTHORIZED")
    return None


# -- health checks ---------------------------------------------------------------------------------


def _serves_users():
    cell = _sim()["cell"]
    return cell.serves_requests() and not cell.in_maintenance()


@blueprint.get("/cloud/server_status")
def server_status():
    if _serves_users():
        return SERVER_STATUS_UP, 200, {"Content-Type": "text/plain"}
    return _unavailable()


@blueprint.get("/cloud")
@blueprint.get("/cloud/")
def cloud_portal():
    if _serves_users():
        return "<html><body>VMware Cloud Director</body></html>", 200
    return _unavailable()


@blueprint.get("/api/versions")
def versions():
    info = [{"version": v, "deprecated": False} for v in _sim()["cell"].config.api_versions]
    return jsonify({"versionInfo": info})


# -- sessions --------------------------------------------------------------------------------------


def _basic_credentials():
    """(user, org, password) from a Basic Authorization header, or None."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    principal, sep, password = decoded.partition(":")
    user, at, org = principal.partition("@")
    if not sep or not at:
        return None
    return user, org, password


def _login():
    """Check Basic credentials of a system administrator; returns a new token or None."""
    creds = _basic_credentials()
    if creds is None:
        return None
    user, org, password = creds
    cell = _sim()["cell"]
    if org.lower() != "system":
        return None
    try:
        cell.check_credentials(user, password, via="api")
    except CellError:
        return None
    return _sim()["sessions"].open()


def _session_body(user):
    return {"user": {"name": user}, "org": {"name": "System"}, "roles": ["System Administrator"]}


@blueprint.post("/cloudapi/1.0.0/sessions/provider")
def provider_login():
    if not _sim()["cell"].config.has_cloudapi:
        return _error(404, "No such resource: /cloudapi exists from vCD 9.0 on", "NOT_FOUND")
    token = _login()
    if token is None:
        return _error(401, "Invalid credentials for a provider session", "UNAUTHORIZED")
    response = jsonify(_session_body(_basic_credentials()[0]))
    response.headers["X-VMWARE-VCLOUD-ACCESS-TOKEN"] = token
    response.headers["X-VMWARE-VCLOUD-TOKEN-TYPE"] = "Bearer"
    return response


@blueprint.post("/api/sessions")
def legacy_login():
    token = _login()
    if token is None:
        return _error(401, "Invalid credentials", "UNAUTHORIZED")
    response = jsonify(_session_body(_basic_credentials()[0]))
    response.headers["x-vcloud-authorization"] = token
    if _sim()["cell"].config.has_cloudapi:
        response.headers["X-VMWARE-VCLOUD-ACCESS-TOKEN"] = token
    return response


def _request_token():
    bearer = request.headers.get("Authorization", "")
    if bearer.startswith("Bearer "):
        return bearer[7:]
    return request.headers.get("x-vcloud-authorization")


@blueprint.delete("/api/session")
@blueprint.delete("/cloudapi/1.0.0/sessions/current")
def logout():
    _sim()["sessions"].close(_request_token())
    return "", 204


# -- tasks -----------------------------------------------------------------------------------------


def _parse_filter(expression):
    """
    A FIQL subset: ``a==b;c!=d`` (``;`` is AND) with ``,`` for OR inside a term group.

    Returns a list of OR-groups, each a list of (field, op, value). Raises ValueError when malformed.
    """
    groups = []
    for conjunct in filter(None, expression.split(";")):
        group = []
        for term in conjunct.split(","):
            for op in ("==", "!="):
                field, found, value = term.partition(op)
                if found:
                    break
            if not found or not field or field not in TASK_FIELDS:
                raise ValueError(f"Bad filter term {term!r}")
            group.append((field, op, value))
        groups.append(group)
    return groups


def _matches(record, groups, honour_cell_name):
    def term_holds(field, op, value):
        if field == "cellName" and not honour_cell_name:
            return True
        equal = str(record.get(field)) == value
        return equal if op == "==" else not equal

    return all(any(term_holds(*term) for term in group) for group in groups)


def _task_href(task_id):
    return f"{request.host_url.rstrip('/')}/api/task/{task_id}"


def _admin_task_record(task):
    record = {field: task[field] for field in TASK_FIELDS}
    record["_type"] = "QueryResultAdminTaskRecordType"
    record["href"] = _task_href(task["id"])
    return record


def _positive_int(name, default, maximum=None):
    raw = request.args.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1 or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be between 1 and {maximum or 'any'}")
    return value


def _cells():
    """vCD's list of the server group's cells (a cell on its own lists itself)."""
    cell = _sim()["cell"]
    return cell.group.listing() if cell.group is not None else [cell.listing()]


def _requested_api_version():
    match = re.search(r"version=([\d.]+)", request.headers.get("Accept", ""))
    return tuple(int(part) for part in match.group(1).split(".") if part.isdigit()) if match else (0,)


@blueprint.get("/cloudapi/1.0.0/cells")
def cells():
    """The cells of the server group (API 33.0+); ``status`` from API 38.1 on."""
    if not _sim()["cell"].config.has_cloudapi:
        return _error(404, "No such resource: /cloudapi exists from vCD 9.0 on", "NOT_FOUND")
    try:
        page = _positive_int("page", 1)
        page_size = _positive_int("pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    except ValueError as exc:
        return _error(400, str(exc))
    listed = [entry for entry in _cells() if _name_matches(entry)]
    values = [_cell_body(entry) for entry in listed[(page - 1) * page_size : page * page_size]]
    return jsonify(
        {
            "resultTotal": len(listed),
            "pageCount": max(1, math.ceil(len(listed) / page_size)),
            "page": page,
            "pageSize": page_size,
            "values": values,
        }
    )


def _cell_urn(name):
    return f"urn:vcloud:cell:{uuid.uuid5(uuid.NAMESPACE_DNS, name)}"


def _cell_body(entry):
    body = {
        "id": _cell_urn(entry["name"]),
        "name": entry["name"],
        "primaryIP": entry["primaryIP"],
        "isActive": entry["isActive"],
        "productVersion": entry["productVersion"],
        "productBuildDate": "2026-01-01T00:00:00.000Z",
    }
    if _requested_api_version() >= (38, 1) and _sim()["cell"].config.has_cell_states:
        body["status"] = entry["status"]
    return body


def _name_matches(entry):
    """The one filter this subset honours: ``name==NAME``."""
    wanted = request.args.get("filter", "")
    return not wanted.startswith("name==") or entry["name"] == wanted[len("name==") :]


def _cell_by_urn(urn):
    cell = _sim()["cell"]
    cells = cell.group.cells if cell.group is not None else [cell]
    return next((c for c in cells if _cell_urn(c.config.cell_name) == urn), None)


@blueprint.get("/cloudapi/1.0.0/cells/<urn>")
def cell_by_id(urn):
    found = _cell_by_urn(urn)
    if found is None:
        return _error(404, f"No cell has the id {urn}", "NOT_FOUND")
    return jsonify(_cell_body(found.listing()))


@blueprint.put("/cloudapi/1.0.0/cells/<urn>")
def change_cell_state(urn):
    """Only ``status`` may change, to ACTIVE, QUIESCED or MAINTENANCE (API 38.1); 202 with the task."""
    found = _cell_by_urn(urn)
    if found is None:
        return _error(404, f"No cell has the id {urn}", "NOT_FOUND")
    if not found.config.has_cell_states or _requested_api_version() < (38, 1):
        return _error(400, "A cell's status can be set from API 38.1 (vCD 10.5.1) on")
    body = request.get_json(silent=True) or {}
    current = _cell_body(found.listing())
    changed = {key for key, value in body.items() if key != "status" and current.get(key) != value}
    if changed:
        return _error(400, f"Only the status of a cell may change, not {', '.join(sorted(changed))}")
    try:
        task_id = found.set_state(body.get("status"))
    except ValueError as exc:
        return _error(400, str(exc))
    except CellError as exc:
        return _error(409, str(exc))
    return "", 202, {"Location": _task_href(task_id)}


@blueprint.get("/api/task/<task_id>")
def task(task_id):
    """A cell-state task of this cell (API 38.1): ``running`` until done, then ``success``."""
    try:
        status = _sim()["cell"].state_task(task_id)
    except KeyError:
        return _error(404, f"No task has the id {task_id}", "NOT_FOUND")
    return jsonify({"id": f"urn:vcloud:task:{task_id}", "status": status, "operationName": "cellStateChange"})


def _cell_query():
    """The legacy ``/api/query?type=cell`` records."""
    records = [
        {
            "_type": "QueryResultCellRecordType",
            "name": entry["name"],
            "isActive": 1 if entry["isActive"] else 0,
            "version": entry["productVersion"],
            "primaryIp": entry["primaryIP"],
        }
        for entry in _cells()
    ]
    return jsonify(
        {
            "_type": "QueryResultRecordsType",
            "name": "cell",
            "page": 1,
            "pageSize": MAX_PAGE_SIZE,
            "total": len(records),
            "record": records,
        }
    )


def _vcenter_href(vcenter_id):
    return f"{request.host_url.rstrip('/')}/api/admin/extension/vimServer/{vcenter_id}"


def _vcenter_query():
    """``/api/query?type=virtualCenter``: each vCenter with the cell its VC proxy runs on."""
    group = _sim()["cell"].group
    records = [
        {
            "_type": "QueryResultVirtualCenterRecordType",
            "name": v["name"],
            "href": _vcenter_href(v["id"]),
            "isConnected": v["connected"],
            "isEnabled": True,
            "vcProxy": v["proxy"],
            "listenerState": "CONNECTED" if v["live"] else "DISCONNECTED",
        }
        for v in (group.vcenter_records() if group is not None else [])
    ]
    return jsonify(
        {"_type": "QueryResultRecordsType", "name": "virtualCenter", "total": len(records), "record": records}
    )


@blueprint.post("/api/admin/extension/vimServer/<vcenter_id>/action/forcevimserverreconnect")
def reconnect_vcenter(vcenter_id):
    """A forced reconnect of the vCenter (system administrator): 202 with its task; the proxy moves here."""
    cell = _sim()["cell"]
    if cell.group is None:
        return _error(404, f"No vCenter has the id {vcenter_id}", "NOT_FOUND")
    try:
        cell.group.reconnect(vcenter_id, cell.config.cell_name)
    except KeyError as exc:
        return _error(404, exc.args[0], "NOT_FOUND")
    task_id = cell.add_task("RECONNECT")
    body = {"href": _task_href(task_id), "status": "running", "operationName": "vimServerReconnect"}
    return jsonify(body), 202


@blueprint.get("/api/query")
def query():
    if request.args.get("type") == "cell":
        return _cell_query()
    if request.args.get("type") == "virtualCenter":
        return _vcenter_query()
    if request.args.get("type") != "adminTask":
        return _error(
            400, f"Query type {request.args.get('type')!r} is not supported here: use adminTask, cell or virtualCenter"
        )
    if request.args.get("format", "records") != "records":
        return _error(400, "Only format=records is supported")
    cell = _sim()["cell"]
    try:
        groups = _parse_filter(request.args.get("filter", ""))
        page = _positive_int("page", 1)
        page_size = _positive_int("pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    except ValueError as exc:
        return _error(400, str(exc))
    honour = cell.config.filter_cell_name
    tasks = [t for t in cell.tasks() if _matches(t, groups, honour)]
    tasks.sort(key=lambda t: t["startDate"])
    start = (page - 1) * page_size
    records = [_admin_task_record(t) for t in tasks[start : start + page_size]]
    links = []
    if page < math.ceil(len(tasks) / page_size):
        next_args = dict(request.args, page=str(page + 1))
        query_string = "&".join(f"{k}={v}" for k, v in next_args.items())
        links.append({"rel": "nextPage", "href": f"{request.base_url}?{query_string}"})
    return jsonify(
        {
            "_type": "QueryResultRecordsType",
            "name": "adminTask",
            "page": page,
            "pageSize": page_size,
            "total": len(tasks),
            "href": request.url,
            "link": links,
            "record": records,
        }
    )


@blueprint.post("/api/task/<task_id>/action/cancel")
def cancel_task(task_id):
    try:
        _sim()["cell"].cancel_job(task_id)
    except KeyError as exc:
        return _error(404, exc.args[0], "NOT_FOUND")
    except CellError as exc:
        return _error(400, str(exc))
    return "", 204
