"""
A salt-master and one salt-minion per fake cell, on 127.0.0.1 under a directory of their own: what the
demos and the rollout benchmark run Salt on.
"""

import contextlib
import getpass
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import threading
import time

from simulator.file_roots import extension_root
from simulator.pillar import vcd_cell_pillar

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
START_DEADLINE = 120
# What Salt 3008 says of the objects salt-run and state.orchestrate leave unclosed.
SALTS_OWN_LEAK = re.compile(r"unclosed \w+ <salt\.[\w.]+ object at 0x[0-9a-f]+>; call ``destroy\(\)``")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SaltLab:
    """
    A salt-master and one minion per fake cell, configured under ``root``, stopped on exit.

    ``file_roots`` serve the SLS files and, by default, the extension's loader directories for
    ``saltutil.sync_all``, as a clean clone would; with the package installed (``pip install .``) the
    states directory alone is enough. ``settings``
    maps a minion to more ``vcd_cell`` pillar keys (its installer, ...).
    """

    def __init__(self, root, servers, file_roots=None, settings=None):
        self.root = root
        self.servers = servers
        self.processes = []
        self.master_conf = root / "master" / "conf"
        publish_port, ret_port = free_port(), free_port()
        pillar = root / "pillar"
        pillar.mkdir(parents=True)
        if file_roots is None:
            file_roots = (REPO / "states", extension_root(root / "srv"))
        self._write_config(
            self.master_conf / "master",
            root_dir=str(root / "master"),
            interface="127.0.0.1",
            publish_port=publish_port,
            ret_port=ret_port,
            auto_accept=True,
            file_roots={"base": [str(path) for path in file_roots]},
            pillar_roots={"base": [str(pillar)]},
        )
        export = root / "transfer-export"  # the group's transfer share, mounted by every cell
        export.mkdir()
        for minion, server in servers.items():
            self._write_config(
                root / minion / "conf" / "minion",
                root_dir=str(root / minion),
                id=minion,
                master="127.0.0.1",
                master_port=ret_port,
                publish_port=publish_port,
            )
            extra = (settings or {}).get(minion, {})
            cell = vcd_cell_pillar(server, root / minion / "tools", transfer_export=export, event_interval=2, **extra)
            (pillar / f"{minion}.sls").write_text(json.dumps(cell))
        (pillar / "top.sls").write_text(json.dumps({"base": {m: [m] for m in servers}}))

    @staticmethod
    def _write_config(path, **settings):
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(dict(settings, user=getpass.getuser())))

    def command(self, tool, *args):
        return [str(BIN / tool), "-c", str(self.master_conf), *args]

    def __enter__(self):
        with open(self.root / "daemons.out", "w") as chatter:
            daemons = [("salt-master", self.master_conf)] + [
                ("salt-minion", self.root / m / "conf") for m in self.servers
            ]
            for daemon, conf in daemons:
                command = [str(BIN / daemon), "-c", str(conf), "-l", "quiet"]
                self.processes.append(subprocess.Popen(command, stdout=chatter, stderr=chatter))
        self._wait_for_minions()
        subprocess.run(self.command("salt", "*", "saltutil.sync_all"), check=True, capture_output=True)
        subprocess.run(self.command("salt-run", "saltutil.sync_all"), check=True, capture_output=True)
        return self

    def run(self, tool, *args):
        """
        ``tool ARGS`` (``salt``, ``salt-run``) with its output shown as it comes, less Salt's own warnings
        about objects it leaves unclosed (``unclosed Runner ...; call destroy()``): Salt's leaks, not the
        extension's, noise in a demo. They stay in the master's log file.
        """
        process = subprocess.Popen(self.command(tool, *args), stderr=subprocess.PIPE, text=True)
        for line in process.stderr:
            if not SALTS_OWN_LEAK.search(line):
                sys.stderr.write(line)
        return process.wait()

    def _wait_for_minions(self):
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            ping = self.command("salt", "--out", "json", "--static", "-t", "5", "*", "test.ping")
            answers = json.loads(subprocess.run(ping, capture_output=True, text=True).stdout or "{}")
            if all(answers.get(minion) is True for minion in self.servers):
                return
            time.sleep(1)
        raise SystemExit("The demo's salt-minions did not answer within 2 minutes")

    def _relayed(self, relay_line, *args):
        """
        ``salt-run ARGS`` in the background, each line it prints handed to ``relay_line`` as it comes;
        the thread relaying them, which ends with the command (stopped with the lab at the latest).
        """
        process = subprocess.Popen(
            self.command("salt-run", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.processes.append(process)

        def relay():
            for line in process.stdout:
                relay_line(line)

        relaying = threading.Thread(target=relay, daemon=True)
        relaying.start()
        return relaying

    def watch(self, tag, show):
        """Print each event matching ``tag`` as it reaches the master's bus, through ``show(tag, data)``."""

        def shown(line):
            event_tag, _, payload = line.partition("\t")
            with contextlib.suppress(ValueError):
                data = json.loads(payload)
                # event.send on a minion wraps the payload, with the minion's id beside it.
                show(event_tag, data.get("data", data))

        self._relayed(shown, "state.event", tag)

    def follow(self):
        """
        ``salt-run vcd_watch.follow`` in the background, as a person would in a second shell, its lines
        printed as they come (through a pipe: a line each time what it says changes); it ends with the
        runs it followed. Returns the thread printing them, which ends with it.
        """
        return self._relayed(
            lambda line: print(f"   live {line.rstrip()}", flush=True),
            "--quiet",
            "vcd_watch.follow",
            "timeout=900",
            "interval=0.5",
        )

    def __exit__(self, *exc_info):
        # The event watchers, started last, stop first: the master must outlive them.
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
