"""
One window at a time: the claim and what proves its run alive (`_utils/_vcd_window.py`), the claim on a
cell's host and the guard of the functions that change a cell (`_utils/_vcd_cell_window.py`), and a run's
claim on its cells from the master, all or none (`_utils/_vcd_orchestration_window.py`), over real files:
each cell's lease directory and the master's cache.
"""

import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import salt.config
from salt.exceptions import CommandExecutionError, SaltInvocationError

import _vcd_cell_errors as errors
import _vcd_cell_settings as config
import _vcd_cell_window as cell_windows
import _vcd_orchestration as orchestration
import _vcd_orchestration_window as windowing
import _vcd_window as windows

CELLS = ("c1", "c2", "c3")


def claim(run="r1", plan="p1", orchestration_bank="vcd_upgrade", **changes):
    """A claim made here, now, by this process (as a live run's is)."""
    made = windows.claim_of(run, orchestration_bank, plan, CELLS, "master1", "ops", "minion")
    return dict(made, **changes)


def a_dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# -- what proves a run alive ---------------------------------------------------------------------------


def test_a_run_of_this_host_is_alive_while_its_process_runs_and_dead_once_it_is_gone():
    assert windows.judge(claim()) == (True, f"pid {claim()['pid']} runs on {windows.host()['host']}")
    pid = a_dead_pid()
    assert windows.judge(claim(pid=pid, pid_started=None)) == (False, f"pid {pid} gone")


def test_a_pid_another_process_took_since_is_not_the_run():
    alive, why = windows.judge(claim(pid_started=claim()["pid_started"] - 3600))
    assert (alive, why) == (False, f"pid {claim()['pid']} gone")


def test_a_run_of_this_host_before_its_reboot_is_dead_whatever_its_heartbeat():
    alive, why = windows.judge(claim(boot="another-boot"))
    assert not alive and "has rebooted since" in why


def test_a_run_of_another_host_is_judged_by_its_heartbeat_by_the_clock_that_keeps_it():
    elsewhere = claim(host="master2.example.com", boot="b")
    assert windows.judge(elsewhere, age=5) == (True, "its heartbeat is 5s old")
    assert windows.judge(elsewhere, age=windows.STALE_SECONDS + 1) == (False, "no heartbeat for 121s")
    stale = dict(elsewhere, heartbeat=time.time() - 600)
    assert windows.judge(stale)[0] is False


def test_a_run_that_ended_is_not_alive_and_says_when():
    alive, why = windows.judge(claim(ended=0))
    assert alive is True  # 0 is no end: never set
    alive, why = windows.judge(claim(ended=86400))
    assert (alive, why) == (False, "it ended at 1970-01-02 00:00:00 UTC without finishing its window")


def test_a_cells_claim_made_over_salt_ssh_has_no_heartbeat_there_and_holds_until_it_ends():
    over_ssh = dict(claim(host="master2.example.com", boot="b"), cell_heartbeat=False)
    alive, why = windows.judge(over_ssh, age=3600)
    assert alive is True and "over salt-ssh, which keeps no heartbeat there" in why
    assert windows.judge(dict(over_ssh, ended=86400), age=3600)[0] is False
    # Its own master judges it by the heartbeat in its cache.
    assert windows.judge(dict(over_ssh, heartbeat=time.time() - 600))[0] is False


def test_a_claim_whose_times_are_not_numbers_is_judged_by_what_it_holds_never_a_crash():
    elsewhere = claim(host="master2.example.com", boot="b", ended="None", heartbeat="yesterday")
    assert windows.judge(elsewhere, age="soon")[0] is False
    assert windows.judge(dict(elsewhere, heartbeat=time.time()))[0] is True


def test_a_claim_names_its_run_plan_master_user_and_since_and_the_commands_for_it():
    made = claim(run="3fa2c81b", plan="full")
    said = windows.describe(made)
    assert said.startswith("run 3fa2c81b of vcd_upgrade (plan full), by ops from master1 on ")
    assert f"pid {made['pid']}, since {made['since']}" in said
    assert windows.follow_command(made) == "salt-run vcd_watch.follow run=full"
    assert windows.release_command(made) == "salt-run vcd_upgrade.release run=3fa2c81b"


# -- on the cell's host --------------------------------------------------------------------------------


def cell_settings(tmp_path, name, salt=None):
    settings = config.Settings({"lease_dir": str(tmp_path / name), "cell_name": name}, salt, {"id": name})
    return settings


def test_a_cell_is_claimed_once_renewed_by_its_run_only_and_taken_over_by_name(tmp_path):
    settings = cell_settings(tmp_path, "c1")
    first, second = claim("r1"), claim("r2")
    assert cell_windows.take(settings, first) == {"taken": True, "previous": None}
    refused = cell_windows.take(settings, second)
    assert refused["taken"] is False and refused["holder"]["claim"]["run"] == "r1"
    assert cell_windows.renew(settings, "r1") is True
    assert cell_windows.renew(settings, "r2") is False
    taken = cell_windows.take(settings, second, takeover="r1")
    assert taken["taken"] is True and taken["previous"]["run"] == "r1"
    assert cell_windows.read(settings)["claim"]["run"] == "r2"


def test_a_claim_released_is_gone_and_one_kept_is_marked_ended(tmp_path):
    settings = cell_settings(tmp_path, "c1")
    cell_windows.take(settings, claim("r1"))
    assert cell_windows.release(settings, "other") is False
    assert cell_windows.release(settings, "r1", keep=True) is True
    report = cell_windows.report(settings)
    assert report["held"] is True and report["alive"] is False and "without finishing its window" in report["why"]
    assert cell_windows.release(settings, "r1") is True
    assert cell_windows.report(settings) == {"held": False, "claim": None, "alive": False, "why": None}
    assert cell_windows.renew(settings, "r1") is False


def test_a_function_that_changes_a_cell_refuses_on_another_runs_live_window_naming_it(tmp_path):
    pillar = {}
    settings = cell_settings(tmp_path, "c1", {"config.get": lambda key, default=None: pillar.get(key, default)})
    cell_windows.guard(settings, doing="starting")  # no claim: passes
    cell_windows.take(settings, claim("r1", plan="full"))
    with pytest.raises(errors.WindowHeld) as refused:
        cell_windows.guard(settings, doing="starting")
    said = str(refused.value)
    assert said.startswith("Refusing starting c1: it is held by the live window of run r1 of vcd_upgrade (plan full)")
    assert "Nothing was touched" in said and "salt-run vcd_watch.follow run=full" in said and "force=True" in said
    assert cell_windows.guard(settings, window="r1", doing="starting") is None
    pillar["vcd_cell:window"] = "r1"  # the window's own state runs
    assert cell_windows.guard(settings, doing="starting") is None


def test_forced_past_a_live_window_it_is_logged_and_the_functions_called_act_for_it(tmp_path, caplog):
    settings = cell_settings(tmp_path, "c1", {"config.get": lambda key, default=None: default})
    cell_windows.take(settings, claim("r1"))
    assert cell_windows.guard(settings, force=True, doing="bringing back") == "r1"
    assert "bringing back c1 although it is held by the live window of run r1" in caplog.text
    with cell_windows.acting_for("r1"):
        assert cell_windows.guard(settings, doing="starting") is None
    with pytest.raises(errors.WindowHeld):
        cell_windows.guard(settings, doing="starting")


def test_a_dead_runs_claim_stops_nobody_bringing_a_cell_back(tmp_path):
    settings = cell_settings(tmp_path, "c1", {"config.get": lambda key, default=None: default})
    cell_windows.take(settings, claim("r1", pid=a_dead_pid(), pid_started=None))
    assert cell_windows.guard(settings, doing="starting") is None


def test_the_window_error_is_the_functions_failure_at_the_edge():
    @errors.at_the_edge
    def start():
        raise errors.WindowHeld("Refusing starting c1: it is held")

    with pytest.raises(CommandExecutionError, match="Refusing starting c1"):
        start()


# -- from the master: a run's claim on its cells, all or none ---------------------------------------------


class HostCells(orchestration.Cells):
    """The cells' ``vcd_cell.window*`` functions on their lease directories, as their minions would answer."""

    def __init__(self, root, silent=()):  # pylint: disable=super-init-not-called
        self.root = root
        self.silent = set(silent)
        self.asked = []

    def call(self, cells, fun, arg=(), kwarg=None, timeout=None):
        self.asked.append((fun, list(cells), dict(kwarg or {})))
        kwarg = dict(kwarg or {})
        answers = orchestration.Answers()
        for cell in cells:
            if cell in self.silent:
                answers.silent[cell] = "the minion did not answer"
                continue
            settings = cell_settings(self.root, cell)
            if fun == "vcd_cell.window_claim":
                answers[cell] = cell_windows.take(settings, kwarg["claim"], kwarg.get("takeover"))
            elif fun == "vcd_cell.window_renew":
                answers[cell] = cell_windows.renew(settings, kwarg["run"])
            elif fun == "vcd_cell.window_release":
                answers[cell] = cell_windows.release(settings, kwarg["run"], kwarg.get("keep", False))
            elif fun == "vcd_cell.window":
                answers[cell] = cell_windows.report(settings)
        return answers

    def close(self):
        pass


@pytest.fixture(name="opts")
def _opts(tmp_path):
    opts = salt.config.master_config(None)
    opts.update(cachedir=str(tmp_path / "master"), sock_dir=str(tmp_path / "sock"))
    return opts


def a_window(opts, calls, plan="p1", bank="vcd_upgrade", cells=CELLS):
    return windowing.Window(opts, calls, bank, plan, cells, ssh=False)


def test_a_run_claims_every_cell_in_the_masters_cache_and_on_each_host(opts, tmp_path):
    calls = HostCells(tmp_path / "hosts")
    window = a_window(opts, calls)
    window.take()
    assert window.took_over is None
    assert {cell: c["run"] for cell, c in windowing.Claims(opts).every().items()} == dict.fromkeys(CELLS, window.run)
    for cell in CELLS:
        assert cell_windows.read(cell_settings(tmp_path / "hosts", cell))["claim"]["run"] == window.run
    window.end(finished=True)
    assert windowing.Claims(opts).every() == {}
    assert all(cell_windows.read(cell_settings(tmp_path / "hosts", cell)) is None for cell in CELLS)


def test_a_second_run_on_an_overlapping_set_of_cells_is_refused_naming_the_first_and_takes_nothing(opts, tmp_path):
    calls = HostCells(tmp_path / "hosts")
    first = a_window(opts, calls, plan="upgrade-plan")
    first.take()
    second = a_window(opts, calls, plan="rollout-plan", bank="vcd_rolling", cells=("c3", "c4"))
    with pytest.raises(windowing.WindowRefused) as refused:
        second.take()
    said = str(refused.value)
    assert said.startswith(f"c3 is held by run {first.run} of vcd_upgrade (plan upgrade-plan), by ")
    assert "(alive: pid" in said and "watch it with salt-run vcd_watch.follow run=upgrade-plan on its master" in said
    # c4 was not claimed, c3 still the first run's.
    assert windowing.Claims(opts).of("c4") is None and windowing.Claims(opts).of("c3")["run"] == first.run
    assert cell_windows.read(cell_settings(tmp_path / "hosts", "c4")) is None


def test_a_claim_on_the_hosts_alone_refuses_a_run_from_a_master_that_never_saw_it(opts, tmp_path):
    calls = HostCells(tmp_path / "hosts")
    cell_windows.take(cell_settings(tmp_path / "hosts", "c2"), claim("other", plan="p9", host="m2", boot="b"))
    window = a_window(opts, calls)
    with pytest.raises(windowing.WindowRefused, match="c2 is held by run other of vcd_upgrade"):
        window.take()
    # All or none: the cells it had claimed on their hosts, and the master's cache, released again.
    assert windowing.Claims(opts).every() == {}
    assert cell_windows.read(cell_settings(tmp_path / "hosts", "c1")) is None
    assert cell_windows.read(cell_settings(tmp_path / "hosts", "c2"))["claim"]["run"] == "other"


def test_a_dead_run_of_the_same_plan_is_taken_over_and_the_run_says_so(opts, tmp_path):
    calls = HostCells(tmp_path / "hosts")
    first = a_window(opts, calls)
    first.take()
    dead = a_dead_pid()
    for cell in CELLS:  # as the killed run left it
        windowing.Claims(opts).store(cell, dict(first.claim, pid=dead, pid_started=None))
        cell_windows.take(cell_settings(tmp_path / "hosts", cell), dict(first.claim, pid=dead, pid_started=None))
    second = a_window(opts, calls)
    second.take()
    assert second.took_over == f"run {first.run}: no longer running, pid {dead} gone"
    assert {c["run"] for c in windowing.Claims(opts).every().values()} == {second.run}


def test_a_dead_run_of_another_plan_refuses_until_released_by_hand(opts, tmp_path, monkeypatch):
    calls = HostCells(tmp_path / "hosts")
    monkeypatch.setattr(windowing.transports, "reach", lambda opts, timeout, ssh: calls)
    first = a_window(opts, calls, plan="upgrade-plan")
    first.take()
    first.end(finished=False)  # it returned with its window unfinished
    rollout = a_window(opts, calls, plan="rollout-plan", bank="vcd_rolling")
    with pytest.raises(windowing.WindowRefused) as refused:
        rollout.take()
    said = str(refused.value)
    assert "no longer running (it ended at" in said and "with its window unfinished" in said
    assert f"release it with salt-run vcd_upgrade.release run={first.run}" in said
    with pytest.raises(SaltInvocationError, match=f"run {first.run} is a run of vcd_upgrade"):
        windowing.release(opts, "vcd_rolling", first.run)
    released = windowing.release(opts, "vcd_upgrade", first.run)
    assert released["result"] is True and released["cells"] == dict.fromkeys(CELLS, "released")
    rollout.take()
    assert rollout.took_over is None


def test_a_live_run_is_not_released_by_hand_unless_forced(opts, tmp_path, monkeypatch):
    calls = HostCells(tmp_path / "hosts")
    monkeypatch.setattr(windowing.transports, "reach", lambda opts, timeout, ssh: calls)
    live = a_window(opts, calls)
    live.take()
    with pytest.raises(SaltInvocationError, match="is alive .* force=True releases it all the same"):
        windowing.release(opts, "vcd_upgrade", live.run)
    forced = windowing.release(opts, "vcd_upgrade", live.run, force=True)
    assert forced["result"] is True and "(alive, forced)" in forced["comment"]


def test_a_claim_made_from_another_master_is_released_by_naming_its_cells(opts, tmp_path, monkeypatch):
    calls = HostCells(tmp_path / "hosts")
    monkeypatch.setattr(windowing.transports, "reach", lambda opts, timeout, ssh: calls)
    for cell in CELLS[:2]:
        cell_windows.take(cell_settings(tmp_path / "hosts", cell), claim("far", pid=a_dead_pid(), pid_started=None))
    with pytest.raises(SaltInvocationError, match="name the cells it holds"):
        windowing.release(opts, "vcd_upgrade", "far")
    released = windowing.release(opts, "vcd_upgrade", "far", cells=list(CELLS))
    assert released["cells"] == {"c1": "released", "c2": "released"}, released


def test_a_cell_that_does_not_answer_refuses_the_run_and_releases_the_others(opts, tmp_path):
    calls = HostCells(tmp_path / "hosts", silent={"c3"})
    window = a_window(opts, calls)
    with pytest.raises(windowing.WindowRefused, match=r"could not all be claimed .*c3: the minion did not answer"):
        window.take()
    assert windowing.Claims(opts).every() == {}
    assert cell_windows.read(cell_settings(tmp_path / "hosts", "c1")) is None


def test_the_heartbeat_refreshes_the_claim_until_the_run_ends(opts, tmp_path, monkeypatch):
    monkeypatch.setattr(windows, "HEARTBEAT_SECONDS", 0.05)
    monkeypatch.setattr(windows, "CELL_HEARTBEAT_SECONDS", 0.1)
    calls = HostCells(tmp_path / "hosts")
    monkeypatch.setattr(windowing.transports, "reach", lambda opts, timeout, ssh: calls)
    window = a_window(opts, calls)
    window.take()
    before = windowing.Claims(opts).of("c1")["heartbeat"]
    window.heartbeat()
    deadline = time.monotonic() + 30
    while not any(fun == "vcd_cell.window_renew" for fun, _, _ in calls.asked) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert windowing.Claims(opts).of("c1")["heartbeat"] > before
    renewed = [(cells, kwarg) for fun, cells, kwarg in calls.asked if fun == "vcd_cell.window_renew"]
    assert renewed[0] == (list(CELLS), {"run": window.run})
    window.end(finished=True)
    assert not window._beating.is_alive()  # pylint: disable=protected-access


def test_the_calls_of_a_window_pass_its_run_to_each_function_that_changes_a_cell():
    calls = SimpleNamespace(window="r1")
    windowed = orchestration.Cells.windowed
    assert windowed(calls, "vcd_cell.start", None) == {"window": "r1"}
    assert windowed(calls, "vcd_cell.quiesce", {"lease": 5}) == {"lease": 5, "window": "r1"}
    assert windowed(calls, "vcd_cell.is_running", None) is None
    assert windowed(SimpleNamespace(window=None), "vcd_cell.start", None) is None
