"""
A vCD appliance's management API (port 5480; JSON, Basic auth as root): the embedded database
cluster as the nodes report it, its failover mode (set through a task the appliance runs), and the
appliance's services.
"""

import base64
import contextlib
import logging
import time
import urllib.parse

import requests

import _vcd_cell_errors as errors
import _vcd_cell_values as valid

log = logging.getLogger(__name__)

API = "/api/1.0.0"
REQUEST_TIMEOUT = 30
TASK_POLL_SECONDS = 0.5
# Seconds a failover-mode change may take: repmgr reconfigured on every database node.
FAILOVER_TIMEOUT = 300
# Seconds a switchover may take until the cluster is whole again (VMware: the database is unavailable
# 30 to 60 s).
SWITCHOVER_TIMEOUT = 600
MODES = ("manual", "automatic")
# A task's status, whatever its casing and tense.
TASK_DONE = ("SUCCESS", "SUCCEEDED", "SUCCESSFUL", "COMPLETED", "COMPLETE", "DONE", "FINISHED")
TASK_FAILED = ("FAILED", "FAILURE", "ERROR", "ABORTED", "CANCELED", "CANCELLED")
# What a node that is not in the database cluster (a cell-type appliance) is called in our answers.
CELL_ROLE = "CELL"


class ApplianceApi:
    """The appliance API of this cell's appliance, as root; used as a context manager."""

    def __init__(self, settings):
        if not settings.appliance_api_url:
            raise errors.NotConfigured("This cell is not a vCD appliance: set vcd_cell:appliance_api_url")
        if not settings.appliance_password:
            raise errors.NotConfigured("The appliance API needs vcd_cell:appliance_password (root's password)")
        self.settings = settings
        self.http = requests.Session()
        self.http.verify = settings.appliance_verify
        # Encoded as UTF-8 (RFC 7617): requests would encode Latin-1 and fail, quoting the password.
        pair = f"{settings.appliance_user}:{settings.appliance_password}".encode()
        self.http.headers.update(
            {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii"), "Accept": "application/json"}
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.http.close()

    def _request(self, method, url):
        if not url.startswith(("http://", "https://")):
            url = self.settings.appliance_api_url + url
        try:
            return self.http.request(method, url, timeout=REQUEST_TIMEOUT)
        except requests.exceptions.SSLError as exc:
            raise errors.ApplianceError(f"TLS verification failed for {url}: {exc}") from None
        except requests.exceptions.RequestException as exc:
            raise errors.ApplianceError(f"The appliance API at {url} did not answer: {exc}") from None

    def _json(self, response, what):
        if response.status_code == 401:
            raise errors.ApplianceError(
                f"{what}: the appliance API refused the credentials of {self.settings.appliance_user} (HTTP 401)"
            )
        if response.status_code not in (200, 202):
            raise errors.ApplianceError(
                f"{what} failed: HTTP {response.status_code} from {response.url}: {_said(response)}"
            )
        try:
            return response.json() if response.content else {}
        except ValueError:
            raise errors.ApplianceError(
                f"{what}: {response.url} did not answer JSON: {response.text[:200]!r}"
            ) from None

    def nodes(self):
        """The database cluster as this appliance sees it (see :func:`cluster`)."""
        body = self._json(self._request("GET", f"{API}/nodes"), "Reading the database cluster")
        return cluster(body, self.settings.appliance_node)

    def services(self):
        """``{service name: status}`` of the appliance's services."""
        body = self._json(self._request("GET", f"{API}/services"), "Reading the appliance's services")
        items = body.get("items", body) if isinstance(body, dict) else body
        return {entry.get("serviceName"): entry.get("status") for entry in items if isinstance(entry, dict)}

    def set_failover(self, mode, timeout=FAILOVER_TIMEOUT):
        """The cluster's failover mode set to ``mode`` (manual or automatic); waits for its task."""
        response = self._request("POST", f"{API}/nodes/failover/{mode}")
        if response.status_code == 404:
            raise errors.ApplianceError(
                f"Setting the failover mode is not applicable on this appliance ({_said(response)}): it holds no "
                "database (a cell-type appliance); ask the primary or a standby"
            )
        self._json(response, f"Setting the failover mode to {mode}")
        location = response.headers.get("Location")
        if location:
            self.wait_task(location, timeout, f"Setting the failover mode to {mode}")

    def switchover(self, node, timeout=SWITCHOVER_TIMEOUT):
        """
        Make the standby ``node`` the primary; waits for the appliance's task, then for the cluster to be
        HEALTHY again around ``node``. Returns the cluster before and after.
        """
        before = self.nodes()
        roles = {entry["name"]: entry["role"] for entry in before["nodes"]}
        if roles.get(node) != "STANDBY":
            raise errors.ClusterUnsafe(
                f"{node} is not a standby of the database cluster ({roles.get(node) or 'not a node of it'}): "
                f"the standbys are {', '.join(n for n, r in roles.items() if r == 'STANDBY') or 'none'}"
            )
        if before["health"] != "HEALTHY":
            raise errors.ClusterUnsafe(
                f"The cluster is {before['health']}: a switchover needs every node healthy "
                f"({'; '.join(before['warnings']) or 'no reason given'})"
            )
        what = f"The switchover to {node}"
        response = self._request("POST", f"{API}/nodes/{node}/switchover")
        if response.status_code == 404:
            raise errors.ApplianceError(f"{what} is not applicable through this appliance: {_said(response)}")
        self._json(response, what)
        deadline = time.monotonic() + timeout
        if response.headers.get("Location"):
            self.wait_task(response.headers["Location"], timeout, what)
        while True:
            # The database is unavailable for a while: the API answers, the cluster is not whole yet.
            after = self.nodes()
            if after["health"] == "HEALTHY" and after["primaries"] == [node]:
                return {"before": before, "after": after}
            if time.monotonic() >= deadline:
                raise errors.ApplianceError(
                    f"{what}: the cluster is {after['health']} with primaries {after['primaries']} after {timeout}s"
                )
            time.sleep(TASK_POLL_SECONDS)

    def wait_task(self, location, timeout, what):
        """Wait for the appliance's task at ``location`` to end; an error when it failed or took too long."""
        path = urllib.parse.urlparse(location).path if location.startswith(("http://", "https://")) else location
        deadline = time.monotonic() + timeout
        while True:
            task = self._json(self._request("GET", path), f"{what}: reading its task")
            status = str(task.get("status") or task.get("state") or "").upper()
            if status in TASK_DONE:
                return task
            if status in TASK_FAILED:
                detail = task.get("message") or task.get("error") or task
                raise errors.ApplianceError(f"{what} failed: the appliance's task ended {status}: {detail}")
            if time.monotonic() >= deadline:
                raise errors.ApplianceError(
                    f"{what}: the appliance's task was still {status or 'running'} after {timeout}s"
                )
            time.sleep(TASK_POLL_SECONDS)


def _said(response):
    detail = response.text[:300]
    with contextlib.suppress(ValueError, AttributeError):
        detail = response.json().get("message", detail)
    return detail


def cluster(body, node=None):
    """
    ``GET /api/1.0.0/nodes`` as plain data: ``failover`` (MANUAL, AUTOMATIC, INDETERMINATE), ``health``
    (HEALTHY, DEGRADED...), ``warnings``, ``nodes`` (each ``name``, ``role`` PRIMARY or STANDBY,
    ``health``, ``status``, ``upstream``, its own ``failover`` mode where it says one), ``primaries``
    and, for ``node``, its ``role`` (``CELL`` when the cluster does not hold it: a cell-type appliance).
    """
    if not isinstance(body, dict) or not isinstance(body.get("localClusterState", []), list):
        raise errors.ApplianceError(f"The appliance API answered the cluster with something unexpected: {body!r}")
    nodes = [
        {
            "name": entry.get("name"),
            "role": str(entry.get("nodeRole") or "").upper() or None,
            "health": str(entry.get("nodeHealth") or "").upper() or None,
            "status": str(entry.get("status") or "").lower() or None,
            "upstream": entry.get("upstream") or None,
            "failover": _node_failover(entry.get("failover")),
        }
        for entry in body.get("localClusterState") or []
        if isinstance(entry, dict)
    ]
    roles = {entry["name"]: entry["role"] for entry in nodes}
    return {
        "failover": str(body.get("localClusterFailover") or "").upper() or None,
        "health": str(body.get("localClusterHealth") or "").upper() or None,
        "warnings": list(body.get("warnings") or []),
        "nodes": nodes,
        "primaries": [entry["name"] for entry in nodes if entry["role"] == "PRIMARY"],
        "node": node,
        "role": roles.get(node) or CELL_ROLE,
    }


def _node_failover(failover):
    """A node's own failover mode (its ``failover`` ``{"mode", "repmgrd"}``), upper case; None if unsaid."""
    mode = failover.get("mode") if isinstance(failover, dict) else None
    return str(mode).upper() if mode else None


def refuse_unsafe(view, doing, needs_primary=False):
    """
    Refuse, before ``doing`` something that takes this appliance's database down (an install, a reboot),
    what VMware says never to do: the primary with failover AUTOMATIC (a standby could be promoted
    behind your back: two primaries), and, with ``needs_primary``, another appliance while the primary
    is not running (it would come back with no primary to follow).
    """
    if view["role"] == "PRIMARY" and view["failover"] != "MANUAL":
        raise errors.ClusterUnsafe(
            f"This appliance ({view['node']}) is the primary and failover is {view['failover']}: {doing} it could "
            "have a standby promoted behind your back (two primaries). Set vcd_cell.failover_mode manual first"
        )
    if needs_primary and view["role"] != "PRIMARY":
        running = [node["name"] for node in view["nodes"] if node["role"] == "PRIMARY" and node["status"] == "running"]
        if not running:
            raise errors.ClusterUnsafe(
                f"The primary database node is not running: {doing} this appliance ({view['node']}) now would leave it "
                "no primary to come back to. Bring the primary back first"
            )


def check_safe(settings, doing, needs_primary=False):
    """:func:`refuse_unsafe`, on the cluster as this appliance's API reports it right now."""
    with ApplianceApi(settings) as api:
        refuse_unsafe(api.nodes(), doing, needs_primary)


def check_mode(mode):
    """``mode`` in lower case, when it is one the appliance API takes."""
    return valid.choice("mode", mode.lower() if isinstance(mode, str) else mode, MODES)
