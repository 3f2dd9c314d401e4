"""
What a cell holds of the software it is to be upgraded to, read touching nothing: on a Linux cell the
installer (``vcd_cell:installer``), on an appliance the extracted update package (``vcd_cell:update_repo``,
whose ``manifest/manifest-latest.xml`` names the version). For a precheck: the window's install would
find what is read here.
"""

import hashlib
import os
import re
import urllib.parse
from xml.etree import ElementTree

MANIFEST = "manifest/manifest-latest.xml"
# A version as VMware writes it in an installer's name (vmware-vcloud-director-distribution-10.6.0-24000000.bin)
# and a manifest (10.6.0.24000000): dotted numbers.
VERSION = re.compile(r"\d+(?:\.\d+)+")
CHUNK = 1 << 20


def sha256(path):
    """The SHA-256 of the file at ``path``, in hex, as VMware publishes its downloads' checksums."""
    digest = hashlib.sha256()
    with open(path, "rb") as package:
        for chunk in iter(lambda: package.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def installer(path, checksum=False):
    """
    The installer at ``path`` (None: not set): ``kind``, ``path``, ``present``, ``executable``, the
    ``version`` its name carries (None when it names none) and, with ``checksum``, its ``sha256``.
    """
    facts = {"kind": "installer", "path": path, "present": False, "executable": False, "version": None}
    if not path:
        return facts
    facts["present"] = os.path.isfile(path)
    facts["executable"] = facts["present"] and os.access(path, os.X_OK)
    match = VERSION.search(os.path.basename(path))
    facts["version"] = match.group(0) if match else None
    if checksum and facts["present"]:
        facts["sha256"] = sha256(path)
    return facts


def update_package(repo):
    """
    The update package at the ``file://`` URL ``repo``: ``kind``, ``repo``, ``path`` (its manifest),
    ``present``, the ``version`` the manifest names (10.6.0.24000000: the version and its build), and
    what was wrong reading it (``problem``). No checksum: VMware publishes the archive's, and what is
    here is the archive extracted.
    """
    facts = {"kind": "update_package", "repo": repo, "path": None, "present": False, "version": None, "problem": None}
    parsed = urllib.parse.urlparse(repo or "")
    if parsed.scheme != "file":
        facts["problem"] = f"{repo} is not a file:// directory: a remote repository is read only by vamicli itself"
        return facts
    facts["path"] = os.path.join(parsed.path, MANIFEST)
    try:
        tree = ElementTree.parse(facts["path"])
    except OSError:
        facts["problem"] = f"no update package there: {facts['path']} cannot be read"
        return facts
    except ElementTree.ParseError as exc:
        facts["problem"] = f"{facts['path']} is not XML VMware's manifest is written in ({exc})"
        return facts
    facts["present"] = True
    # The element holding the version, whatever the manifest's layout: the first text that is one.
    for element in tree.iter():
        match = VERSION.fullmatch((element.text or "").strip())
        if element.tag.lower().endswith("version") and match:
            facts["version"] = match.group(0)
            break
    if facts["version"] is None:
        facts["problem"] = f"{facts['path']} names no version"
    return facts
