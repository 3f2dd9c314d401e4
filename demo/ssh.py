"""
A cell with no agent, for ``make demo-ssh``: OpenSSH's server on 127.0.0.1 with throwaway keys, and a
master's configuration for salt-ssh (roster, pillar, file_roots) whose salt-master never runs.
"""

import getpass
import json
import shutil
import subprocess
import sys
import time

from demo.lab import BIN, REPO, SALTS_OWN_LEAK, free_port
from simulator.file_roots import extension_root
from simulator.pillar import vcd_cell_pillar

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
# Root's python3 may be a pyenv shim (a shell script), which breaks salt-ssh's shim: the system's first.
SYSTEM_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
START_DEADLINE = 30


class SshLab:
    """An sshd and a salt-ssh configuration under ``root`` whose roster's targets are the fake cells ``servers``."""

    def __init__(self, root, servers):
        self.root = root
        self.conf = root / "conf"
        self.port = free_port()
        self.sshd = self.sshd_log = None
        keys = root / "keys"
        keys.mkdir(parents=True)
        keys.chmod(0o700)
        for name in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True)
        (keys / "authorized_keys").write_text((keys / "client_key.pub").read_text())
        host_key = (keys / "host_key.pub").read_text().split()
        self.sshd_config = root / "sshd_config"
        self.sshd_config.write_text(
            "".join(
                f"{line}\n"
                for line in (
                    "ListenAddress 127.0.0.1",
                    f"Port {self.port}",
                    f"HostKey {keys / 'host_key'}",
                    f"AuthorizedKeysFile {keys / 'authorized_keys'}",
                    f"PidFile {root / 'sshd.pid'}",
                    "PasswordAuthentication no",
                    "PermitRootLogin prohibit-password",
                    # salt-ssh copies its files with scp, which needs the sftp subsystem.
                    "Subsystem sftp internal-sftp",
                    # The demo's directory is under /tmp, which sshd would find too open for the keys.
                    "StrictModes no",
                )
            )
        )
        pillar = root / "pillar"
        pillar.mkdir()
        roster = {}
        export = root / "transfer-export"  # the group's transfer share, mounted by every cell
        export.mkdir()
        for target, server in servers.items():
            tools, lease = root / target / "tools", str(root / target / "lease")
            settings = vcd_cell_pillar(server, tools, transfer_export=export, lease_dir=lease)
            (pillar / f"{target}.sls").write_text(json.dumps(settings))
            roster[target] = {
                "host": "127.0.0.1",
                "port": self.port,
                "user": getpass.getuser(),
                "priv": str(keys / "client_key"),
                "thin_dir": str(root / target / "thin"),
                "set_path": SYSTEM_PATH,
            }
        (pillar / "top.sls").write_text(json.dumps({"base": {t: [t] for t in servers}}))
        self.conf.mkdir()
        (self.conf / "roster").write_text(json.dumps(roster))
        known_hosts = root / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_key[0]} {host_key[1]}\n")
        master = {
            "root_dir": str(root / "master"),
            "user": getpass.getuser(),
            "file_roots": {"base": [str(REPO / "states"), str(extension_root(root / "srv"))]},
            "pillar_roots": {"base": [str(pillar)]},
            "roster_file": str(self.conf / "roster"),
            "known_hosts_file": str(known_hosts),
        }
        (self.conf / "master").write_text(json.dumps(master))

    def thin_dir(self, target):
        return self.root / target / "thin"

    def __enter__(self):
        # Debian's sshd wants its privilege separation directory, which a fresh install may not have made.
        subprocess.run(["mkdir", "-p", "/run/sshd"], check=False, capture_output=True)
        self.sshd_log = open(self.root / "sshd.log", "w")  # noqa: SIM115 - closed in __exit__
        self.sshd = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.sshd_config)], stdout=subprocess.DEVNULL, stderr=self.sshd_log
        )
        deadline = time.monotonic() + START_DEADLINE
        while "Server listening" not in (self.root / "sshd.log").read_text():
            if self.sshd.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"sshd did not start: {(self.root / 'sshd.log').read_text()}")
            time.sleep(0.1)
        return self

    def run(self, *args):
        """``salt-ssh ARGS``, its output shown as it comes (less Salt's warnings about its own leaks)."""
        process = subprocess.Popen(
            [str(BIN / "salt-ssh"), "-c", str(self.conf), *args], stderr=subprocess.PIPE, text=True
        )
        for line in process.stderr:
            if not SALTS_OWN_LEAK.search(line):
                sys.stderr.write(line)
        return process.wait()

    def __exit__(self, *exc_info):
        self.sshd.terminate()
        self.sshd.wait(timeout=30)
        self.sshd_log.close()
