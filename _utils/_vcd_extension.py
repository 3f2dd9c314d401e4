"""
Which extension runs here: its version and a digest of its machinery, the same on a cell's minion
(synced from file_roots, shipped by salt-ssh, or installed) and on the master, so that a precheck can
tell a cell whose copy differs from the master's before the window, when a state that behaves otherwise
would only surface in it.
"""

import hashlib
import os

# The release, as pyproject.toml says it (tests/unit/utils/test__vcd_extension.py checks they agree):
# a file_roots sync carries no package metadata to read it from.
VERSION = "0.1.0"
# The machinery every deployment carries beside this file: its own directory's _vcd_* files.
PREFIX = "_vcd_"


def identity(directory=None):
    """
    ``{"version": VERSION, "digest": the first 16 hex digits of the SHA-256 of the machinery,
    "directory": where it is}``: the ``_vcd_*.py`` files of ``directory`` (default this file's: the copy
    this process loaded), by name and content, in name order.
    """
    directory = directory or os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for name in sorted(os.listdir(directory)):
        if name.startswith(PREFIX) and name.endswith(".py"):
            digest.update(name.encode() + b"\0")
            with open(os.path.join(directory, name), "rb") as source:
                digest.update(source.read() + b"\0")
    return {"version": VERSION, "digest": digest.hexdigest()[:16], "directory": directory}
