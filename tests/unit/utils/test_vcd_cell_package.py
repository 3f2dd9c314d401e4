"""What a cell holds of the software it is to be upgraded to (`_utils/_vcd_cell_package.py`)."""

import hashlib

import pytest

import _vcd_cell_package as packages
from simulator.pillar import write_update_package


def test_an_installer_is_read_by_its_name_and_its_checksum_only_when_asked(tmp_path):
    path = tmp_path / "vmware-vcloud-director-distribution-10.6.0-24000000.bin"
    path.write_bytes(b"#!/bin/sh\n" * 1000)
    path.chmod(0o700)
    facts = packages.installer(str(path))
    assert facts == {"kind": "installer", "path": str(path), "present": True, "executable": True, "version": "10.6.0"}
    assert packages.installer(str(path), checksum=True)["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_installer_missing_not_executable_or_unnamed_says_so(tmp_path):
    assert packages.installer(None)["present"] is False
    assert packages.installer(str(tmp_path / "gone.bin"), checksum=True) == {
        "kind": "installer",
        "path": str(tmp_path / "gone.bin"),
        "present": False,
        "executable": False,
        "version": None,
    }
    unnamed = tmp_path / "installer.bin"
    unnamed.write_text("#!/bin/sh\n")
    facts = packages.installer(str(unnamed))
    assert (facts["present"], facts["executable"], facts["version"]) == (True, False, None)


def test_an_update_package_names_its_version_in_its_manifest(tmp_path):
    url = write_update_package(tmp_path / "package", "10.6.0", "24000000")
    facts = packages.update_package(url)
    assert (facts["present"], facts["version"], facts["problem"]) == (True, "10.6.0.24000000", None)


@pytest.mark.parametrize(
    "manifest, problem",
    [
        (None, "no update package there"),
        ("<update><product>VMware Cloud Director</product></update>", "names no version"),
        ("not xml at all <", "is not XML"),
    ],
)
def test_an_update_package_that_cannot_be_read_says_why(tmp_path, manifest, problem):
    if manifest is not None:
        (tmp_path / "manifest").mkdir()
        (tmp_path / packages.MANIFEST).write_text(manifest)
    facts = packages.update_package(tmp_path.as_uri())
    assert facts["version"] is None and problem in facts["problem"], facts


def test_a_remote_repository_is_left_to_vamicli():
    facts = packages.update_package("https://vapp-updates.vmware.com/vai-catalog")
    assert facts["present"] is False and "not a file:// directory" in facts["problem"]
