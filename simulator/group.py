"""
A server group: fake cells sharing one database, as vCD cells do.

The database holds the schema version and every cell's tasks, so any cell's task query lists the tasks
of all of them, and vCD's list of cells names every cell that shares it. Each registered vCenter has its
VC proxy on one cell: when that cell stops, the proxy is lost until the heartbeat failover moves it to a
serving cell (``heartbeat_seconds`` later) or a reconnect of the vCenter moves it at once; the timeline
records each loss and move. The database upgrade utility
acts here: it refuses to run from a cell whose software is not the one it upgrades to, does nothing
when the schema is already there, and records every cell's state at the instant it runs.
"""

import threading
import uuid
from dataclasses import dataclass

from simulator.model import CellError, Timeline

# Seconds until another cell takes over the VC proxy of a cell that stopped: vCD's heartbeat failover
# timeout (vcloud.heartbeat.failoverTimeoutMsecs, 5 minutes by default).
HEARTBEAT_SECONDS = 300.0


@dataclass
class VCenter:
    """A registered vCenter: its VC proxy (listener) runs on one cell; ``lost_since`` while that cell is down."""

    id: str
    name: str
    proxy: str
    lost_since: float | None = None
    # Whether vCD is connected to the vCenter (a test sets it false: a vCenter gone unreachable).
    connected: bool = True


def version_key(version):
    """``"10.5.1"`` as ``(10, 5, 1)``, for comparing versions."""
    return tuple(int(part) if part.isdigit() else 0 for part in str(version).split("."))


class ServerGroup:
    """``cells`` sharing a database at ``schema_version`` (by default the first cell's software)."""

    def __init__(self, cells, schema_version=None):
        if not cells:
            raise ValueError("a server group needs at least one cell")
        names = [cell.config.cell_name for cell in cells]
        if len(set(names)) != len(names):
            raise ValueError(f"the cells of a server group need distinct names: {names}")
        self.cells = list(cells)
        self.schema_version = schema_version or cells[0].installed_version
        self.timeline = Timeline()
        self._lock = threading.Lock()
        self._clock_cell = cells[0]
        self.vcenters = {}
        self.heartbeat_seconds = HEARTBEAT_SECONDS
        # Guards the vCenters only; never held while a cell's lock is taken (a stopping cell calls in).
        self._vcenter_lock = threading.Lock()
        for cell in cells:
            cell.group = self

    def join(self, cell):
        """``cell`` joins the group (a cell installed against its database): vCD lists it from now on."""
        if cell.config.cell_name in (c.config.cell_name for c in self.cells):
            raise ValueError(f"the server group has a cell named {cell.config.cell_name} already")
        self.cells.append(cell)
        cell.group = self
        return cell

    def cell(self, name):
        for cell in self.cells:
            if cell.config.cell_name == name:
                return cell
        raise KeyError(f"No cell of the server group is named {name}")

    def tasks(self):
        """Every task of every cell: what the shared database answers a task query with."""
        return [task for cell in self.cells for task in cell.own_tasks()]

    def listing(self):
        """vCD's list of the group's cells."""
        return [cell.listing() for cell in self.cells]

    def running_cells(self):
        return [cell.config.cell_name for cell in self.cells if cell.running()]

    def _record(self, event, **details):
        entry = self._clock_cell.now()
        return self.timeline.add(entry, event, **details)

    def upgrade_database(self, by, continue_with_active=False):
        """
        The database upgrade utility, run on the cell ``by`` once its questions were answered. Returns
        what it did: ``"upgraded"`` or ``"current"`` (nothing to do).
        """
        with self._lock:
            cell = self.cell(by)
            target = cell.installed_version
            if target == self.schema_version:
                return "current"
            if version_key(target) < version_key(self.schema_version):
                raise CellError(
                    f"This cell's software ({target}) is older than the database schema ({self.schema_version}): "
                    "upgrade the cell first"
                )
            cells = {c.config.cell_name: {"running": c.running(), "version": c.installed_version} for c in self.cells}
            running = [name for name, state in cells.items() if state["running"]]
            if running and not continue_with_active:
                raise CellError(f"Active cells were detected: {', '.join(running)}; stop them and run upgrade again")
            if running:
                self._record("db_upgrade_continued_with_active", by=by, running=running)
            if cell.config.db_upgrade_fault:
                self._record("db_upgrade_failed", by=by, version=target, cells=cells)
                raise CellError("The database upgrade failed: ORA-00942 table or view does not exist (injected fault)")
            self._record("db_upgrade", by=by, version=target, previous=self.schema_version, cells=cells)
            self.schema_version = target
            return "upgraded"

    # -- vCenters and their proxies --------------------------------------------------------------------

    def add_vcenter(self, name, proxy):
        """Register a vCenter whose VC proxy runs on the cell ``proxy``."""
        self.cell(proxy)
        vcenter = VCenter(id=str(uuid.uuid4()), name=name, proxy=proxy)
        self.vcenters[vcenter.id] = vcenter
        return vcenter

    def cell_stopped(self, cell, t):
        """A cell stopped at ``t`` on its own clock: the proxies it ran are lost from then."""
        name = cell.config.cell_name
        when = cell.epoch + t - self._clock_cell.epoch
        with self._vcenter_lock:
            for vcenter in self.vcenters.values():
                if vcenter.proxy == name and vcenter.lost_since is None:
                    vcenter.lost_since = when
                    self.timeline.add(when, "proxy_lost", vcenter=vcenter.name, cell=name)

    def _move(self, vcenter, cell, when, via):
        lost = round(when - vcenter.lost_since, 6) if vcenter.lost_since is not None else 0.0
        self.timeline.add(
            when, "proxy_moved", vcenter=vcenter.name, previous=vcenter.proxy, cell=cell, via=via, without_proxy=lost
        )
        vcenter.proxy, vcenter.lost_since = cell, None

    def advance_vcenters(self):
        """Each lost proxy whose heartbeat failover is due moved to a serving cell, at its due time."""
        serving = [c.config.cell_name for c in self.cells if c.serves_requests()]
        now = self._clock_cell.now()
        with self._vcenter_lock:
            for vcenter in self.vcenters.values():
                due = None if vcenter.lost_since is None else vcenter.lost_since + self.heartbeat_seconds
                if due is not None and due <= now and serving:
                    self._move(vcenter, serving[0], due, "heartbeat")
        return serving

    def vcenter_records(self):
        """The vCenters as the virtualCenter query lists them, each with its proxy's cell and state."""
        self.advance_vcenters()
        with self._vcenter_lock:
            return [
                {"id": v.id, "name": v.name, "proxy": v.proxy, "live": v.lost_since is None, "connected": v.connected}
                for v in self.vcenters.values()
            ]

    def reconnect(self, vcenter_id, via):
        """A forced reconnect of the vCenter, asked of the cell ``via``: a lost proxy moves to it at once."""
        serving = self.advance_vcenters()
        if via not in serving:
            raise CellError(f"The cell {via} does not serve: it cannot reconnect a vCenter")
        now = self._clock_cell.now()
        with self._vcenter_lock:
            vcenter = self.vcenters.get(vcenter_id)
            if vcenter is None:
                raise KeyError(f"No vCenter has the id {vcenter_id}")
            if vcenter.lost_since is not None or vcenter.proxy not in serving:
                self._move(vcenter, via, now, "reconnect")
            else:
                self.timeline.add(now, "reconnect", vcenter=vcenter.name, cell=vcenter.proxy)
            return vcenter.proxy

    def without_proxy(self):
        """``{vCenter name: [seconds each loss of its proxy lasted]}`` (a loss still going is counted to now)."""
        self.advance_vcenters()
        spans = {v.name: [] for v in self.vcenters.values()}
        for event in self.timeline.since(0):
            if event["event"] == "proxy_moved" and event["without_proxy"]:
                spans[event["vcenter"]].append(event["without_proxy"])
        now = self._clock_cell.now()
        with self._vcenter_lock:
            for vcenter in self.vcenters.values():
                if vcenter.lost_since is not None:
                    spans[vcenter.name].append(round(now - vcenter.lost_since, 6))
        return spans

    def snapshot(self):
        return {
            "schema_version": self.schema_version,
            "cells": self.listing(),
            "timeline": self.timeline.since(0),
        }
