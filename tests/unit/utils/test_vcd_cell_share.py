"""The transfer share as a cell sees it (`_utils/_vcd_cell_share.py`)."""

import os
import socket
import time

import _vcd_cell_share as share


def mountinfo(tmp_path, *lines):
    """A ``/proc/self/mountinfo`` of these mounts (``point root fstype source`` each)."""
    path = tmp_path / "mountinfo"
    entries = []
    for number, line in enumerate(lines, start=20):
        point, root, fstype, source = line.split()
        entries.append(f"{number} 1 0:{number} {root} {point} rw,relatime shared:1 - {fstype} {source} rw")
    path.write_text("\n".join(entries) + "\n")
    return str(path)


def test_mountinfo_is_read_with_its_escapes_undone_and_a_missing_file_is_no_mount(tmp_path):
    info = mountinfo(tmp_path, "/ / ext4 /dev/vda", r"/opt/vcd\040data / nfs4 nfs1.example.com:/exports/vcd")
    assert share.mounts(info) == [
        {"point": "/", "root": "/", "fstype": "ext4", "source": "/dev/vda"},
        {"point": "/opt/vcd data", "root": "/", "fstype": "nfs4", "source": "nfs1.example.com:/exports/vcd"},
    ]
    assert share.mounts(str(tmp_path / "none")) == []


def test_an_nfs_share_is_known_by_its_export_and_the_path_within_it(tmp_path):
    transfer = tmp_path / "transfer"
    (transfer / "backups").mkdir(parents=True)
    info = mountinfo(tmp_path, "/ / ext4 /dev/vda", f"{tmp_path} /vcd nfs nfs1:/exports")
    facts = share.transfer_share(str(transfer), info)
    assert facts == {
        "path": str(transfer),
        "present": True,
        "writable": True,
        "mount_point": False,
        "fstype": "nfs",
        "source": "nfs1:/exports",
        "network": True,
        "identity": "nfs1:/exports:/vcd/transfer",
    }
    # A cell that mounts the export's transfer directory itself sees the same share.
    other = mountinfo(tmp_path, "/ / ext4 /dev/vda", f"{transfer} /vcd/transfer nfs nfs1:/exports")
    assert share.transfer_share(str(transfer), other)["identity"] == facts["identity"]


def test_a_later_mount_over_the_same_point_hides_the_earlier(tmp_path):
    info = mountinfo(tmp_path, "/ / ext4 /dev/vda", f"{tmp_path} / nfs nfs1:/old", f"{tmp_path} / nfs4 nfs2:/new")
    facts = share.transfer_share(str(tmp_path), info)
    assert (facts["fstype"], facts["source"], facts["identity"]) == ("nfs4", "nfs2:/new", "nfs2:/new:/")


def test_a_local_directory_is_known_by_the_host_and_its_real_path(tmp_path):
    real = tmp_path / "export"
    real.mkdir()
    (tmp_path / "mount").symlink_to(real)
    facts = share.transfer_share(str(tmp_path / "mount"), mountinfo(tmp_path, "/ / ext4 /dev/vda"))
    assert (facts["present"], facts["network"], facts["fstype"]) == (True, False, "ext4")
    assert facts["identity"] == f"{socket.getfqdn()}:{real}"


def test_no_directory_there_is_said_and_nothing_more_is_read(tmp_path):
    (tmp_path / "a-file").write_text("")
    for path in (tmp_path / "gone", tmp_path / "a-file"):
        facts = share.transfer_share(str(path))
        assert (facts["present"], facts["writable"], facts["identity"]) == (False, False, None)


def test_the_newest_backup_anywhere_under_the_shares_backups_and_its_age(tmp_path):
    backups = tmp_path / "backups" / "appliance-nodes"
    backups.mkdir(parents=True)
    now = time.time()
    for name, age in (("backup-a.tgz", 7200), ("backup-b.tgz", 600), ("backup-c.tgz", 86400)):
        (backups / name).write_bytes(b"")
        os.utime(backups / name, (now - age, now - age))
    found = share.newest_backup(str(tmp_path))
    assert found["dir"] == str(tmp_path / "backups") and found["count"] == 3
    assert found["newest"] == str(backups / "backup-b.tgz") and 600 <= found["age_seconds"] <= 660
    assert share.newest_backup(str(tmp_path / "none")) == {
        "dir": str(tmp_path / "none" / "backups"),
        "count": 0,
        "newest": None,
        "age_seconds": None,
    }
