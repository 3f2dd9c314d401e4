"""
Free space on this cell for a window, read touching nothing: where the installer unpacks (a Linux cell),
and on an appliance the embedded PostgreSQL's partition, which a major-version upgrade of the database
copies the database onto. The installer checks its own space only once the window has begun; the
precheck reads it days before.
"""

import os
import shutil

# The installer's self-extracting archive unpacks about its own size again beside the software it
# installs: twice its size free where it unpacks is the margin asked for.
INSTALLER_FACTOR = 2


def _existing(path):
    """``path``, or its nearest ancestor that exists (a directory not made yet is on its parent's disk)."""
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def free_bytes(path):
    """Bytes free to an unprivileged writer on the file system of ``path`` (or of where it would be)."""
    return shutil.disk_usage(_existing(path)).free


def size_of(path):
    """The bytes the files under ``path`` hold (their apparent sizes; links not followed); 0 if none."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue  # gone while walked: the database writes as it runs
    return total


def for_installer(installer, unpack_dir):
    """
    The space the installer at ``installer`` needs where it unpacks (``unpack_dir``): ``{"path", "free",
    "needed", "what"}``, ``needed`` None when there is no installer to size.
    """
    try:
        needed = INSTALLER_FACTOR * os.stat(installer).st_size if installer else None
    except OSError:
        needed = None
    return {"path": unpack_dir, "free": free_bytes(unpack_dir), "needed": needed, "what": "installer"}


def for_database(database_dir):
    """
    The appliance's database partition: ``{"path", "free", "needed", "what"}``, ``needed`` the database's
    size (a major-version upgrade copies it there), None when there is no database directory.
    """
    needed = size_of(database_dir) if os.path.isdir(database_dir) else None
    return {"path": database_dir, "free": free_bytes(database_dir), "needed": needed, "what": "database"}
