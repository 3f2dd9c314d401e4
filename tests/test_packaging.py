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


def test_the_wheel_carries_the_modules_and_the_loader_entry_point(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
        text = archive.read(entry_points).decode()
    for module in (
        "modules/vcd_cell.py",
        "states/vcd_cell.py",
        "runners/vcd_rolling.py",
        "runners/vcd_upgrade.py",
        "runners/_orchestration.py",
    ):
        assert f"saltext_vcd_cell/{module}" in names
    assert "[salt.loader]" in text and "saltext_vcd_cell.loader:get_extension_dirs" in text
    # The same bytes as the file_roots copy: one copy of the code.
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("saltext_vcd_cell/modules/vcd_cell.py") == (REPO / "_modules/vcd_cell.py").read_bytes()


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
    for kind, module in (("modules", "vcd_cell.py"), ("states", "vcd_cell.py"), ("runners", "vcd_rolling.py")):
        assert f"'{kind}': ['{target}/saltext_vcd_cell/{kind}']" in dirs.stdout
        assert (target / "saltext_vcd_cell" / kind / module).is_file()


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
    assert '"vcd_cell.drain"' in modules.stdout, modules.stderr
    assert '"vcd_cell.drained"' in states.stdout, states.stderr
    assert '"vcd_rolling.rollout"' in runners.stdout, runners.stderr
    assert '"vcd_upgrade.upgrade"' in runners.stdout, runners.stderr
