"""
A cell managed masterless: a minion configuration with ``file_client: local`` and no daemon, driven by
real ``salt-call --local`` processes, as a site without a master (or a person trying a state) runs Salt.
The extension comes from its installed ``salt.loader`` entry point; ``states/`` is the only file_root.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
from types import SimpleNamespace

from simulator.pillar import vcd_cell_pillar
from tests.e2e.conftest import REPO, STATE_TIMEOUT, state_result

SALT_CALL = str(pathlib.Path(sys.executable).with_name("salt-call"))


class MasterlessMinion:
    """The minion ``cell1`` whose cell is the fake cell ``server``, its files under ``root``."""

    def __init__(self, root, server, **settings):
        self.root = pathlib.Path(root)
        self.cell_url = server.url
        self.log_file = self.root / "minion.log"
        pillar = self.root / "pillar"
        pillar.mkdir(parents=True)
        settings.setdefault("cli_timeout", 60)
        (pillar / "cell1.sls").write_text(json.dumps(vcd_cell_pillar(server, self.root / "tools", **settings)))
        (pillar / "top.sls").write_text(json.dumps({"base": {"cell1": ["cell1"]}}))
        config = {
            "id": "cell1",
            "file_client": "local",
            "root_dir": str(self.root),
            "cachedir": str(self.root / "cache"),
            "pki_dir": str(self.root / "pki"),
            "sock_dir": str(self.root / "sock"),
            "log_file": str(self.log_file),
            "log_level_logfile": "info",
            "file_roots": {"base": [str(REPO / "states")]},
            "pillar_roots": {"base": [str(pillar)]},
        }
        self.config_dir = self.root / "conf"
        self.config_dir.mkdir()
        (self.config_dir / "minion").write_text(json.dumps(config))

    def cmdline(self, *args, pillar=None):
        extra = [f"pillar={json.dumps(pillar)}"] if pillar else []
        return [SALT_CALL, f"--config-dir={self.config_dir}", "--local", "--out=json", *args, *extra]

    def run(self, *args, pillar=None):
        """``salt-call --local ARGS``; its return (the ``local`` value) and exit code."""
        done = subprocess.run(self.cmdline(*args, pillar=pillar), capture_output=True, text=True, timeout=STATE_TIMEOUT)
        return SimpleNamespace(returncode=done.returncode, data=_local(done.stdout), stderr=done.stderr)

    def apply(self, sls, pillar=None, test=False):
        """The single state result of ``salt-call --local state.apply SLS``."""
        ret = self.run("state.apply", sls, *(["test=True"] if test else []), pillar=pillar)
        return state_result(ret)

    def start(self, *args, pillar=None):
        """``salt-call --local ARGS`` in a session of its own, as from an ssh login: see :meth:`kill`."""
        return subprocess.Popen(
            self.cmdline(*args, pillar=pillar),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    @staticmethod
    def result(process):
        """The single state result of a ``state.apply`` started with :meth:`start`, once it ends."""
        out, err = process.communicate(timeout=STATE_TIMEOUT)
        return state_result(SimpleNamespace(returncode=process.returncode, data=_local(out), stderr=err))

    @staticmethod
    def kill(process):
        """SIGKILL to the run's whole process group, as a dropped ssh session or a killed terminal does."""
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)


def _local(stdout):
    try:
        return json.loads(stdout)["local"]
    except (ValueError, KeyError, TypeError):
        return stdout
