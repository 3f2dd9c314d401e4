"""`python -m simulator serve` as a user runs it: a foreground process on loopback, stopped by Ctrl-C."""

import json
import re
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from simulator.server import CellServer

DEADLINE = 30


def start_serving(*args):
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first_line = process.stdout.readline()
    match = re.search(r"at (http://127\.0\.0\.1:\d+)", first_line)
    if not match:
        process.kill()
        pytest.fail(f"serve printed no URL: {first_line!r} {process.stderr.read()}")
    return process, match.group(1)


def get_json(url):
    with urllib.request.urlopen(url, timeout=DEADLINE) as response:
        return json.load(response)


def test_two_cells_serve_side_by_side_and_stop_cleanly_on_ctrl_c():
    first, first_url = start_serving("--cell-name", "cellA", "--jobs", "2", "--job-seconds", "60")
    second, second_url = start_serving("--cell-name", "cellB", "--version", "5.1")
    try:
        state_a = get_json(first_url + "/sim/state")
        state_b = get_json(second_url + "/sim/state")
        assert (state_a["cell_name"], state_a["job_count"]) == ("cellA", 2)
        assert (state_b["cell_name"], state_b["version"], state_b["job_count"]) == ("cellB", "5.1", 0)
        assert [j["runs_until_cancelled"] for j in state_a["jobs"]] == [False, False]
    finally:
        for process in (first, second):
            process.send_signal(signal.SIGINT)
    for process in (first, second):
        out, err = process.communicate(timeout=DEADLINE)
        assert process.returncode == 0, err
        assert "Fake cell stopped." in out
        assert "Traceback" not in err


def test_sigterm_stops_it_too():
    process, url = start_serving()
    assert get_json(url + "/sim/state")["service"] == "running"
    process.terminate()
    out, _ = process.communicate(timeout=DEADLINE)
    assert process.returncode == 0
    assert "Fake cell stopped." in out


def test_a_server_group_is_served_cell_by_cell_sharing_one_database():
    process, first_url = start_serving("--cells", "3", "--jobs", "1", "--job-seconds", "60")
    try:
        urls = [first_url]
        while len(urls) < 3:
            match = re.search(r"at (http://127\.0\.0\.1:\d+)", process.stdout.readline())
            if match:
                urls.append(match.group(1))
        group = get_json(urls[1] + "/sim/group")
        assert [c["name"] for c in group["cells"]] == ["cell1", "cell2", "cell3"]
        assert group["schema_version"] == "10.5.0"
        assert [get_json(url + "/sim/state")["cell_name"] for url in urls] == ["cell1", "cell2", "cell3"]
    finally:
        process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 0, err
    assert "Fake cells stopped." in out


def test_bad_options_are_refused_naming_the_option():
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "serve", "--version", "11"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert result.returncode == 2
    assert "--version" in result.stderr


def test_manual_drain_walks_a_cell_through_the_procedure():
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "manual-drain", "--jobs", "2", "--job-seconds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    order = [out.index(step) for step in ("--status", "--quiesce true", "safe to shut down", "--shutdown")]
    assert order == sorted(order)
    assert "Cell stopped: True; jobs aborted: 0." in out
    timeline = out[out.index("timeline:") :]
    assert timeline.rindex(" job_end ") < timeline.index(" shutdown ")


def test_a_tls_cell_serves_https_with_a_certificate_clients_must_refuse():
    with CellServer(tls=True) as server:
        assert server.url.startswith("https://127.0.0.1:")
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(server.url + "/cloud/server_status", timeout=DEADLINE)
        unverified = ssl._create_unverified_context()
        with urllib.request.urlopen(
            server.url + "/cloud/server_status", timeout=DEADLINE, context=unverified
        ) as answer:
            assert answer.read() == b"Service is up."
