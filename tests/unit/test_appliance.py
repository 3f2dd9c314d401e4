"""
The module's appliance machinery against fake appliances: the appliance API client over real HTTP (and
on the cluster bodies the simulator answers, in the variants the reference allows), vamicli's output
read by meaning through real subprocesses, and the version comparison.
"""

import subprocess
import sys

import pytest
from salt.exceptions import SaltInvocationError

import _vcd_cell_api as rest
import _vcd_cell_appliance as appliance_api
import _vcd_cell_errors as errors
import _vcd_cell_settings as vcd_settings
import _vcd_cell_vamicli as vamicli
from _vcd_cell_upgrade import same_version
from simulator.appliance import MANUAL
from tests.conftest import APPLIANCE_ROOT_PASSWORD
from tests.simulator.test_appliance import stop_cells
from tests.support import REPO, wait_for


def run_all(argv, timeout=None, **kwargs):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    return {"retcode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def settings_of(appliance, **overrides):
    values = dict(appliance.tools, **overrides)
    salt = {"config.get": lambda key, default=None: values.get(key.split(":", 1)[1], default), "cmd.run_all": run_all}
    return vcd_settings.read(salt, {"id": appliance.name})


def test_the_cluster_read_through_any_appliance_names_each_nodes_role(fake_appliances):
    primary, standby, cell = fake_appliances.appliances
    for appliance, role in ((primary, "PRIMARY"), (standby, "STANDBY"), (cell, "CELL")):
        with appliance_api.ApplianceApi(settings_of(appliance)) as api:
            nodes = api.nodes()
        assert (nodes["node"], nodes["role"]) == (appliance.name, role)
        assert (nodes["failover"], nodes["health"], nodes["primaries"]) == ("AUTOMATIC", "HEALTHY", ["vcd1"])
        assert [(n["name"], n["role"], n["status"]) for n in nodes["nodes"]] == [
            ("vcd1", "PRIMARY", "running"),
            ("vcd2", "STANDBY", "running"),
        ]


def test_the_failover_mode_is_set_through_a_task_and_refused_on_a_cell_type_appliance(fake_appliances):
    primary, standby, cell = fake_appliances.appliances
    with appliance_api.ApplianceApi(settings_of(standby)) as api:
        api.set_failover("manual")
        assert api.nodes()["failover"] == MANUAL
    with appliance_api.ApplianceApi(settings_of(cell)) as api, pytest.raises(errors.ApplianceError) as refused:
        api.set_failover("automatic")
    assert "cell-type appliance" in str(refused.value)


def test_a_wrong_root_password_is_named_as_refused_credentials_and_never_quoted(fake_appliances):
    wrong = "n0t-the-r00t-pässword"
    settings = settings_of(fake_appliances.appliances[0], appliance_password=wrong)
    with appliance_api.ApplianceApi(settings) as api, pytest.raises(errors.ApplianceError) as refused:
        api.nodes()
    assert "refused the credentials of root" in str(refused.value) and wrong not in str(refused.value)


def test_an_appliance_that_is_down_does_not_answer_and_the_error_says_so(fake_appliances):
    primary = fake_appliances.appliances[0]
    stop_cells(fake_appliances)
    primary.config.reboot_seconds = 60
    fake_appliances.reboot(primary)
    with appliance_api.ApplianceApi(settings_of(primary)) as api, pytest.raises(errors.ApplianceError, match="503"):
        api.nodes()


@pytest.mark.parametrize(
    "body",
    [
        # As the simulator answers.
        {
            "localClusterFailover": "MANUAL",
            "localClusterHealth": "HEALTHY",
            "localClusterState": [
                {"name": "a", "nodeRole": "PRIMARY", "nodeHealth": "HEALTHY", "status": "running", "upstream": None},
                {"name": "b", "nodeRole": "STANDBY", "nodeHealth": "HEALTHY", "status": "running", "upstream": "a"},
            ],
            "warnings": [],
        },
        # Lower case, no warnings, upstream left out: the same cluster.
        {
            "localClusterFailover": "manual",
            "localClusterHealth": "healthy",
            "localClusterState": [
                {"name": "a", "nodeRole": "primary", "nodeHealth": "healthy", "status": "RUNNING"},
                {"name": "b", "nodeRole": "standby", "nodeHealth": "healthy", "status": "Running", "upstream": "a"},
            ],
        },
    ],
)
def test_the_cluster_body_is_read_by_meaning_whatever_its_casing(body):
    cluster = appliance_api.cluster(body, "b")
    assert (cluster["failover"], cluster["health"], cluster["primaries"], cluster["role"]) == (
        "MANUAL",
        "HEALTHY",
        ["a"],
        "STANDBY",
    )
    assert [n["status"] for n in cluster["nodes"]] == ["running", "running"]
    assert appliance_api.cluster(body, "c")["role"] == "CELL"


def test_each_nodes_own_failover_mode_is_read_where_it_says_one():
    body = {
        "localClusterFailover": "INDETERMINATE",
        "localClusterState": [
            {"name": "a", "nodeRole": "PRIMARY", "failover": {"mode": "automatic", "repmgrd": "running"}},
            {"name": "b", "nodeRole": "STANDBY", "failover": {"mode": "MANUAL", "repmgrd": "dead"}},
            {"name": "c", "nodeRole": "STANDBY", "failover": "unexpected"},
            {"name": "d", "nodeRole": "STANDBY"},
        ],
    }
    cluster = appliance_api.cluster(body, "a")
    assert cluster["failover"] == "INDETERMINATE"
    assert [n["failover"] for n in cluster["nodes"]] == ["AUTOMATIC", "MANUAL", None, None]


def test_a_cluster_body_that_is_not_one_is_an_error_quoting_it():
    with pytest.raises(errors.ApplianceError, match="unexpected"):
        appliance_api.cluster({"localClusterState": "nope"})
    with pytest.raises(SaltInvocationError, match="manual, automatic"):
        appliance_api.check_mode("sometimes")


@pytest.mark.parametrize("prompts", ["standard", "alternate"])
def test_vamicli_is_read_by_meaning_in_either_wording_and_installs_only_the_version_asked(fake_appliances, prompts):
    cell = fake_appliances.appliances[2]
    cell.cell.reconfigure(prompts=prompts)
    settings = settings_of(cell, update_repo=fake_appliances.package)
    assert vamicli.read_version(settings).startswith("10.5.0")
    stop_cells(fake_appliances)
    with pytest.raises(errors.PackageMissing) as refused:
        vamicli.install_update(settings, "10.7.0")
    assert "offers 10.6.0" in str(refused.value) and "nothing was installed" in str(refused.value)
    assert cell.cell.installed_version == "10.5.0"
    vamicli.install_update(settings, "10.6.0")
    assert same_version("10.6.0", vamicli.read_version(settings))


def test_a_failing_vamicli_is_an_error_quoting_what_it_said(fake_appliances):
    cell = fake_appliances.appliances[2]
    cell.reconfigure(vamicli_fault=True)
    stop_cells(fake_appliances)
    with pytest.raises(errors.ToolError, match="injected fault"):
        vamicli.install_update(settings_of(cell, update_repo=fake_appliances.package), "10.6.0")


def test_the_backup_names_the_file_it_wrote(fake_appliances):
    backup = vamicli.create_backup(settings_of(fake_appliances.appliances[0]))
    assert backup["path"].startswith("/opt/vmware/vcloud-director/data/transfer/backups/backup-vcd1-")
    with pytest.raises(errors.ToolError, match="not the primary"):
        vamicli.create_backup(settings_of(fake_appliances.appliances[1]))


def test_the_reboot_starts_once_the_process_that_asked_for_it_has_ended(fake_appliances, tmp_path):
    primary = fake_appliances.appliances[0]
    stop_cells(fake_appliances)
    gate = tmp_path / "gate"
    # A job process: it asks for the reboot, then lives on until the test lets it end.
    script = (
        "import os, sys, time, types; sys.path.insert(0, sys.argv[1]); import _vcd_cell_host as v; "
        "print(v.reboot_later(types.SimpleNamespace(reboot_command=[sys.argv[2]], opts={})), flush=True); "
        "[time.sleep(0.01) for _ in iter(lambda: os.path.exists(sys.argv[3]), True)]"
    )
    job = subprocess.Popen(
        [sys.executable, "-c", script, str(REPO / "_utils"), primary.tools["reboot_command"], str(gate)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert "'rebooting': True" in job.stdout.readline()
    assert job.poll() is None and fake_appliances.host_is_up(primary) and primary.boots == 0
    assert not [e for e in fake_appliances.timeline.since(0) if e["event"] == "reboot"]
    gate.touch()
    job.wait(timeout=60)
    wait_for(lambda: fake_appliances.host_is_up(primary) and primary.boots == 1, "the appliance to reboot and boot")
    assert primary.cell.running()


@pytest.mark.parametrize(
    ("asked", "found", "same"),
    [
        ("10.6.0", "10.6.0", True),
        ("10.6.0", "10.6.0.24000000", True),
        ("10.6", "10.6.0", True),
        ("10.6.0", "10.6.01", False),
        ("10.6.0.1", "10.6.0", False),
        ("10.6.0", None, False),
    ],
)
def test_a_version_asked_matches_the_same_version_with_its_build(asked, found, same):
    assert same_version(asked, found) is same


def test_the_appliance_keys_are_checked_and_the_root_password_is_never_shown(fake_appliances):
    settings = settings_of(fake_appliances.appliances[0])
    assert settings.appliance and settings.appliance_node == "vcd1"
    assert (
        APPLIANCE_ROOT_PASSWORD not in repr(settings)
        and settings.redact(f"x {APPLIANCE_ROOT_PASSWORD} y") == "x ****** y"
    )
    with pytest.raises(SaltInvocationError, match="reboot_command"):
        settings_of(fake_appliances.appliances[0], reboot_command=42)


def test_the_primary_is_never_disturbed_with_automatic_failover_nor_another_appliance_without_a_primary(
    fake_appliances,
):
    primary, standby, cell = fake_appliances.appliances

    def view(appliance):
        with appliance_api.ApplianceApi(settings_of(appliance)) as api:
            return api.nodes()

    with pytest.raises(errors.ClusterUnsafe, match="failover is AUTOMATIC: installing it could have a standby"):
        appliance_api.refuse_unsafe(view(primary), "installing")
    appliance_api.refuse_unsafe(view(standby), "rebooting", needs_primary=True)
    fake_appliances.set_failover(primary, "manual")
    appliance_api.refuse_unsafe(view(primary), "rebooting", needs_primary=True)
    stop_cells(fake_appliances)
    primary.config.reboot_seconds = 60
    fake_appliances.reboot(primary)
    for other in (standby, cell):
        with pytest.raises(errors.ClusterUnsafe, match="primary database node is not running"):
            appliance_api.refuse_unsafe(view(other), "rebooting", needs_primary=True)


def test_a_switchover_waits_until_the_cluster_is_whole_again_around_the_new_primary(fake_appliances):
    primary, standby, cell = fake_appliances.appliances
    with appliance_api.ApplianceApi(settings_of(cell)) as api, pytest.raises(errors.ApplianceError) as refused:
        api.switchover("vcd2")
    assert "not applicable through this appliance" in str(refused.value)
    with appliance_api.ApplianceApi(settings_of(standby)) as api:
        with pytest.raises(errors.ClusterUnsafe, match="vcd3 is not a standby.*the standbys are vcd2"):
            api.switchover("vcd3")
        switched = api.switchover("vcd2")
    assert switched["before"]["primaries"] == ["vcd1"]
    assert (switched["after"]["health"], switched["after"]["primaries"]) == ("HEALTHY", ["vcd2"])
    (event,) = [e for e in fake_appliances.timeline.since(0) if e["event"] == "switchover"]
    # The cluster was read whole only once the database was back on both nodes (the timeline's times are
    # rounded to the microsecond, each on its own: one microsecond either way is the same moment).
    back = [e for e in fake_appliances.timeline.since(0) if e["event"] == "postgres_start"]
    due = event["t"] + fake_appliances.switchover_seconds - 1e-6
    assert len(back) == 2 and all(e["t"] >= due for e in back)
    primary.config.unhealthy = True
    refused_settings = settings_of(standby)
    with appliance_api.ApplianceApi(refused_settings) as api, pytest.raises(errors.ClusterUnsafe) as refused:
        api.switchover("vcd1")
    assert "DEGRADED: a switchover needs every node healthy" in str(refused.value)


@pytest.mark.parametrize(
    ("proxy", "here"),
    [
        ("cell1", True),
        ("CELL1", True),
        ("cell1 (10.0.0.1)", True),
        ("cell1.example.com", False),
        ("cell10", False),
        ("", False),
        (None, False),
    ],
)
def test_a_vcenter_proxy_is_matched_to_the_cell_by_its_name_as_a_whole_word(proxy, here):
    assert rest.proxy_is_on(proxy, "cell1") is here
