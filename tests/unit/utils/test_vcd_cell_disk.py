"""Free space on a cell (`_utils/_vcd_cell_disk.py`)."""

import os
import shutil

import _vcd_cell_disk as disk


def test_the_installer_needs_twice_its_size_where_it_unpacks(tmp_path):
    installer = tmp_path / "vmware-vcloud-director-distribution-10.6.0-24000000.bin"
    installer.write_bytes(b"#!/bin/sh\n")
    os.truncate(installer, 3 * 1024**3)  # sparse: 3 GiB read, none taken
    found = disk.for_installer(str(installer), str(tmp_path / "unpack" / "here"))
    # A directory not made yet is on its parent's file system.
    assert found == {
        "path": str(tmp_path / "unpack" / "here"),
        "free": shutil.disk_usage(tmp_path).free,
        "needed": 6 * 1024**3,
        "what": "installer",
    }
    assert disk.for_installer(str(tmp_path / "none.bin"), str(tmp_path))["needed"] is None
    assert disk.for_installer(None, str(tmp_path))["needed"] is None


def test_the_database_needs_its_own_size_on_its_partition(tmp_path):
    data = tmp_path / "vpostgres" / "current" / "pgdata"
    (data / "base").mkdir(parents=True)
    (data / "base" / "16384").write_bytes(b"x" * 1000)
    (data / "PG_VERSION").write_bytes(b"14\n")
    os.symlink("/", data / "root-link")  # a link to a directory is not followed: not the database
    found = disk.for_database(str(tmp_path / "vpostgres"))
    assert found["needed"] == 1003 and found["what"] == "database"
    assert found["free"] == shutil.disk_usage(tmp_path).free
    assert disk.for_database(str(tmp_path / "none"))["needed"] is None
