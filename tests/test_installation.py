"""The environment `make test` builds really runs Salt: salt is sometimes built from an sdist, and its
own dependencies must have arrived with it."""

import getpass
import os
import subprocess
import sys

import salt.version


def test_salt_is_a_supported_release():
    """3006 LTS (from 3006.7, whose salt-pip installs a second extension beside others) through 3008."""
    version = salt.version.__saltstack_version__
    assert (3006, 7) <= (version.major, version.minor) < (3009, 0), version


def test_salt_call_runs_a_local_job(tmp_path):
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    (config_dir / "minion").write_text(
        f"root_dir: {tmp_path}\nfile_client: local\nuser: {getpass.getuser()}\n"
        f"pki_dir: {tmp_path}/pki\ncachedir: {tmp_path}/cache\nlog_file: {tmp_path}/minion.log\n"
    )
    salt_call = os.path.join(os.path.dirname(sys.executable), "salt-call")
    result = subprocess.run(
        [salt_call, "--local", "--config-dir", str(config_dir), "--out", "json", "test.ping"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert '"local": true' in result.stdout
