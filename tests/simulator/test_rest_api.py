"""The vCD REST subset, health checks and test-control API, through Flask's test client."""

import base64

import pytest

from simulator.app import create_app
from simulator.model import Cell, CellConfig

JSON = "application/*+json;version=37.0"


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def make_client(**config):
    cell = Cell(CellConfig(**config))
    return cell, create_app(cell).test_client()


@pytest.fixture
def cell_and_client():
    return make_client(cell_name="cell1")


def provider_token(client):
    response = client.post(
        "/cloudapi/1.0.0/sessions/provider",
        headers={"Authorization": basic("administrator@System", "vmware"), "Accept": "application/json;version=37.0"},
    )
    assert response.status_code == 200
    return response.headers["X-VMWARE-VCLOUD-ACCESS-TOKEN"]


def bearer(token):
    return {"Authorization": f"Bearer {token}", "Accept": JSON}


def running_tasks(client, token, extra_filter=""):
    response = client.get(
        "/api/query",
        query_string={"type": "adminTask", "format": "records", "filter": "status==running" + extra_filter},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.json
    return response.json


def test_provider_login_gives_a_bearer_token(cell_and_client):
    _, client = cell_and_client
    token = provider_token(client)
    assert running_tasks(client, token)["total"] == 0


def test_legacy_login_gives_x_vcloud_authorization(cell_and_client):
    _, client = cell_and_client
    response = client.post(
        "/api/sessions", headers={"Authorization": basic("administrator@System", "vmware"), "Accept": JSON}
    )
    assert response.status_code == 200
    token = response.headers["x-vcloud-authorization"]
    query = client.get("/api/query?type=adminTask", headers={"x-vcloud-authorization": token, "Accept": JSON})
    assert query.status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        basic("administrator@System", "wrong"),
        basic("administrator@ExampleOrg", "vmware"),
        basic("administrator", "vmware"),
        "Basic !!!",
    ],
)
def test_bad_logins_get_401(cell_and_client, authorization):
    _, client = cell_and_client
    for path in ("/cloudapi/1.0.0/sessions/provider", "/api/sessions"):
        response = client.post(path, headers={"Authorization": authorization, "Accept": JSON})
        assert response.status_code == 401
        assert "X-VMWARE-VCLOUD-ACCESS-TOKEN" not in response.headers


def test_no_or_bad_token_gets_401(cell_and_client):
    _, client = cell_and_client
    assert client.get("/api/query?type=adminTask", headers={"Accept": JSON}).status_code == 401
    assert client.get("/api/query?type=adminTask", headers=bearer("forged")).status_code == 401


def test_logout_ends_the_session(cell_and_client):
    _, client = cell_and_client
    token = provider_token(client)
    assert client.delete("/cloudapi/1.0.0/sessions/current", headers=bearer(token)).status_code == 204
    assert client.get("/api/query?type=adminTask", headers=bearer(token)).status_code == 401


def test_api_calls_need_a_version_in_accept(cell_and_client):
    _, client = cell_and_client
    token = provider_token(client)
    response = client.get(
        "/api/query?type=adminTask", headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
    )
    assert response.status_code == 406
    assert "version" in response.json["message"]


def test_5_1_has_no_cloudapi_but_a_legacy_login():
    _, client = make_client(version="5.1")
    response = client.post(
        "/cloudapi/1.0.0/sessions/provider",
        headers={"Authorization": basic("administrator@System", "vmware"), "Accept": JSON},
    )
    assert response.status_code == 404
    legacy = client.post(
        "/api/sessions", headers={"Authorization": basic("administrator@System", "vmware"), "Accept": JSON}
    )
    assert legacy.status_code == 200
    assert "X-VMWARE-VCLOUD-ACCESS-TOKEN" not in legacy.headers


def test_task_records_carry_the_reference_fields(cell_and_client):
    cell, client = cell_and_client
    job = cell.add_job(seconds=None, name="vappDeploy", operation="Deploying vApp web", owner="alice", org="Acme")
    body = running_tasks(client, provider_token(client))
    assert (body["total"], body["page"], body["pageSize"]) == (1, 1, 25)
    (record,) = body["record"]
    assert record["_type"] == "QueryResultAdminTaskRecordType"
    assert record["href"].endswith(f"/api/task/{job['id']}")
    assert {k: record[k] for k in ("name", "operationFull", "status", "ownerName", "org", "cellName")} == {
        "name": "vappDeploy",
        "operationFull": "Deploying vApp web",
        "status": "running",
        "ownerName": "alice",
        "org": "Acme",
        "cellName": "cell1",
    }
    assert record["startDate"].endswith("Z")
    assert {"objectName", "objectType"} <= set(record)


def test_status_filter_drops_finished_tasks(cell_and_client):
    cell, client = cell_and_client
    cell.add_job(seconds=0)
    cell.add_job(seconds=None)
    token = provider_token(client)
    assert running_tasks(client, token)["total"] == 1
    everything = client.get("/api/query?type=adminTask", headers=bearer(token)).json
    assert sorted(r["status"] for r in everything["record"]) == ["running", "success"]


def test_the_query_lists_every_cell_and_may_honour_a_cell_name_filter(cell_and_client):
    cell, client = cell_and_client
    cell.add_job(seconds=None)
    cell.add_job(seconds=None, cell_name="cell2")
    token = provider_token(client)
    assert running_tasks(client, token)["total"] == 2
    assert running_tasks(client, token, ";cellName==cell1")["total"] == 1
    cell.reconfigure(filter_cell_name=False)
    assert running_tasks(client, token, ";cellName==cell1")["total"] == 2


def test_or_filters_and_paging(cell_and_client):
    cell, client = cell_and_client
    for _ in range(5):
        cell.add_job(seconds=None)
    token = provider_token(client)
    page = client.get(
        "/api/query",
        query_string={"type": "adminTask", "filter": "status==running,status==queued", "pageSize": "2", "page": "2"},
        headers=bearer(token),
    ).json
    assert (page["total"], page["page"], len(page["record"])) == (5, 2, 2)
    assert page["link"][0]["rel"] == "nextPage"
    last = client.get("/api/query?type=adminTask&pageSize=2&page=3", headers=bearer(token)).json
    assert (len(last["record"]), last["link"]) == (1, [])


@pytest.mark.parametrize(
    "query, message",
    [
        ("type=vApp", "not supported"),
        ("type=adminTask&format=references", "format=records"),
        ("type=adminTask&filter=colour==red", "Bad filter"),
        ("type=adminTask&pageSize=500", "pageSize"),
        ("type=adminTask&page=zero", "page must be"),
    ],
)
def test_bad_queries_get_400_naming_the_problem(cell_and_client, query, message):
    _, client = cell_and_client
    response = client.get(f"/api/query?{query}", headers=bearer(provider_token(client)))
    assert response.status_code == 400
    assert message in response.json["message"]


def test_cancel_answers_204_and_the_task_ends_canceled(cell_and_client):
    cell, client = cell_and_client
    job = cell.add_job(seconds=None)
    token = provider_token(client)
    response = client.post(f"/api/task/{job['id']}/action/cancel", headers=bearer(token))
    assert (response.status_code, response.data) == (204, b"")
    assert running_tasks(client, token)["total"] == 0
    assert [e["event"] for e in cell.events()][-2:] == ["cancel_request", "job_cancel"]
    again = client.post(f"/api/task/{job['id']}/action/cancel", headers=bearer(token))
    assert again.status_code == 400
    missing = client.post("/api/task/nope/action/cancel", headers=bearer(token))
    assert missing.status_code == 404


def test_health_checks_follow_the_service_state(cell_and_client):
    cell, client = cell_and_client
    assert (client.get("/cloud/server_status").status_code, client.get("/cloud/server_status").text) == (
        200,
        "Service is up.",
    )
    assert client.get("/cloud").status_code == 200
    cell.quiesce(True)
    assert client.get("/cloud/server_status").status_code == 200
    cell.shutdown()
    assert client.get("/cloud/server_status").status_code == 503
    assert client.get("/cloud").status_code == 503
    assert client.get("/api/versions").status_code == 503
    cell.maintenance_message()
    assert "maintenance" in client.get("/cloud").text


def test_running_cell_maintenance_mode_closes_the_portal_but_not_api_versions(cell_and_client):
    cell, client = cell_and_client
    cell.set_maintenance_mode(True)
    assert client.get("/cloud").status_code == 503
    assert client.get("/api/versions").status_code == 200


def test_a_stopped_cell_answers_the_api_with_503(cell_and_client):
    cell, client = cell_and_client
    token = provider_token(client)
    cell.shutdown()
    assert client.get("/api/query?type=adminTask", headers=bearer(token)).status_code == 503


def test_control_api_adds_hangs_and_crashes(cell_and_client):
    cell, client = cell_and_client
    created = client.post("/sim/jobs", json={"count": 2, "seconds": 60, "owner": "bob"})
    assert created.status_code == 201
    first = created.json["jobs"][0]
    assert client.post(f"/sim/jobs/{first['id']}/hang", json={"cancellable": False}).json["cancellable"] is False
    state = client.get("/sim/state").json
    assert (state["job_count"], state["service"]) == (2, "running")
    assert client.post("/sim/crash").json["service"] == "stopped"
    events = client.get("/sim/timeline?since=2").json["events"]
    assert [e["event"] for e in events] == ["job_hang", "crash", "job_abort", "job_abort"]


def test_control_api_ends_a_job_as_if_it_ended_by_itself(cell_and_client):
    cell, client = cell_and_client
    (job,) = client.post("/sim/jobs", json={"count": 1, "seconds": None}).json["jobs"]
    ended = client.post(f"/sim/jobs/{job['id']}/end")
    assert ended.status_code == 200 and ended.json["status"] == "success"
    assert client.get("/sim/state").json["job_count"] == 0
    assert [e["event"] for e in client.get("/sim/timeline?since=1").json["events"]] == ["job_end"]
    again = client.post(f"/sim/jobs/{job['id']}/end")
    assert again.status_code == 409 and "is not running" in again.json["error"]


@pytest.mark.parametrize(
    "request_body, message",
    [
        ({"count": 0}, "count must be"),
        ({"seconds": "soon"}, "seconds must be"),
        ({"colour": "red"}, "unknown job field"),
    ],
)
def test_control_api_rejects_bad_job_requests(cell_and_client, request_body, message):
    _, client = cell_and_client
    response = client.post("/sim/jobs", json=request_body)
    assert response.status_code == 400
    assert message in response.json["error"]


def test_control_api_refuses_jobs_on_a_quiesced_cell_and_reconfigures(cell_and_client):
    cell, client = cell_and_client
    cell.quiesce(True)
    assert client.post("/sim/jobs", json={}).status_code == 409
    assert client.patch("/sim/config", json={"cli_delay": 1.5}).json["cli_delay"] == 1.5
    assert client.patch("/sim/config", json={"version": "7"}).status_code == 400
    assert "admin_password" not in client.get("/sim/config").json


@pytest.mark.parametrize("fault, status", [("unauthorized", 401), ("error", 500)])
def test_injected_api_faults_spare_the_health_checks(cell_and_client, fault, status):
    cell, client = cell_and_client
    token = provider_token(client)
    cell.reconfigure(api_fault=fault)
    assert client.get("/api/query?type=adminTask", headers=bearer(token)).status_code == status
    assert client.get("/cloud/server_status").status_code == 200


def test_rest_logins_count_towards_the_lockout(cell_and_client):
    cell, client = cell_and_client
    cell.reconfigure(lockout_after=1)
    headers = {"Authorization": basic("administrator@System", "wrong"), "Accept": JSON}
    assert client.post("/api/sessions", headers=headers).status_code == 401
    assert [e["via"] for e in cell.events() if e["event"] == "auth_failure"] == ["api"]


# -- API versions and the cells' states (API 38.1, vCD 10.5.1) ------------------------------------------


@pytest.mark.parametrize("version, newest", [("5.1", "5.1"), ("8.10", "27.0"), ("10.5", "38.0"), ("10.5.1", "38.1")])
def test_each_version_lists_the_api_versions_it_speaks(version, newest):
    _, client = make_client(version=version)
    listed = [v["version"] for v in client.get("/api/versions").get_json()["versionInfo"]]
    assert listed[-1] == newest


def cell_record(client, token, version="38.1"):
    headers = dict(bearer(token), Accept=f"application/json;version={version}")
    (record,) = client.get("/cloudapi/1.0.0/cells?filter=name==cell1", headers=headers).get_json()["values"]
    return record, headers


def test_a_quiesce_through_the_cells_api_completes_once_the_cells_tasks_end():
    cell, client = make_client(cell_name="cell1", version="10.5.1")
    job = cell.add_job(seconds=None)
    token = provider_token(client)
    record, headers = cell_record(client, token)
    assert record["status"] == "ACTIVE"
    put = client.put(f"/cloudapi/1.0.0/cells/{record['id']}", json=dict(record, status="QUIESCED"), headers=headers)
    assert put.status_code == 202
    task_path = put.headers["Location"].split("localhost", 1)[-1]
    assert client.get(task_path, headers=bearer(token)).get_json()["status"] == "running"
    assert cell_record(client, token)[0]["status"] == "QUIESCED"
    assert [e["via"] for e in cell.events() if e["event"] == "quiesce"] == ["api"]
    cell.cancel_job(job["id"])
    assert client.get(task_path, headers=bearer(token)).get_json()["status"] == "success"
    back = client.put(f"/cloudapi/1.0.0/cells/{record['id']}", json=dict(record, status="ACTIVE"), headers=headers)
    assert back.status_code == 202 and cell.snapshot()["quiesced"] is False


@pytest.mark.parametrize(
    "version, change, message",
    [
        ("10.5", {"status": "QUIESCED"}, "from API 38.1 (vCD 10.5.1) on"),
        ("10.5.1", {"status": "INACTIVE"}, "status must be ACTIVE, QUIESCED or MAINTENANCE"),
        ("10.5.1", {"status": "QUIESCED", "name": "renamed"}, "Only the status of a cell may change, not name"),
    ],
)
def test_only_a_cells_status_may_change_and_only_from_api_38_1(version, change, message):
    _, client = make_client(cell_name="cell1", version=version)
    token = provider_token(client)
    record, headers = cell_record(client, token, version="38.1")
    put = client.put(f"/cloudapi/1.0.0/cells/{record['id']}", json=dict(record, **change), headers=headers)
    assert put.status_code == 400 and message in put.get_json()["message"]
