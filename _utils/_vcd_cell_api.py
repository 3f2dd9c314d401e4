"""
The vCD REST API as the module uses it: a system administrator's session (API version negotiated, UTF-8
Basic login, provider or legacy session), this cell's running tasks, the server group's cells, and from
API 38.1 (vCD 10.5.1) the cells API that reads and sets a cell's state (ACTIVE, QUIESCED, MAINTENANCE)
without a tool start.
"""

import base64
import contextlib
import datetime
import logging
import re
import time

import requests
from salt.exceptions import SaltInvocationError

import _vcd_cell_errors as errors

log = logging.getLogger(__name__)

# REST polling is cheap (one GET of a task or a task query), so it runs often: twice a second puts a
# drain's end within half a second of the last job's.
API_POLL_SECONDS = 0.5
# A health check is one cheap HTTP request.
HEALTH_POLL_SECONDS = 0.25
API_TIMEOUT = 30
# Spoken when a cell does not say which API versions it speaks; cells' states are read and set from 38.1.
FALLBACK_API_VERSION = "37.0"
CELL_STATES_API = "38.1"
API_PAGE_SIZE = 128
API_MAX_PAGES = 100


class Api:
    """
    A system administrator's session with the cell's REST API, used as a context manager.

    Provider login first (vCD 9.0 on), the legacy ``/api/sessions`` when that does not exist.
    """

    def __init__(self, settings):
        if not settings.api_url:
            raise errors.NotConfigured("The vCD REST API is not configured: set vcd_cell:api_url")
        if not settings.password:
            raise errors.NotConfigured("The vCD REST API needs vcd_cell:username and vcd_cell:password")
        self.settings = settings
        self.http = requests.Session()
        self.http.verify = settings.api_verify
        self.version = None
        self.token_headers = None

    @property
    def accept(self):
        return f"application/*+json;version={self.version}"

    @property
    def cloudapi_accept(self):
        return f"application/json;version={self.version}"

    def negotiate(self):
        """
        The API version to speak: ``vcd_cell:api_version`` if set, else the newest the cell lists in
        ``GET /api/versions`` (no login needed), else the last one every supported vCD speaks.
        """
        if self.version:
            return self.version
        self.version = self.settings.api_version
        if self.version:
            return self.version
        self.version = FALLBACK_API_VERSION
        response = self._request("GET", "/api/versions", headers={"Accept": "application/json"})
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            if response.status_code == 200:
                listed = response.json().get("versionInfo") or []
                usable = [v["version"] for v in listed if not v.get("deprecated")] or [v["version"] for v in listed]
                self.version = max(usable, key=version_key)
        return self.version

    def speaks(self, version):
        return version_key(self.version) >= version_key(version)

    def _request(self, method, path, **kwargs):
        url = self.settings.api_url + path
        try:
            response = self.http.request(method, url, timeout=API_TIMEOUT, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise errors.ApiError(f"TLS verification failed for {url}: {exc}") from None
        except requests.exceptions.RequestException as exc:
            raise errors.ApiError(f"The vCD API at {url} did not answer: {exc}") from None
        return response

    def _fail(self, response, what):
        detail = response.text[:300]
        with contextlib.suppress(ValueError):
            detail = response.json().get("message", detail)
        raise errors.ApiError(f"{what} failed: HTTP {response.status_code} from {response.url}: {detail}")

    def _basic_authorization(self, principal):
        """
        The Basic credentials, encoded as UTF-8 (RFC 7617): requests would encode them as Latin-1 and
        fail, with the password in its error, on any other letter.
        """
        pair = f"{principal}:{self.settings.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}

    def login(self):
        self.negotiate()
        principal = self.settings.username if "@" in self.settings.username else f"{self.settings.username}@System"
        credentials = self._basic_authorization(principal)
        headers = dict(credentials, Accept=self.cloudapi_accept)
        response = self._request("POST", "/cloudapi/1.0.0/sessions/provider", headers=headers)
        if response.status_code == 404:
            response = self._request("POST", "/api/sessions", headers=dict(credentials, Accept=self.accept))
        if response.status_code == 401:
            raise errors.CredentialsRefused(f"The vCD API refused the credentials of {principal} (HTTP 401)")
        if response.status_code != 200:
            self._fail(response, "Login to the vCD API")
        token = response.headers.get("X-VMWARE-VCLOUD-ACCESS-TOKEN")
        if token:
            self.token_headers = {"Authorization": f"Bearer {token}"}
        elif response.headers.get("x-vcloud-authorization"):
            self.token_headers = {"x-vcloud-authorization": response.headers["x-vcloud-authorization"]}
        else:
            raise errors.ApiError("The vCD API login answered without a session token")
        return self

    def logout(self):
        if self.token_headers is None:
            return
        path = "/cloudapi/1.0.0/sessions/current" if "Authorization" in self.token_headers else "/api/session"
        try:
            self._request("DELETE", path, headers=dict(self.token_headers, Accept=self.accept))
        except errors.ApiError as exc:
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
        return [task_summary(r) for r in records if r.get("cellName") == cell and r.get("status") == "running"]

    def cells(self):
        """The server group's cells: the cloudapi list (API 33.0 on), else the legacy cell query."""
        listed, response = [], None
        for page in range(1, API_MAX_PAGES + 1):
            params = {"page": page, "pageSize": API_PAGE_SIZE}
            headers = dict(self.token_headers, Accept=self.cloudapi_accept)
            response = self._request("GET", "/cloudapi/1.0.0/cells", params=params, headers=headers)
            if response.status_code != 200:
                break
            body = response.json()
            listed += body.get("values") or []
            if page >= body.get("pageCount", 1):
                return [cell_summary(c["name"], c.get("isActive"), c.get("productVersion"), c) for c in listed]
        if response is not None and response.status_code not in (400, 404):
            self._fail(response, "GET /cloudapi/1.0.0/cells")
        body = self._get("/api/query", {"type": "cell", "format": "records", "pageSize": API_PAGE_SIZE})
        return [cell_summary(r["name"], r.get("isActive"), r.get("version"), r) for r in body.get("record") or []]

    def own_cell(self):
        """
        This cell's record in the cells API, found by its name, once the session speaks API 38.1 (vCD
        10.5.1), where a cell's state can be read and set; None before that, or when vCD does not list it.
        """
        if not self.speaks(CELL_STATES_API):
            return None
        params = {"filter": f"name=={self.settings.cell_name}", "pageSize": API_PAGE_SIZE}
        headers = dict(self.token_headers, Accept=self.cloudapi_accept)
        response = self._request("GET", "/cloudapi/1.0.0/cells", params=params, headers=headers)
        if response.status_code != 200:
            self._fail(response, "GET /cloudapi/1.0.0/cells")
        values = response.json().get("values") or []
        return next((v for v in values if v.get("name") == self.settings.cell_name and "status" in v), None)

    def set_cell_state(self, record, state):
        """``PUT`` the cell with ``status`` ``state``; returns the URL of the task that completes it."""
        path = f"/cloudapi/1.0.0/cells/{record['id']}"
        headers = dict(self.token_headers, Accept=self.cloudapi_accept)
        response = self._request("PUT", path, json=dict(record, status=state), headers=headers)
        if response.status_code != 202 or not response.headers.get("Location"):
            self._fail(response, f"Setting the cell {state}")
        return response.headers["Location"]

    def task_status(self, url):
        """The status of the task at ``url`` (running, success, error, ...)."""
        path = url[len(self.settings.api_url) :] if url.startswith(self.settings.api_url) else url
        return self._get(path, {}).get("status")

    def vcenters(self):
        """The registered vCenters, each with the cell its VC proxy (listener) runs on."""
        body = self._get("/api/query", {"type": "virtualCenter", "format": "records", "pageSize": API_PAGE_SIZE})
        return [vcenter_summary(record, self.settings.cell_name) for record in body.get("record") or []]

    def reconnect_vcenter(self, vcenter_id, timeout):
        """A forced reconnect of the vCenter, waiting for its task: its proxy moves to a serving cell."""
        path = f"/api/admin/extension/vimServer/{vcenter_id}/action/forcevimserverreconnect"
        response = self._request("POST", path, headers=dict(self.token_headers, Accept=self.accept))
        if response.status_code not in (200, 202):
            self._fail(response, f"Reconnecting the vCenter {vcenter_id}")
        task = {}
        with contextlib.suppress(ValueError):
            task = response.json()
        href = task.get("href") or response.headers.get("Location")
        status = str(task.get("status") or "").lower()
        deadline = time.monotonic() + timeout
        while href and status not in ("success", "error", "aborted", "canceled"):
            if time.monotonic() >= deadline:
                raise errors.ApiError(
                    f"Reconnecting the vCenter {vcenter_id}: its task was still {status} after {timeout}s"
                )
            time.sleep(API_POLL_SECONDS)
            status = str(self.task_status(href) or "").lower()
        if status not in ("success", ""):
            raise errors.ApiError(f"Reconnecting the vCenter {vcenter_id} failed: its task ended {status}")

    def cancel(self, task_id):
        path = f"/api/task/{task_id}/action/cancel"
        response = self._request("POST", path, headers=dict(self.token_headers, Accept=self.accept))
        if response.status_code not in (202, 204):
            self._fail(response, f"Cancelling task {task_id}")


def version_key(version):
    """``"38.1"`` as ``(38, 1)``, for comparing API versions."""
    return tuple(int(part) if part.isdigit() else 0 for part in str(version).split("."))


def cell_summary(name, active, product_version, record):
    return {
        "name": name,
        "active": bool(active),
        "version": product_version,
        "status": record.get("status"),
        "primary_ip": record.get("primaryIP") or record.get("primaryIp"),
    }


def proxy_is_on(proxy, cell_name):
    """
    Whether the virtualCenter record's ``vcProxy`` names the cell ``cell_name``: its exact form is
    unconfirmed (a cell name, perhaps with its address), so the name as a whole word, in any case.
    """
    if not proxy or not cell_name:
        return False
    return bool(re.search(rf"(?<![\w.-]){re.escape(cell_name)}(?![\w.-])", str(proxy), re.IGNORECASE))


def vcenter_summary(record, cell_name):
    """A virtualCenter record as plain data; ``here``: its proxy runs on this cell."""
    listener = record.get("listenerState")
    return {
        "id": (record.get("href") or "").rstrip("/").rsplit("/", 1)[-1],
        "name": record.get("name"),
        "proxy": record.get("vcProxy"),
        "listener": listener,
        "connected": record.get("isConnected") in (True, 1, "true"),
        "here": proxy_is_on(record.get("vcProxy"), cell_name),
    }


def task_summary(record):
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
    """
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise SaltInvocationError("tasks must be a list of task summaries, as vcd_cell.tasks returns")
    return "; ".join(
        f"{t.get('id')} {t.get('name')} (owner {t.get('owner')}, running {t.get('age_seconds')}s)" for t in tasks
    )


# -- sessions that give way to the tool when the API cannot help ----------------------------------


def open_api(settings):
    """A logged-in API session, or None when the API is not configured or does not work."""
    if not (settings.api_url and settings.password):
        return None
    return logged_in(Api(settings))


def logged_in(api):
    try:
        return api.login()
    except errors.ApiError as exc:
        api.abandon()
        log.warning("vcd_cell: working without the REST API, with the tool instead: %s", exc)
        return None


def hosted_proxies(api):
    """
    The vCenters whose VC proxy runs on this cell (``id``, ``name``, ``proxy``), read once; None when
    the API is not there or cannot say (the drain goes on without).
    """
    if api is None:
        return None
    try:
        return [v for v in api.vcenters() if v["here"]]
    except (errors.ApiError, ValueError, KeyError) as exc:
        log.debug("vcd_cell: the vCenters' proxies could not be read: %s", exc)
        return None


def own_cell(api):
    """This cell's record when its state can be read and set through the API (vCD 10.5.1), else None."""
    try:
        return api.own_cell() if api is not None else None
    except errors.ApiError as exc:
        log.warning("vcd_cell: the cells API failed, using the tool instead: %s", exc)
        return None


@contextlib.contextmanager
def cell_states(settings):
    """
    ``(api, record)``: a logged-in session and this cell's record, when the cell's state can be read and
    set through the REST API (API 38.1, vCD 10.5.1); ``(None, None)`` otherwise (no ``api_url`` or
    password, an older cell, an API that fails), and the tool does the work. The API versions are asked
    before any login, so an older cell costs no login attempt.
    """
    api = None
    if settings.api_url and settings.password:
        probe = Api(settings)
        try:
            speaks = probe.negotiate() and probe.speaks(CELL_STATES_API)
        except errors.ApiError as exc:
            log.warning("vcd_cell: the REST API did not answer, using the tool instead: %s", exc)
            speaks = False
        if speaks:
            api = logged_in(probe)
        else:
            probe.abandon()
    try:
        record = own_cell(api)
        yield (api, record) if record is not None else (None, None)
    finally:
        if api is not None:
            api.close()


def wait_for_task(api, url, timeout):
    """Whether the task at ``url`` succeeded within ``timeout`` seconds; an error if it failed."""
    deadline = time.monotonic() + timeout
    while True:
        state = api.task_status(url)
        if state == "success":
            return True
        if state in ("error", "aborted", "canceled"):
            raise errors.ApiError(f"The vCD task {url} ended {state}")
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(API_POLL_SECONDS, max(0.0, deadline - time.monotonic())))


def set_state_through_api(settings, state, timeout):
    """
    Set the cell ``state`` (ACTIVE, QUIESCED, MAINTENANCE) through the cells API and wait up to
    ``timeout`` for its task: whether it completed. None when the API cannot do it here (the tool must).
    """
    with cell_states(settings) as (api, record):
        if record is None:
            return None
        return wait_for_task(api, api.set_cell_state(record, state), timeout)


def reading_from_api(record, tasks):
    """What the cells API says of the cell, in the shape of a tool reading, plus what the tool cannot say."""
    state = record["status"]
    return {
        "job_count": len(tasks),
        "active": state == "ACTIVE",
        "maintenance": state == "MAINTENANCE",
        "quiesced": state == "QUIESCED",
        "source": "api",
    }


def poll_tasks(api):
    """The cell's running tasks, or None (and the session dropped) when the API fails."""
    try:
        return api.running_tasks()
    except errors.ApiError as exc:
        log.warning("vcd_cell: the REST API failed, polling the tool instead: %s", exc)
        api.abandon()
        return None


def health(settings):
    """
    What a load balancer sees: ``GET /cloud/server_status``; ``up``, the HTTP status, the maintenance
    message, and the answer's ``Date`` header (the cell's clock as its API shows it; None without one).
    """
    if not settings.api_url:
        raise errors.NotConfigured("health needs the cell's URL: set vcd_cell:api_url")
    url = settings.api_url + "/cloud/server_status"
    try:
        response = requests.get(url, timeout=API_TIMEOUT, verify=settings.api_verify)
    except requests.exceptions.SSLError as exc:
        raise errors.ApiError(f"TLS verification failed for {url}: {exc}") from None
    except requests.exceptions.RequestException:
        return {"up": False, "status_code": None, "maintenance_message": False, "date": None}
    up = response.status_code == 200 and "Service is up" in response.text
    in_maintenance = response.status_code == 503 and "maintenance" in response.text.lower()
    return {
        "up": up,
        "status_code": response.status_code,
        "maintenance_message": in_maintenance,
        "date": response.headers.get("Date"),
    }
