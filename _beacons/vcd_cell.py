"""
The ``vcd_cell`` beacon: tells the master of a cell left quiesced, or stopped, behind everyone's back.

Fires on the master's bus, as ``salt/beacon/<minion>/vcd_cell/<what>``:

- ``quiesced``: the cell has been quiesced or in maintenance mode longer than ``quiesced_for`` seconds
  (900 by default) with no drain or quiesce lease of this extension holding it: capacity lost in silence,
  since the lease guards only this extension's own runs;
- ``stopped``: its service has been stopped as long, and this extension did not stop it (a drain or
  ``vcd_cell.shutdown`` marks the cells it stops, until it starts them again);
- ``quiesced/cleared`` and ``stopped/cleared``, once, when that is over.

Each fires once, not at every reading. The cell is read once every ``interval`` seconds (60 by default):
whether its service runs (``vmware-vcd-cell status``), then its state through the REST API where the cell
can say (vCD 10.5.1, API 38.1: no tool start), else by ``cell-management-tool cell --status``; its
settings are the module's (``vcd_cell:`` in the minion's config, grains or pillar).

Configured the Salt way, in the minion's config or its pillar:

.. code-block:: yaml

    beacons:
      vcd_cell:
        - interval: 60
        - quiesced_for: 900

A reactor can act on it: see the docs' "Watching a window" for one that alerts, and one that puts the
cell back into service (``vcd.active``) once it is safe.
"""

import logging
import time

from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "vcd_cell"
DEFAULTS = {"interval": 60, "quiesced_for": 900}
CONTEXT = "vcd_cell_beacon"
# What a reading finds, each a condition that fires once it has lasted ``quiesced_for``.
CONDITIONS = ("quiesced", "stopped")


def __virtual__():
    return __virtualname__


def _settings(config):
    """The beacon's configuration (Salt gives it as a list of one-key dicts) over the defaults."""
    merged = {"quiesced_for": DEFAULTS["quiesced_for"]}
    for item in config if isinstance(config, list) else [config]:
        if isinstance(item, dict):
            merged.update(item)
    return merged


def validate(config):
    """Whether the configuration is one: ``interval`` and ``quiesced_for``, each a number of seconds."""
    if not isinstance(config, list):
        return False, "vcd_cell beacon: the configuration must be a list, e.g. [{interval: 60}, {quiesced_for: 900}]"
    settings = dict(DEFAULTS, **_settings(config))
    for name in DEFAULTS:
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            return False, f"vcd_cell beacon: {name} must be a positive number of seconds, not {value!r}"
    return True, "Valid beacon configuration"


def _own_interval(settings):
    """
    Seconds between two readings that the beacon keeps itself: none where ``interval`` is configured
    (Salt then calls it that often, and takes the key out of what it hands the beacon), else the
    default (Salt would call it at every turn of the minion's loop).
    """
    declared = __salt__["config.merge"]("beacons", {}).get(settings.get("_beacon_name", __virtualname__))
    if "interval" in _settings(declared or []):
        return 0
    return DEFAULTS["interval"]


def _reading():
    """
    ``{"running", "quiesced", "maintenance", "ours", "stopped_at"}`` of the cell now: ``ours`` when a drain
    or a quiesce lease of this extension holds it.
    """
    lease = __salt__["vcd_cell.lease"]()
    found = {
        "running": __salt__["vcd_cell.is_running"](),
        "quiesced": False,
        "maintenance": False,
        "ours": bool(lease["held"] or lease["drain"]),
        "stopped_at": lease.get("stopped_at"),
    }
    if found["running"]:
        status = __salt__["vcd_cell.status"]()
        # Through the API the state says quiesced; the tool says only whether the scheduler is active.
        found["quiesced"] = status.get("quiesced") is True or status.get("active") is False
        found["maintenance"] = status.get("maintenance") is True
    return found


def _holding(reading, seen_running):
    """The conditions that hold now (``seen_running``: when this beacon last saw the service run)."""
    holding = set()
    if reading["running"] and (reading["quiesced"] or reading["maintenance"]) and not reading["ours"]:
        holding.add("quiesced")
    # A stop of ours is ours until the cell has been seen running since (an appliance's reboot starts it).
    stopped_by_us = reading["stopped_at"] is not None and reading["stopped_at"] >= seen_running
    if not reading["running"] and not reading["ours"] and not stopped_by_us:
        holding.add("stopped")
    return holding


def beacon(config):
    """
    One look at the cell, at most every ``interval`` seconds: the events for what has held longer than
    ``quiesced_for`` (once each) and for what is over.
    """
    settings = _settings(config)
    state = __context__.setdefault(CONTEXT, {"since": {}, "fired": set(), "read_at": 0.0, "seen_running": 0.0})
    now = time.time()
    if now - state["read_at"] < _own_interval(settings):
        return []
    state["read_at"] = now
    try:
        reading = _reading()
    except (CommandExecutionError, SaltInvocationError) as exc:
        log.warning("vcd_cell beacon: the cell could not be read this time: %s", exc)
        return []
    if reading["running"]:
        state["seen_running"] = now
    holding = _holding(reading, state["seen_running"])
    events = []
    for condition in CONDITIONS:
        if condition in holding:
            since = state["since"].setdefault(condition, now)
            if now - since >= settings["quiesced_for"] and condition not in state["fired"]:
                state["fired"].add(condition)
                events.append(_event(condition, since, now, reading))
        else:
            since = state["since"].pop(condition, None)
            if condition in state["fired"]:
                state["fired"].discard(condition)
                events.append(_event(f"{condition}/cleared", since, now, reading))
    return events


def _event(tag, since, now, reading):
    return {
        "tag": tag,
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)) if since else None,
        "seconds": round(now - since) if since else None,
        "running": reading["running"],
        "quiesced": reading["quiesced"],
        "maintenance": reading["maintenance"],
    }
