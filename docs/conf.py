"""Sphinx configuration: the topic guides (Markdown) and the reference generated from the docstrings."""

import json
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
# The machinery the loader modules import by name, as Salt's loader makes it importable for them.
sys.path.insert(0, str(REPO / "_utils"))

import _vcd_cell_defaults as defaults  # noqa: E402

project = "saltext-vcd-cell"
author = "the saltext-vcd-cell developers"
copyright = "2026, " + author
release = "0.1.0"

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["substitution"]
myst_heading_anchors = 3


# Every default in the guides comes from the one place the code takes it from: {{ drain_timeout }}.
def _shown(value):
    """A default as a person writes it in YAML: ``3600``, ``fail``, ``false``; "none" when there is none."""
    if value is None:
        return "none"
    return f"`{value if isinstance(value, str) else json.dumps(value)}`"


myst_substitutions = {
    f"{group}_{key}": _shown(value)
    for group, values in (
        ("drain", defaults.DRAIN),
        ("active", defaults.ACTIVE),
        ("rollout", defaults.ROLLOUT),
        ("upgrade", defaults.UPGRADE),
    )
    for key, value in values.items()
}

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}

html_theme = "alabaster"
html_title = "vcd-cell: safe maintenance of VMware Cloud Director cells with Salt"
