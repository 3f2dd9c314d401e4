"""
vCD appliances: each a fake cell plus its host (Photon OS, ``vamicli``, the appliance API on port
5480), and a server group of them sharing the embedded PostgreSQL cluster (one primary, standbys
replicating from it; cell-type appliances hold no database).

Like the cell, the cluster advances lazily: every public method first brings it to "now", in time
order: hosts that finished booting, PostgreSQL restarted after an install, and, with failover
AUTOMATIC, the standby repmgr promotes once the primary's database has been down more than
``failover_seconds`` (an unplanned failover; the old primary comes back as a second primary).

Everything is written to the group's timeline: failover-mode changes, backups, installs (with every
cell's state), the embedded PostgreSQL upgrade, reboots, boots, failovers, and ``hazard`` entries for
what VMware says never to do (an install or reboot of the primary with failover AUTOMATIC, a reboot
while the primary is down, two primaries).
"""

import contextlib
import datetime
import math
import threading
import time
import uuid
from dataclasses import dataclass, replace

from simulator.group import ServerGroup
from simulator.model import Cell, CellConfig, CellError

PRIMARY, STANDBY, CELL = "primary", "standby", "cell"
ROLES = (PRIMARY, STANDBY, CELL)
AUTOMATIC, MANUAL = "AUTOMATIC", "MANUAL"
BACKUP_DIR = "/opt/vmware/vcloud-director/data/transfer/backups"
# Seconds the primary's database may be down, failover AUTOMATIC, before repmgr promotes a standby.
FAILOVER_SECONDS = 3.0
# Seconds the database is unavailable during a planned switchover (30 to 60 s on real appliances).
SWITCHOVER_SECONDS = 2.0


class NotApplicable(CellError):
    """What the appliance API answers 404 for: a database operation on a cell-type appliance."""


@dataclass
class ApplianceConfig:
    """The knobs of one appliance's host."""

    role: str = CELL
    # The node's name in the database cluster; by default the cell's name.
    node_name: str | None = None
    build: str = "22000000"
    root_password: str = "vmware"
    # Seconds from a reboot to the host being up again (its cell started at boot).
    reboot_seconds: float = 1.0
    # Faults: the node reports itself unhealthy; vamicli fails on it.
    unhealthy: bool = False
    vamicli_fault: bool = False
    # The failover mode this node's repmgr runs in when it is not the cluster's (AUTOMATIC or MANUAL, say
    # after a hand edit of its repmgr configuration): the nodes then disagree, and the nodes API answers
    # INDETERMINATE. Setting the cluster's mode through the API sets it on every node again.
    failover_drift: str | None = None

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {self.role!r}")
        if self.failover_drift not in (None, AUTOMATIC, MANUAL):
            raise ValueError(f"failover_drift must be {AUTOMATIC}, {MANUAL} or null, not {self.failover_drift!r}")
        if self.reboot_seconds < 0:
            raise ValueError("reboot_seconds must not be negative")


class Appliance:
    """One appliance: its cell, its host's state and its database node (None for a cell-type one)."""

    def __init__(self, cell, config=None):
        self.cell = cell
        self.config = config or ApplianceConfig()
        self.name = self.config.node_name or cell.config.cell_name
        self.db_role = {PRIMARY: "PRIMARY", STANDBY: "STANDBY"}.get(self.config.role)
        self.build = self.config.build
        self.down_until = None  # rebooting until then
        self.pg_stopped_until = None  # PostgreSQL stopped by an install until then
        self.db_down_since = None
        self.repo = None
        self.tasks = {}
        self.boots = 0
        self.group = None
        cell.appliance = self

    @property
    def host_up(self):
        return self.down_until is None

    def release_reboot(self):
        """A host held down by a ``never`` reboot fault (simulator.faults) boots now."""
        if self.down_until == math.inf:
            self.down_until = self.group.now()

    @property
    def db_up(self):
        return self.db_role is not None and self.host_up and self.pg_stopped_until is None

    def reconfigure(self, **changes):
        """Change knobs of the running simulation (test control)."""
        unknown = set(changes) - set(self.config.__dict__)
        if unknown:
            raise ValueError(f"unknown appliance setting(s): {', '.join(sorted(unknown))}")
        self.config = ApplianceConfig(**dict(self.config.__dict__, **changes))
        return dict(self.config.__dict__, root_password="******")


class ApplianceGroup(ServerGroup):
    """
    ``appliances`` sharing the embedded database cluster; exactly one is the primary. ``failover``:
    the cluster's failover mode at the start.
    """

    def __init__(self, appliances, schema_version=None, failover=AUTOMATIC, failover_seconds=FAILOVER_SECONDS):
        super().__init__([a.cell for a in appliances], schema_version)
        primaries = [a.name for a in appliances if a.config.role == PRIMARY]
        if len(primaries) != 1:
            raise ValueError(f"an appliance group needs exactly one primary, not {len(primaries)}")
        if failover not in (AUTOMATIC, MANUAL):
            raise ValueError(f"failover must be {AUTOMATIC} or {MANUAL}, not {failover!r}")
        self.appliances = list(appliances)
        self.failover = failover
        self.failover_seconds = failover_seconds
        self.switchover_seconds = SWITCHOVER_SECONDS
        self.automatic_since = 0.0
        # One lock for the cluster and its cells: a cell advancing brings the cluster to now too.
        self._cluster_lock = threading.RLock()
        self._advancing = False
        for appliance in appliances:
            appliance.group = self
            appliance.cell._lock = self._cluster_lock

    def appliance(self, name):
        for appliance in self.appliances:
            if appliance.name == name:
                return appliance
        raise KeyError(f"No appliance of the server group is named {name}")

    def now(self):
        return self._clock_cell.now()

    def _database_nodes(self):
        return [a for a in self.appliances if a.db_role is not None]

    def _primaries(self):
        return [a for a in self.appliances if a.db_role == "PRIMARY"]

    def _serving_primary(self):
        """The primary whose database runs, the newest promoted first; None when none does."""
        serving = [a for a in self._primaries() if a.db_up]
        return serving[-1] if serving else None

    def _cells_state(self):
        return {c.config.cell_name: {"running": c.running(), "version": c.installed_version} for c in self.cells}

    def _hazard(self, when, kind, **details):
        self.timeline.add(when, "hazard", kind=kind, **details)

    # -- time ------------------------------------------------------------------------------------

    def _promotion_due(self):
        """When repmgr promotes a standby: the primary's database down too long with failover AUTOMATIC."""
        if self.failover != AUTOMATIC or self._serving_primary() is not None:
            return None
        down = [a.db_down_since for a in self._primaries() if a.db_down_since is not None]
        if not down or not any(a.db_up for a in self._database_nodes() if a.db_role == "STANDBY"):
            return None
        return max(min(down), self.automatic_since) + self.failover_seconds

    def advance(self):
        """Bring the cluster to now (what every cell does first)."""
        with self._cluster_lock:
            self._advance()

    def _advance(self):
        """Bring the cluster to now: boots, PostgreSQL restarts and promotions, in time order."""
        now = self.now()
        if self._advancing:  # a boot starting its cell comes back here
            return now
        self._advancing = True
        try:
            return self._advance_to(now)
        finally:
            self._advancing = False

    def _advance_to(self, now):
        while True:
            due = [(a.down_until, 0, "boot", a) for a in self.appliances if a.down_until is not None]
            due += [(a.pg_stopped_until, 1, "pg_start", a) for a in self.appliances if a.pg_stopped_until is not None]
            promotion = self._promotion_due()
            if promotion is not None:
                due.append((promotion, 2, "promote", None))
            due = [d for d in due if d[0] <= now]
            if not due:
                return now
            when, _, what, appliance = min(due, key=lambda d: (d[0], d[1]))
            {"boot": self._boot, "pg_start": self._pg_start, "promote": self._promote}[what](when, appliance)

    def _boot(self, when, appliance):
        appliance.down_until = None
        appliance.boots += 1
        appliance.cell.boot_id = str(uuid.uuid4())
        appliance.tasks.clear()  # the appliance API's tasks do not survive a reboot
        if appliance.db_up:
            appliance.db_down_since = None
        others = [a.name for a in self._primaries() if a is not appliance and a.db_up]
        self.timeline.add(when, "boot", node=appliance.name, role=appliance.db_role or "CELL")
        if appliance.db_role == "PRIMARY" and others:
            self._hazard(when, "two_primaries", nodes=sorted([appliance.name, *others]))
        # vmware-vcd starts at boot; the cell refuses (and records it) when its software and the
        # database differ.
        with contextlib.suppress(CellError):
            appliance.cell.service_start(at=self._clock_cell.epoch + when - appliance.cell.epoch)

    def _pg_start(self, when, appliance):
        appliance.pg_stopped_until = None
        if appliance.db_up:
            appliance.db_down_since = None
        self.timeline.add(when, "postgres_start", node=appliance.name)

    def _promote(self, when, _):
        standby = next(a for a in self._database_nodes() if a.db_role == "STANDBY" and a.db_up)
        old = [a.name for a in self._primaries()]
        standby.db_role = "PRIMARY"
        self.timeline.add(when, "unplanned_failover", promoted=standby.name, previous=old)

    # -- the cluster as the appliance API reports it -----------------------------------------------

    def _node_state(self, appliance):
        primary = self._serving_primary()
        if not appliance.host_up:
            status = "unreachable"
        elif not appliance.db_up:
            status = "stopped"
        else:
            status = "running"
        upstream = primary.name if appliance.db_role == "STANDBY" and primary is not None else None
        healthy = appliance.db_up and not appliance.config.unhealthy
        if appliance.db_role == "STANDBY":
            healthy = healthy and upstream is not None
        mode = self._failover_of(appliance)
        return {
            "name": appliance.name,
            "nodeRole": appliance.db_role,
            "nodeHealth": "HEALTHY" if healthy else "UNHEALTHY",
            "status": status,
            "failover": {"mode": mode, "repmgrd": "running" if mode == AUTOMATIC else "dead"},
            "upstream": upstream,
        }

    def _failover_of(self, appliance):
        """The failover mode ``appliance``'s node runs in: the cluster's, unless it drifted."""
        return appliance.config.failover_drift or self.failover

    def cluster(self):
        """``GET /api/1.0.0/nodes``: the cluster as every node sees it."""
        with self._cluster_lock:
            self._advance()
            states = [self._node_state(a) for a in self._database_nodes()]
            primaries = [s["name"] for s in states if s["nodeRole"] == "PRIMARY"]
            warnings = []
            if len(primaries) > 1:
                health = "CRITICAL"
                warnings.append(f"More than one primary node: {', '.join(primaries)}")
            elif all(s["nodeHealth"] == "HEALTHY" for s in states) and len(primaries) == 1:
                health = "HEALTHY"
            else:
                health = "DEGRADED"
                warnings += [f"Node {s['name']} is {s['status']}" for s in states if s["nodeHealth"] != "HEALTHY"]
            modes = {state["failover"]["mode"] for state in states} or {self.failover}
            return {
                # The appliance UI and API say INDETERMINATE when the nodes' modes differ.
                "localClusterFailover": modes.pop() if len(modes) == 1 else "INDETERMINATE",
                "localClusterHealth": health,
                "localClusterState": states,
                "warnings": warnings,
            }

    def services(self, appliance):
        """``GET /api/1.0.0/services``: the appliance's services and their status."""
        with self._cluster_lock:
            self._advance()
            database = appliance.db_role is not None
            vcd = "running" if appliance.cell.running() else "dead"
            services = [("vmware-vcd", vcd), ("vcd", vcd), ("appliance-sync.timer", "running")]
            if database:
                services += [
                    ("vpostgres", "running" if appliance.db_up else "dead"),
                    ("repmgrd", "running" if self._failover_of(appliance) == AUTOMATIC and appliance.db_up else "dead"),
                ]
            return [{"serviceName": name, "status": status} for name, status in services]

    def host_is_up(self, appliance):
        with self._cluster_lock:
            self._advance()
            return appliance.host_up

    # -- the appliance API's actions ------------------------------------------------------------------

    def _task(self, appliance, operation, now):
        task_id = str(uuid.uuid4())
        appliance.tasks[task_id] = {"id": task_id, "operation": operation, "status": "SUCCESS", "started": now}
        return task_id

    def task(self, appliance, task_id):
        with self._cluster_lock:
            self._advance()
            task = appliance.tasks.get(task_id)
            if task is None:
                raise KeyError(f"No task has the id {task_id}")
            return {k: v for k, v in task.items() if k != "started"}

    def set_failover(self, appliance, mode):
        """``POST /api/1.0.0/nodes/failover/{mode}``: the cluster's failover mode; returns the task's id."""
        with self._cluster_lock:
            now = self._advance()
            mode = mode.upper()
            if mode not in (AUTOMATIC, MANUAL):
                raise KeyError(f"No failover mode {mode.lower()}")
            if appliance.db_role is None:
                raise NotApplicable("Failover mode is not applicable to a cell-type appliance")
            if self._serving_primary() is None:
                raise CellError("No primary database node is running: the failover mode cannot be changed")
            before, self.failover = self.failover, mode
            for node in self._database_nodes():
                node.config = replace(node.config, failover_drift=None)
            if mode == AUTOMATIC and before != AUTOMATIC:
                self.automatic_since = now
            self.timeline.add(now, "failover_mode", mode=mode, previous=before, by=appliance.name)
            return self._task(appliance, f"failover {mode.lower()}", now)

    def switchover(self, appliance, node):
        """
        ``POST /api/1.0.0/nodes/{node}/switchover``: that standby becomes the primary, the old primary a
        standby following it. Every node must be healthy. The database is unavailable for
        ``switchover_seconds`` on both: each cell not quiesced fails the tasks it was running (recorded).
        """
        with self._cluster_lock:
            now = self._advance()
            target = self.appliance(node)
            if appliance.db_role is None:
                raise NotApplicable("Switchover is not applicable to a cell-type appliance")
            if target.db_role != "STANDBY":
                raise CellError(f"{node} is not a standby node")
            if self.cluster()["localClusterHealth"] != "HEALTHY":
                raise CellError("Every node of the cluster must be healthy for a switchover")
            old = self._serving_primary()
            cells = self._cells_state()
            old.db_role, target.db_role = "STANDBY", "PRIMARY"
            for moved in (old, target):
                moved.pg_stopped_until = now + self.switchover_seconds
                moved.db_down_since = moved.db_down_since or now
            failed = {cell.config.cell_name: cell.database_lost() for cell in self.cells}
            self.timeline.add(
                now, "switchover", primary=target.name, previous=old.name, cells=cells, failed_tasks=failed
            )
            return self._task(appliance, f"switchover to {node}", now)

    # -- the host's tools: vamicli, create-backup.sh, reboot -----------------------------------------------

    def _require_up(self, appliance):
        if not appliance.host_up:
            raise CellError(f"The appliance {appliance.name} is rebooting")

    def set_repo(self, appliance, url):
        with self._cluster_lock:
            self._advance()
            self._require_up(appliance)
            appliance.repo = url

    def install(self, appliance, version, build):
        """``vamicli update --install latest``: the update on this appliance, with its checks."""
        with self._cluster_lock:
            now = self._advance()
            self._require_up(appliance)
            cell = appliance.cell
            if appliance.config.vamicli_fault:
                self.timeline.add(now, "install_failed", node=appliance.name, version=version)
                raise CellError("Failure: the update could not be installed (injected fault)")
            if cell.running():
                cell.install(version)  # refuses, and records it, on a running cell
            cells = self._cells_state()
            if appliance.db_role == "PRIMARY":
                down = [a.name for a in self._database_nodes() if not a.db_up]
                running = [name for name, state in cells.items() if state["running"]]
                if down or running:
                    self.timeline.add(now, "install_refused", node=appliance.name, down=down, running=running)
                    raise CellError(
                        "The embedded database cannot be upgraded: "
                        + "; ".join(
                            ([f"database node(s) not running: {', '.join(down)}"] if down else [])
                            + ([f"VMware Cloud Director runs on: {', '.join(running)}"] if running else [])
                        )
                    )
                if self.failover == AUTOMATIC:
                    self._hazard(now, "install_primary_with_automatic_failover", node=appliance.name)
            previous = cell.installed_version
            cell.install(version)
            appliance.build = build
            self.timeline.add(
                now,
                "appliance_install",
                node=appliance.name,
                role=appliance.db_role or "CELL",
                version=version,
                previous=previous,
                failover=self.failover,
                cells=cells,
            )
            if appliance.db_role is not None:
                # PostgreSQL is stopped while the update installs (on the primary, its major upgrade).
                appliance.pg_stopped_until = now + cell.config.install_seconds
                appliance.db_down_since = appliance.db_down_since or now
                if appliance.db_role == "PRIMARY":
                    self.timeline.add(now, "postgres_upgrade", node=appliance.name)

    def backup(self, appliance):
        """``create-backup.sh``: only on the serving primary; returns where the backup went."""
        with self._cluster_lock:
            now = self._advance()
            self._require_up(appliance)
            if appliance is not self._serving_primary():
                raise CellError(f"{appliance.name} is not the primary database node: run create-backup.sh there")
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d_%H-%M-%S")
            path = f"{BACKUP_DIR}/backup-{appliance.name}-{stamp}.tgz"
            self.timeline.add(now, "backup", node=appliance.name, path=path, cells=self._cells_state())
            return path

    def reboot(self, appliance):
        """The host reboots: its cell and database go away, and come back ``reboot_seconds`` later."""
        with self._cluster_lock:
            now = self._advance()
            self._require_up(appliance)
            primary = self._serving_primary()
            if appliance.db_role == "PRIMARY" and self.failover == AUTOMATIC:
                self._hazard(now, "reboot_primary_with_automatic_failover", node=appliance.name)
            if appliance.db_role != "PRIMARY" and primary is None:
                self._hazard(now, "reboot_while_primary_down", node=appliance.name)
            self.timeline.add(
                now,
                "reboot",
                node=appliance.name,
                role=appliance.db_role or "CELL",
                failover=self.failover,
                cells=self._cells_state(),
            )
            appliance.cell.power_off()
            appliance.down_until = now + appliance.config.reboot_seconds + appliance.cell.faults.reboot_delay()
            if appliance.db_role is not None:
                appliance.db_down_since = appliance.db_down_since or now

    def upgrade_database(self, by, continue_with_active=False):
        """The database upgrade utility runs where the database is: on the primary appliance only."""
        appliance = self.cell(by).appliance
        with self._cluster_lock:
            self._advance()
            if appliance is not self._serving_primary():
                raise CellError(f"The database is not on {by}: run the upgrade utility on the primary appliance")
        return super().upgrade_database(by, continue_with_active)

    def snapshot(self):
        data = super().snapshot()
        data["cluster"] = self.cluster()
        return data


def appliance_group(
    roles, clock=time.monotonic, failover=AUTOMATIC, failover_seconds=FAILOVER_SECONDS, appliances=None, **cell_config
):
    """
    A new group of appliances from ``roles``, ``{cell name: role}`` in order, each cell configured with
    ``cell_config`` (a :class:`~simulator.model.CellConfig`'s knobs) and each appliance with
    ``appliances.get(cell name, {})`` (an :class:`ApplianceConfig`'s).
    """
    appliances = [
        Appliance(
            Cell(CellConfig(cell_name=name, **cell_config), clock=clock),
            ApplianceConfig(role=role, **(appliances or {}).get(name, {})),
        )
        for name, role in roles.items()
    ]
    return ApplianceGroup(appliances, failover=failover, failover_seconds=failover_seconds)
