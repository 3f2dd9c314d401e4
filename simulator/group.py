"""
A server group: fake cells sharing one database, as vCD cells do.

The database holds the schema version and every cell's tasks, so any cell's task query lists the tasks
of all of them, and vCD's list of cells names every cell that shares it. The database upgrade utility
acts here: it refuses to run from a cell whose software is not the one it upgrades to, does nothing
when the schema is already there, and records every cell's state at the instant it runs.
"""

import threading

from simulator.model import CellError, Timeline


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
        for cell in cells:
            cell.group = self

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

    def snapshot(self):
        return {
            "schema_version": self.schema_version,
            "cells": self.listing(),
            "timeline": self.timeline.since(0),
        }
