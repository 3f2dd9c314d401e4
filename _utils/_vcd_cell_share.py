"""
The NFS transfer share (``vcd_cell:transfer_share``) as this cell sees it, read touching nothing: every
cell of a server group must mount the same share, since what one cell writes there (uploads, the
appliance nodes' data, their database backups) the others read. For a precheck: whether it is there,
writable, mounted from a network file system, an ``identity`` the master compares across the cells,
and on appliances the newest database backup there.
"""

import os
import re
import socket
import time

MOUNTINFO = "/proc/self/mountinfo"
# Where on the share an appliance's create-backup.sh leaves its backups (VMware's exact layout is not
# confirmed: every file below it counts).
BACKUPS = "backups"
# How mountinfo writes a space, a tab, a newline or a backslash in a path.
OCTAL = re.compile(r"\\([0-7]{3})")
# File systems whose contents another host sees: a share. Any other is this host's own disk.
NETWORK_FILESYSTEMS = frozenset(("nfs", "nfs4", "cifs", "smb3", "smbfs", "glusterfs", "fuse.glusterfs", "ceph", "9p"))


def _unescape(field):
    """A mountinfo field with its octal escapes (``\\040`` for a space) undone."""
    return OCTAL.sub(lambda escape: chr(int(escape.group(1), 8)), field)


def mounts(mountinfo=MOUNTINFO):
    """
    This host's mounts, from ``/proc/self/mountinfo``: ``[{"point", "root", "fstype", "source"}]``, in
    the kernel's order (a later mount over the same point hides an earlier one). Empty where there is no
    such file (not Linux).
    """
    try:
        with open(mountinfo, encoding="utf-8") as lines:
            entries = lines.read().splitlines()
    except OSError:
        return []
    found = []
    for entry in entries:
        before, _, after = entry.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 2:
            continue
        point, root, fstype, source = fields[4], fields[3], tail[0], tail[1]
        found.append(
            {"point": _unescape(point), "root": _unescape(root), "fstype": fstype, "source": _unescape(source)}
        )
    return found


def _holding(path, entries):
    """The mount that holds ``path`` (a real path): the last one whose point is the path or above it."""
    holding = None
    for entry in entries:
        point = entry["point"]
        within = path == point or path.startswith(point.rstrip("/") + "/")
        if within and (holding is None or len(point) >= len(holding["point"])):
            holding = entry
    return holding


def transfer_share(path, mountinfo=MOUNTINFO):
    """
    The transfer share at ``path``: ``path``, ``present`` (a directory), ``writable`` (by this process,
    asked of the kernel: nothing is written), ``mount_point`` (the path is one), ``fstype`` and
    ``source`` of the mount that holds it, ``network`` (that mount is a network file system) and
    ``identity``: the same string on every cell that sees the same share (the mount's source and the
    path within it; for a directory on this host's own disk, the host's name and the path).
    """
    facts = {"path": path, "present": os.path.isdir(path), "writable": False, "mount_point": False}
    facts.update(fstype=None, source=None, network=False, identity=None)
    if not facts["present"]:
        return facts
    real = os.path.realpath(path)
    facts["writable"] = os.access(real, os.W_OK | os.X_OK)
    facts["mount_point"] = os.path.ismount(real)
    holding = _holding(real, mounts(mountinfo))
    if holding is not None:
        facts.update(fstype=holding["fstype"], source=holding["source"])
        facts["network"] = holding["fstype"] in NETWORK_FILESYSTEMS
    if facts["network"]:
        within = os.path.relpath(real, holding["point"])
        inside = os.path.normpath(os.path.join(holding["root"], within))
        facts["identity"] = f"{holding['source']}:{inside}"
    else:
        facts["identity"] = f"{socket.getfqdn()}:{real}"
    return facts


def newest_backup(path):
    """
    The newest database backup on the share at ``path`` (a file anywhere under its ``backups``):
    ``{"dir", "count", "newest": its path or None, "age_seconds": by this host's clock, or None}``.
    """
    where = os.path.join(path, BACKUPS)
    backups = []
    for root, _, files in os.walk(where):
        for name in files:
            try:
                backups.append((os.stat(os.path.join(root, name)).st_mtime, os.path.join(root, name)))
            except OSError:
                continue  # removed while listed
    facts = {"dir": where, "count": len(backups), "newest": None, "age_seconds": None}
    if backups:
        stamp, facts["newest"] = max(backups)
        facts["age_seconds"] = round(max(0.0, time.time() - stamp))
    return facts
