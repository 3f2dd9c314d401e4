"""`pip install .` makes the modules a Salt extension; the file_roots directories stay the one copy."""

import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
TIMEOUT = 300


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert build.returncode == 0, build.stderr
    (path,) = out.glob("saltext_vcd_cell-*.whl")
    return path


def test_the_wheel_carries_the_extension_and_nothing_else(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
        text = archive.read(entry_points).decode()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [line for line in archive.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")]
        # The same bytes as the file_roots copy: one copy of the code.
        assert archive.read("saltext/vcd_cell/modules/vcd_cell.py") == (REPO / "_modules/vcd_cell.py").read_bytes()
    tops = {name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"saltext"}, tops
    assert not any(name.startswith("saltext/__init__") for name in names)  # a namespace shared with others
    for module in (
        "modules/vcd_cell.py",
        "states/vcd_cell.py",
        "runners/vcd_rolling.py",
        "runners/vcd_upgrade.py",
        "utils/_vcd_orchestration.py",
        "utils/_vcd_cell_drain.py",
    ):
        assert f"saltext/vcd_cell/{module}" in names
    assert "[salt.loader]" in text and "saltext.vcd_cell.loader:get_extension_dirs" in text
    runtime = sorted(r for r in requires if "extra ==" not in r)
    assert runtime == ["Requires-Dist: requests>=2.28", "Requires-Dist: salt<3009,>=3006.7"], requires
    assert any(r.startswith("Requires-Dist: flask") and 'extra == "sim"' in r for r in requires), requires


def test_an_installed_wheel_points_salts_loader_at_its_own_modules(wheel, tmp_path):
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert install.returncode == 0, install.stderr
    probe = (
        "import importlib.metadata as m;"
        "(ep,) = [e for e in m.distribution('saltext-vcd-cell').entry_points if e.group == 'salt.loader'];"
        "print(ep.load()())"
    )
    # The base interpreter, not this virtual environment's: here the editable install would answer.
    base_python = pathlib.Path(sys.base_prefix) / "bin" / "python3"
    env = dict(os.environ, PYTHONPATH=str(target))
    dirs = subprocess.run(
        [base_python, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=TIMEOUT
    )
    assert dirs.returncode == 0, dirs.stderr
    for kind, module in (
        ("modules", "vcd_cell.py"),
        ("states", "vcd_cell.py"),
        ("runners", "vcd_rolling.py"),
        ("beacons", "vcd_cell.py"),
    ):
        assert f"'{kind}': ['{target}/saltext/vcd_cell/{kind}']" in dirs.stdout
        assert (target / "saltext" / "vcd_cell" / kind / module).is_file()


def test_salt_finds_the_extension_without_any_file_roots(tmp_path):
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    (config_dir / "minion").write_text(
        f"root_dir: {tmp_path}\nfile_client: local\nfile_roots: {{base: [{tmp_path}]}}\n"
    )
    salt_call = [str(BIN / "salt-call"), "--local", "--config-dir", str(config_dir), "--out", "json"]
    modules = subprocess.run(
        [*salt_call, "sys.list_functions", "vcd_cell"], capture_output=True, text=True, timeout=TIMEOUT
    )
    states = subprocess.run(
        [*salt_call, "sys.list_state_functions", "vcd_cell"], capture_output=True, text=True, timeout=TIMEOUT
    )
    runners = subprocess.run(
        [*salt_call, "sys.list_runner_functions", "vcd_*"], capture_output=True, text=True, timeout=TIMEOUT
    )
    docs = subprocess.run([*salt_call, "sys.doc", "vcd_cell"], capture_output=True, text=True, timeout=TIMEOUT)
    parsed = subprocess.run(
        [*salt_call, "vcd_cell.parse_status", "Job count = 2 Is Active = true"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    report = subprocess.run(
        [str(BIN / "salt-call"), "--local", "--config-dir", str(config_dir), "--versions-report"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert '"vcd_cell.drain"' in modules.stdout, modules.stderr
    assert '"vcd_cell.drained"' in states.stdout, states.stderr
    assert '"vcd_rolling.rollout"' in runners.stdout, runners.stderr
    assert '"vcd_upgrade.upgrade"' in runners.stdout, runners.stderr
    assert "CLI Example" in docs.stdout and "vcd_cell.drain" in docs.stdout, docs.stderr
    assert '"job_count": 2' in parsed.stdout and '"active": true' in parsed.stdout, parsed.stderr
    extensions = report.stdout[report.stdout.index("Salt Extensions:") :].split("\n\n")[0]
    assert "saltext-vcd-cell: 0.1.0" in extensions, report.stdout
