"""
A fake cell's host as its minion reads it before a window: the installer (or the extracted update
package), the free space, the transfer share it mounts and the database backups on that share.

:func:`simulator.pillar.vcd_cell_pillar` lays a :class:`Host` out under the cell's tools directory and
hands it to the cell's server, whose control API changes it (``PATCH /sim/host``) the way a mistake on a
real host would: a package deleted or downloaded corrupt, a disk too full, a share not mounted or
another one, a backup too old. Everything stays a real file the minion reads as it reads a real host:
the simulator fakes no reading.

.. code-block:: python

    requests.patch(server.url + "/sim/host", json={"share": "own", "backups": [3 * 86400]})
"""

import os
import pathlib
import shutil
import threading
import time

from simulator.appliance_tools import MANIFEST

PACKAGE = ("present", "missing", "altered")
DISK = ("ample", "short")
SHARE = ("group", "own", "none")
# An appliance's database, as its directory reads (sparse: it takes no disk).
DATABASE_SIZE = 256 * 1024 * 1024
# What a corrupt download adds to the installer: its SHA-256 changes, it still runs.
ALTERED = b"\n# altered: not the file VMware published\n"
# Where a host's create-backup.sh leaves its backups on the share (as _vcd_cell_share reads them).
BACKUPS = "backups"
# A "short" disk: what must fit is made this much bigger than the free space, for the free space to
# change while a test runs without the check passing.
SHORT_MARGIN = 1 << 30


def inflate(path, size):
    """
    The file at ``path`` made to read as ``size`` bytes (sparse: it takes no disk): an installer or a
    database bigger than the free space, for the precheck's disk check. Returns its path.
    """
    os.truncate(path, size)
    return str(path)


def write_database(directory, size=DATABASE_SIZE):
    """An appliance's database directory (``vcd_cell:database_dir``) holding ``size`` bytes; its path."""
    data = pathlib.Path(directory) / "current" / "pgdata"
    data.mkdir(parents=True, exist_ok=True)
    (data / "base.dat").touch()
    inflate(data / "base.dat", size)
    return str(directory)


def mount_transfer_share(mount_point, export):
    """
    The cell's host mounts ``export`` (a directory standing for an NFS export: the group's, or one of the
    cell's own) at ``mount_point``, here a symbolic link; ``None``: nothing mounted there. Returns its path.
    """
    mount_point = pathlib.Path(mount_point)
    if mount_point.is_symlink():
        mount_point.unlink()
    if export is not None:
        mount_point.symlink_to(pathlib.Path(export).resolve(), target_is_directory=True)
    return str(mount_point)


def _free(path):
    """The bytes free on the file system holding ``path``."""
    return shutil.disk_usage(path).free


def _choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _ages(value):
    if not isinstance(value, list) or not all(
        isinstance(age, (int, float)) and not isinstance(age, bool) and age >= 0 for age in value
    ):
        raise ValueError(f"backups must be a list of ages in seconds (numbers, not negative), not {value!r}")
    return value


class Host:
    """
    The host of one fake cell, laid out under ``root``: ``installer`` (a Linux cell's, a file) or
    ``update_repo`` (an appliance's extracted update package, a directory), ``database_dir`` (an
    appliance's), the transfer share mounted at ``share`` (the group's ``group_export``, or the host's own
    under ``root``) and ``unpack_dir``, where the installer unpacks (``vcd_cell:unpack_dir``; the module's
    default ``/tmp``).
    """

    def __init__(  # the pillar's paths, each optional: a host has what its cell's pillar names
        self,
        root,
        installer=None,
        update_repo=None,
        database_dir=None,
        share=None,
        group_export=None,
        unpack_dir="/tmp",
    ):
        self.root = pathlib.Path(root)
        self.installer = pathlib.Path(installer) if installer else None
        self.update_repo = pathlib.Path(update_repo) if update_repo else None
        self.database_dir = pathlib.Path(database_dir) if database_dir else None
        self.share = pathlib.Path(share) if share else None
        self.group_export = pathlib.Path(group_export) if group_export else None
        self.unpack_dir = unpack_dir
        self._lock = threading.Lock()
        self._original = self.installer.read_bytes() if self.installer else None
        self._knobs = {"package": "present", "disk": "ample", "share": "group" if group_export else "none"}

    # -- reading -------------------------------------------------------------------------------------

    def facts(self):
        """
        What the knobs are set to and the files they set: ``package``, ``disk``, ``share``,
        ``mount_point`` (the share's path, ``vcd_cell:transfer_share``), ``mounted`` (the export mounted
        there, a real path, or None), ``backups`` (their ages, in seconds),
        ``installer`` or ``update_repo``.
        """
        with self._lock:
            facts = dict(self._knobs, root=str(self.root), backups=self._backup_ages(), mounted=None)
            facts["mount_point"] = str(self.share) if self.share is not None else None
            if self.share is not None and self.share.is_symlink():
                facts["mounted"] = os.path.realpath(self.share)
            if self.installer is not None:
                present = self.installer.is_file()
                facts["installer"] = {"path": str(self.installer), "present": present}
                facts["installer"]["bytes"] = self.installer.stat().st_size if present else None
            if self.update_repo is not None:
                facts["update_repo"] = self.update_repo.resolve().as_uri()
            return facts

    def _backup_ages(self):
        where = self._backups_dir()
        if where is None or not where.is_dir():
            return []
        return sorted(round(time.time() - entry.stat().st_mtime) for entry in where.iterdir() if entry.is_file())

    def _backups_dir(self):
        return self.share / BACKUPS if self.share is not None and self.share.is_dir() else None

    # -- changing ------------------------------------------------------------------------------------

    def change(self, package=None, disk=None, share=None, backups=None):
        """
        Set any of the knobs: ``package`` (``present``, ``missing``: deleted, ``altered``: not the bytes
        VMware published), ``disk`` (``ample``, ``short``: what must fit, the installer unpacked or the
        appliance's database copied, is bigger than the free space), ``share`` (``group``: the group's
        export mounted, ``own``: one of this host's own, ``none``: nothing mounted) and ``backups`` (the
        ages in seconds of the database backups on the share now, replacing those there). Returns
        :meth:`facts`.
        """
        wanted = {
            "package": package and _choice("package", package, PACKAGE),
            "disk": disk and _choice("disk", disk, DISK),
            "share": share and _choice("share", share, SHARE),
        }
        ages = None if backups is None else _ages(backups)
        with self._lock:
            self._knobs.update({knob: value for knob, value in wanted.items() if value is not None})
            if wanted["share"] is not None:
                self._mount()
            if wanted["package"] is not None or wanted["disk"] is not None:
                self._lay_package()
                self._lay_database()
            if ages is not None:
                self._write_backups(ages)
        return self.facts()

    def reset(self):
        """Every knob back to a ready host's, the backups removed: between tests sharing a host."""
        self.change(package="present", disk="ample")
        if self.share is not None:
            self.change(share="group" if self.group_export else "none")
            self.change(backups=[] if self._backups_dir() else None)

    def _mount(self):
        if self.share is None:
            raise ValueError("this host has no transfer share to mount (its pillar sets none)")
        exports = {"group": self.group_export, "own": self.root / "own-share", "none": None}
        export = exports[self._knobs["share"]]
        if self._knobs["share"] == "group" and export is None:
            raise ValueError("this host's cell is in no group with a share: only own or none")
        if export is not None:
            export.mkdir(parents=True, exist_ok=True)
        mount_transfer_share(self.share, export)

    def _lay_package(self):
        if self.installer is not None:
            self._lay_installer()
        elif self.update_repo is not None:
            self._lay_update_package()
        elif self._knobs["package"] != "present":
            raise ValueError("this host has no installer or update package (its pillar sets none)")

    def _lay_installer(self):
        state = self._knobs["package"]
        if state == "missing":
            self.installer.unlink(missing_ok=True)
            return
        self.installer.write_bytes(self._original + (ALTERED if state == "altered" else b""))
        self.installer.chmod(0o755)
        if self._knobs["disk"] == "short":
            # Unpacking takes twice the installer's size: half the free space and more does not fit.
            inflate(self.installer, _free(self.unpack_dir) // 2 + SHORT_MARGIN)

    def _lay_update_package(self):
        state = self._knobs["package"]
        if state == "altered":
            raise ValueError("an extracted update package has no checksum to alter: present or missing")
        manifest, hidden = self.update_repo / MANIFEST, self.update_repo / (MANIFEST + ".withheld")
        if state == "missing" and manifest.exists():
            manifest.rename(hidden)
        elif state == "present" and hidden.exists():
            hidden.rename(manifest)

    def _lay_database(self):
        if self.database_dir is None:
            if self._knobs["disk"] == "short" and self.installer is None:
                raise ValueError("this host has neither an installer nor a database to outgrow its disk")
            return
        size = DATABASE_SIZE
        if self._knobs["disk"] == "short":
            size = _free(self.database_dir) + SHORT_MARGIN
        write_database(self.database_dir, size)

    def _write_backups(self, ages):
        where = self._backups_dir()
        if where is None:
            raise ValueError("no transfer share is mounted on this host to hold backups")
        if where.is_dir():
            shutil.rmtree(where)
        where.mkdir()
        now = time.time()
        for index, age in enumerate(sorted(ages)):
            backup = where / f"vcd-backup-{index}.tgz"
            backup.write_bytes(b"")
            os.utime(backup, (now - age, now - age))
