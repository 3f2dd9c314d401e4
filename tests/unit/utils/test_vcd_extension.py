"""Which extension runs here (`_utils/_vcd_extension.py`)."""

import pathlib
import re

import _vcd_extension as extension

REPO = pathlib.Path(__file__).resolve().parents[3]


def test_the_version_is_the_releases():
    (released,) = re.findall(r'^version = "([^"]+)"$', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    assert released == extension.VERSION


def test_the_digest_is_of_the_machinery_alone_and_changes_with_it(tmp_path):
    (tmp_path / "_vcd_a.py").write_text("A = 1\n")
    (tmp_path / "other.py").write_text("B = 1\n")
    first = extension.identity(str(tmp_path))
    (tmp_path / "other.py").write_text("B = 2\n")
    (tmp_path / "_vcd_a.pyc").write_bytes(b"compiled")
    assert extension.identity(str(tmp_path)) == first
    (tmp_path / "_vcd_a.py").write_text("A = 2\n")
    assert extension.identity(str(tmp_path))["digest"] != first["digest"]
    assert extension.identity()["digest"] == extension.identity(str(REPO / "_utils"))["digest"]
    assert extension.identity(str(tmp_path))["directory"] == str(tmp_path)
