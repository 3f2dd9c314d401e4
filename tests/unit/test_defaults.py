"""
Each default of a drain, an activation, a rollout and an upgrade is written once (``_vcd_cell_defaults``):
the functions take it from there, the SLS files pass only what the pillar sets, the guides show it
through substitutions.
"""

import inspect
import pathlib
import re

import pytest
import salt.utils.templates
import salt.utils.yaml

import _vcd_cell_defaults as defaults
from tests.support import REPO, load_salt_module

STATE = load_salt_module("_states/vcd_cell.py", "vcd_cell_state_defaults")
MODULE = load_salt_module("_modules/vcd_cell.py", "vcd_cell_module_defaults")
ROLLING = load_salt_module("_runners/vcd_rolling.py", "vcd_rolling_defaults")
UPGRADE = load_salt_module("_runners/vcd_upgrade.py", "vcd_upgrade_defaults")

# (SLS, the pillar key it reads, the function it calls, the defaults, the arguments that are not options)
SLS_FILES = (
    ("states/vcd/drained.sls", "vcd_cell:drain", STATE.drained, defaults.DRAIN, {"name"}),
    ("states/vcd/active.sls", "vcd_cell:active", STATE.active, defaults.ACTIVE, {"name"}),
    ("states/orch/vcd_rolling.sls", "vcd_rolling", ROLLING.rollout, defaults.ROLLOUT, {"cells"}),
    ("states/orch/vcd_upgrade.sls", "vcd_upgrade", UPGRADE.upgrade, defaults.UPGRADE, {"cells", "version"}),
)


def render(path, pillar, tmp_path):
    """The SLS's one state as Salt renders it (jinja, then yaml): ``{argument: value}``."""

    def pillar_get(key, default=None):
        value = pillar
        for part in key.split(":"):
            if not isinstance(value, dict) or part not in value:
                return default
            value = value[part]
        return value

    rendered = salt.utils.templates.JINJA(
        str(REPO / path),
        to_str=True,
        salt={"pillar.get": pillar_get},
        grains={"id": "cell1"},
        pillar=pillar,
        opts={"cachedir": str(tmp_path), "file_client": "local", "file_roots": {"base": [str(REPO)]}},
        saltenv="base",
        sls=path,
    )
    assert rendered["result"], rendered
    (state,) = salt.utils.yaml.safe_load(rendered["data"]).values()
    (arguments,) = state.values()
    found = {}
    for item in arguments:
        found.update(item)
    return found


def nested(key, value):
    for part in reversed(key.split(":")):
        value = {part: value}
    return value


def options(function, fixed):
    return {name: p.default for name, p in inspect.signature(function).parameters.items() if name not in fixed}


@pytest.mark.parametrize("path, key, function, values, fixed", SLS_FILES, ids=[s[0] for s in SLS_FILES])
def test_an_sls_passes_no_default_of_its_own(path, key, function, values, fixed, tmp_path):
    assert set(render(path, {}, tmp_path)) <= fixed | {"name"}


@pytest.mark.parametrize("path, key, function, values, fixed", SLS_FILES, ids=[s[0] for s in SLS_FILES])
def test_an_sls_passes_every_option_the_pillar_sets(path, key, function, values, fixed, tmp_path):
    chosen = {option: f"chosen-{option}" for option in options(function, fixed)}
    passed = render(path, nested(key, chosen), tmp_path)
    assert {option: passed.get(option) for option in chosen} == chosen


@pytest.mark.parametrize("path, key, function, values, fixed", SLS_FILES, ids=[s[0] for s in SLS_FILES])
def test_the_function_takes_its_defaults_from_the_one_place(path, key, function, values, fixed):
    assert options(function, fixed) == values


def test_the_module_waits_with_the_drain_and_activation_defaults():
    assert options(MODULE.drain, {"lease", "shutdown", "quiesce", "window", "force_window"}) == {
        k: defaults.DRAIN[k] for k in ("timeout", "interval")
    }
    assert options(MODULE.wait_drained, {"lease", "shutdown"}) == {
        k: defaults.DRAIN[k] for k in ("timeout", "interval")
    }
    assert inspect.signature(MODULE.wait_serving).parameters["timeout"].default == defaults.ACTIVE["health_timeout"]


def test_the_guides_show_every_default_through_a_substitution():
    """
    A guide's table row for an option has its default as ``{{ group_key }}``, never written again. An
    option without a default value (None) may say instead what happens then ("the first cell").
    """
    groups = (defaults.DRAIN, defaults.ACTIVE, defaults.ROLLOUT, defaults.UPGRADE)
    keys = {key for group in groups for key, value in group.items() if value is not None}
    written = []
    for guide in sorted(pathlib.Path(REPO / "docs" / "topics").glob("*.md")):
        for line in guide.read_text().splitlines():
            row = re.match(r"\|\s*`(?:drain:|active:)?([a-z_]+)`(?:, `[a-z_]+`)?\s*\|([^|]*)\|", line)
            if row and row.group(1) in keys and row.group(2).strip() != "required" and "{{" not in row.group(2):
                written.append(f"{guide.name}: {line}")
    assert not written, written
    assert "{{" not in (REPO / "README.md").read_text()
