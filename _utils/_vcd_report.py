"""
The report of an orchestration run, from its journal (:mod:`_vcd_orchestration_journal`): one
self-contained HTML page (inline SVG and CSS, nothing fetched) with the key figures on top and the
group's timeline as a picture: a lane per cell (serving, quiesced, draining with its job count, stopped,
installing, in maintenance, rebooting, starting; a failed step marked, its reason on hover), the group's
lanes (the runs, the checks, the database, a switchover, the failover mode) and the outage shaded where
no cell served. :func:`timeline` is what the page draws, :func:`summary` the same in a few lines of text.
"""

import datetime
import html

# What a cell does during a step of that name: its lane's state while the step runs.
CELL_PHASES = {
    "quiesce": "quiesced",
    "drain": "draining",
    "vcd.drained": "draining",
    "install": "installing",
    "reboot": "rebooting",
    "start": "starting",
    "vcd.active": "starting",
    "restore": "starting",
}
# The state a cell is left in by a step of that name that went well (a step failed leaves it as it was).
AFTER = {
    "quiesced": "quiesced",
    "draining": "stopped",
    "installing": "stopped",
    "maintenance": "stopped",
    "rebooting": "serving",
    "starting": "serving",
}
# Steps of the whole group, each drawn on the group's lane of that name; any other step run on cells is
# their maintenance (a rollout's maintenance SLS).
GROUP_STEPS = {
    "precheck": "checks",
    "preflight": "checks",
    "verify": "checks",
    "budget": "checks",
    "cluster": "checks",
    "vcenter proxies": "vcenters",
    "vcenter reconnect": "vcenters",
    "backup": "database",
    "database": "database",
    "switchover": "switchover",
    "failover": "failover mode",
}
GROUP_LANES = ("runs", "checks", "vcenters", "database", "switchover", "failover mode")
# A cell in these states answers the API: the cloud serves while any cell is in one.
SERVING = frozenset(("serving", "quiesced", "draining"))
COLOURS = {
    "serving": "#66bb6a",
    "quiesced": "#fdd835",
    "draining": "#ffa726",
    "stopped": "#9e9e9e",
    "installing": "#42a5f5",
    "maintenance": "#5c6bc0",
    "rebooting": "#ab47bc",
    "starting": "#26a69a",
    "step": "#90a4ae",
    "run": "#cfd8dc",
    "outage": "#e53935",
    "failed": "#b71c1c",
}
WIDTH, LABELS, LANE, GAP, TOP = 1200, 170, 26, 6, 34


def _step_of(tag, data, open_steps):
    """``(key, name, "start" | "finish")`` of a step's event, or None (``open_steps``: the keys begun)."""
    parts = tag.split("/")
    if len(parts) < 2 or parts[-1] not in ("start", "finish"):
        return None
    key = "/".join(parts[:-1])
    name = parts[1] if parts[0] == "step" and len(parts) == 3 else parts[0] if len(parts) == 2 else None
    if name is None:
        return None
    if parts[-1] == "start":
        return (key, name, "start") if isinstance(data.get("cells"), list) else None
    return (key, name, "finish") if key in open_steps else None


def _outcome(data, cells):
    """``{cell: None or why it failed}`` of a step's finish event."""
    if "results" in data:
        return {cell: None if why == "done" else str(why) for cell, why in data["results"].items()}
    if "ready" in data:  # the precheck's: the group's, by its verdict and the checks that failed
        why = None if data["ready"] else "not ready: " + failed_checks(data.get("failed"))
        return dict.fromkeys(cells, why)
    return dict.fromkeys(cells)


def failed_checks(rows):
    """The checks a precheck's failed ``rows`` name, each once, as a person reads them."""
    names = sorted({str(r.get("check")) for r in rows or [] if isinstance(r, dict)})
    return ", ".join(names) or "a check failed"


def _segment(start, end, state, label="", failed=False, reason=""):
    return {"start": start, "end": end, "state": state, "label": label, "failed": failed, "reason": reason}


class _Lane:
    """One cell's lane as the events come: its state since when, and the segments closed."""

    def __init__(self, since):
        self.state, self.since, self.before, self.segments = "serving", since, "serving", []
        self.step = None  # the step running on the cell now

    def close(self, t, state, **extra):
        if t > self.since or extra.get("failed"):
            self.segments.append(_segment(self.since, t, state, **extra))
        self.since = t


def timeline(entries, now=None):
    """
    What the report draws, from the journal's ``entries``: ``header`` (the first run's start: the
    orchestration, the plan's id, its cells, who ran it, the plan's keys), ``start``, ``end``,
    ``result`` (True, False, or None: still running or its runner killed), ``comment``, ``cells``
    (``{cell: [segment]}``), ``group`` (``{lane: [segment]}``), ``outage`` (``[(start, end)]`` where no
    cell served), ``jobs`` (waited for), ``cancelled``, ``jobs_at_start`` (``{cell: tasks}`` as the
    window began) and ``now`` (``{cell: {"state", "since",
    "step"}}``: where each cell is at the end). A segment: ``start``, ``end``, ``state``, ``label``,
    ``failed``, ``reason``. ``now``: the time the timeline ends, if not at its last entry (a run followed
    live).
    """
    runs = [e for e in entries if e["tag"] == "run/start"]
    header = dict(runs[0]["data"]) if runs else {"cells": []}
    start = entries[0]["t"] if entries else 0.0
    end = max(now or 0.0, entries[-1]["t"]) if entries else 0.0
    cells = {cell: _Lane(start) for cell in header.get("cells") or []}
    group = {lane: [] for lane in GROUP_LANES}
    open_steps, cancelled = {}, 0
    # Each cell's jobs as the window began (the precheck's reading) and as its drain began, of the
    # cells drained: the jobs waited for are the more of the two, each cell's.
    at_start, at_drain, drained = {}, {}, set()
    result, comment = None, "in progress, or its runner was stopped"
    last = start
    for entry in entries:
        tag, data, t = entry["tag"], entry.get("data") or {}, entry["t"]
        last, before = t, last
        if tag == "run/start":
            # A run begun and not finished before this one: its runner was stopped (killed, its master down).
            _close_run(group["runs"], before, None, "its runner was stopped before it ended", "stopped")
            group["runs"].append(_segment(t, t, "run", "resumed" if data.get("resumed") else "began"))
            result, comment = None, "in progress, or its runner was stopped"
            continue
        if tag == "run/finish":
            result, comment = data.get("result") is True, data.get("comment", "")
            _close_run(group["runs"], t, result, comment)
            continue
        step = _step_of(tag, data, open_steps)
        if step is None:
            continue
        key, name, phase = step
        if phase == "start":
            open_steps[key] = (t, [c for c in data["cells"] if c in cells] if name not in GROUP_STEPS else [])
            for cell in open_steps[key][1]:
                lane = cells[cell]
                lane.before = lane.state
                lane.close(t, lane.state)
                lane.state, lane.step = CELL_PHASES.get(name, "maintenance"), name
            continue
        begun, on = open_steps.pop(key)
        outcome = _outcome(data, data.get("cells") or list(cells))
        if name == "precheck":
            at_start.update(data.get("jobs") or {})
        if name in GROUP_STEPS:
            failures = {cell: why for cell, why in outcome.items() if why}
            reason = "; ".join(f"{cell}: {why}" for cell, why in failures.items())
            if len(set(failures.values())) == 1 and len(failures) > 1:  # the group's own reason, once
                reason = next(iter(failures.values()))
            group[GROUP_STEPS[name]].append(_segment(begun, t, "step", name, bool(failures), reason))
            continue
        changes = data.get("changes") or {}
        for cell in on:
            changed = changes.get(cell) or {}
            if cells[cell].state in ("quiesced", "draining"):
                drained.add(cell)
            at_drain[cell] = max(at_drain.get(cell, 0), int(changed.get("jobs") or 0))
            cancelled += len(changed.get("cancelled") or [])
            _finish(cells[cell], t, name, outcome.get(cell), changed)
    current = {cell: {"state": lane.state, "since": lane.since, "step": lane.step} for cell, lane in cells.items()}
    for lane in cells.values():
        lane.close(end, lane.state)
    segments = {cell: lane.segments for cell, lane in cells.items()}
    if runs and result is None:
        _close_run(group["runs"], end, None, comment)
    return {
        "header": header,
        "start": start,
        "end": end,
        "result": result,
        "comment": comment,
        "cells": segments,
        "group": {lane: found for lane, found in group.items() if found or lane == "runs"},
        "outage": outage(segments, start, end),
        "jobs": sum(max(at_start.get(cell, 0), at_drain.get(cell, 0)) for cell in drained),
        "cancelled": cancelled,
        "jobs_at_start": at_start,
        "now": current,
    }


def _finish(lane, t, name, why, changes):
    """A cell's step ended at ``t``: its segment closed (marked failed, with ``why``), its state after."""
    state = lane.state
    label = name if state == "maintenance" else state
    if state == "draining" and "jobs" in changes:
        label = f"draining {changes['jobs']} job(s)" + (
            f", {len(changes['cancelled'])} cancelled" if changes.get("cancelled") else ""
        )
    lane.close(t, state, label=label, failed=why is not None, reason=why or "")
    lane.state = lane.before if why else AFTER.get(state, lane.before)
    lane.step = None


def _close_run(runs, t, result, comment, words=None):
    """The last run's segment, if still open, ended at ``t`` with its ``result`` (None: not known)."""
    if runs and runs[-1]["end"] == runs[-1]["start"] and ":" not in runs[-1]["label"]:
        began = runs[-1]
        words = words or {True: "done", False: "failed", None: "stopped or running"}[result]
        runs[-1] = _segment(began["start"], t, "run", f"{began['label']}: {words}", result is False, comment)


def outage(segments, start, end):
    """``[(start, end)]``: the times no cell was in a serving state (merged)."""
    bounds = sorted({start, end, *(s[k] for lane in segments.values() for s in lane for k in ("start", "end"))})
    found = []
    for left, right in zip(bounds, bounds[1:], strict=False):
        middle = (left + right) / 2
        serving = any(
            s["start"] <= middle < s["end"] and s["state"] in SERVING for lane in segments.values() for s in lane
        )
        if not serving and segments:
            if found and found[-1][1] == left:
                found[-1] = (found[-1][0], right)
            else:
                found.append((left, right))
    return found


# -- words ----------------------------------------------------------------------------------------


def _clock(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%H:%M:%S")


def day(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(seconds):
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def figures(model):
    """The key figures, in the order the page shows them: ``[(name, value)]``."""
    header = model["header"]
    down = sum(right - left for left, right in model["outage"])
    result = {True: "done", False: "failed", None: "not finished (still running, or its runner was stopped)"}
    return [
        ("result", result[model["result"]]),
        ("window", f"{day(model['start'])} to {_clock(model['end'])} ({_span(model['end'] - model['start'])})"),
        ("outage", f"{_span(down)} with no cell serving" if model["outage"] else "none: a cell served all along"),
        ("jobs waited for", str(model["jobs"])),
        ("jobs cancelled", str(model["cancelled"])),
        ("run by", str(header.get("user") or "unknown")),
        ("plan", f"{header.get('orchestration', '?')} {header.get('id', '?')}: {', '.join(header.get('cells') or [])}"),
    ]


def summary(model, path=None):
    """The report in a few lines of text: the figures, each lane's steps and every failure with its reason."""
    lines = [f"{name}: {value}" for name, value in figures(model)]
    if path:
        lines.append(f"report: {path}")
    if model["comment"]:
        lines.append(f"comment: {model['comment']}")
    for cell, segments in model["cells"].items():
        steps = [s for s in segments if s["state"] != "serving" or s["failed"]]
        said = ", ".join(f"{s['label'] or s['state']} {_clock(s['start'])}" for s in steps if s["label"])
        lines.append(f"{cell}: {said or 'served all along'}")
    for lane, segments in model["group"].items():
        for segment in segments:
            if segment["failed"]:
                lines.append(f"failed: {lane} {segment['label']} at {_clock(segment['end'])}: {segment['reason']}")
    for cell, segments in model["cells"].items():
        for segment in segments:
            if segment["failed"]:
                lines.append(f"failed: {cell} {segment['label']} at {_clock(segment['end'])}: {segment['reason']}")
    return lines


# -- the page -------------------------------------------------------------------------------------


def _lanes(model):
    """``[(kind, name, segments)]`` top to bottom: the group's lanes, the outage, a lane per cell."""
    lanes = [("group", name, segments) for name, segments in model["group"].items()]
    lanes.append(("outage", "no cell serving", [_segment(a, b, "outage", "outage") for a, b in model["outage"]]))
    lanes += [("cell", cell, segments) for cell, segments in model["cells"].items()]
    return lanes


def _ticks(start, end):
    span = max(end - start, 1)
    step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600) if span / s <= 12), 7200)
    first = start - start % step + step
    return [first + i * step for i in range(int((end - first) // step) + 1)]


def svg(model):
    """The timeline as inline SVG: each lane a ``<g class="lane">`` named by ``data-lane``."""
    lanes = _lanes(model)
    start, end = model["start"], max(model["end"], model["start"] + 1)
    plot = WIDTH - LABELS - 16
    height = TOP + len(lanes) * (LANE + GAP) + 10

    def x(t):
        return LABELS + (t - start) / (end - start) * plot

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="the group\'s timeline">'
    ]
    for tick in _ticks(start, end):
        out.append(
            f'<line x1="{x(tick):.1f}" y1="{TOP - 6}" x2="{x(tick):.1f}" y2="{height - 10}" class="tick"/>'
            f'<text x="{x(tick):.1f}" y="{TOP - 10}" class="tick-label">{_clock(tick)}</text>'
        )
    for left, right in model["outage"]:
        out.append(
            f'<rect class="outage-shade" x="{x(left):.1f}" y="{TOP - 4}" width="{max(x(right) - x(left), 1):.1f}" '
            f'height="{height - TOP - 6}"><title>no cell served: {_clock(left)} to {_clock(right)} '
            f"({_span(right - left)})</title></rect>"
        )
    for index, (kind, name, segments) in enumerate(lanes):
        y = TOP + index * (LANE + GAP)
        out.append(f'<g class="lane lane-{kind}" data-lane="{html.escape(name)}" data-y="{y}">')
        out.append(f'<text x="{LABELS - 8}" y="{y + LANE * 0.68:.1f}" class="lane-label">{html.escape(name)}</text>')
        out.append(f'<rect x="{LABELS}" y="{y}" width="{plot}" height="{LANE}" class="lane-back"/>')
        for segment in segments:
            out.append(_drawn(segment, x, y))
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def _drawn(segment, x, y):
    left, right = x(segment["start"]), x(segment["end"])
    width = max(right - left, 2)
    state = segment["state"]
    words = segment["label"] or state
    title = (
        f"{words}: {_clock(segment['start'])} to {_clock(segment['end'])} ({_span(segment['end'] - segment['start'])})"
    )
    if segment["failed"]:
        title += f" FAILED: {segment['reason']}"
    parts = [
        f'<g class="segment state-{state}{" failed" if segment["failed"] else ""}" data-state="{state}">'
        f"<title>{html.escape(title)}</title>"
        f'<rect x="{left:.1f}" y="{y + 2}" width="{width:.1f}" height="{LANE - 4}" fill="{COLOURS[state]}"/>'
    ]
    if width > 7 * len(words):
        parts.append(
            f'<text x="{left + 4:.1f}" y="{y + LANE * 0.68:.1f}" class="seg-label">{html.escape(words)}</text>'
        )
    if segment["failed"]:
        parts.append(
            f'<rect x="{right - 9:.1f}" y="{y}" width="18" height="{LANE}" class="failed-mark" '
            f'fill="{COLOURS["failed"]}"/>'
            f'<text x="{right:.1f}" y="{y + LANE * 0.72:.1f}" class="failed-cross">\u2715</text>'
        )
    parts.append("</g>")
    return "".join(parts)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #212121; background: #fff; }
h1 { font-size: 20px; margin: 0 0 12px; }
h1 .failed { color: #b71c1c; } h1 .done { color: #2e7d32; } h1 .open { color: #e65100; }
table.figures { border-collapse: collapse; margin-bottom: 16px; }
table.figures th { text-align: left; padding: 2px 16px 2px 0; color: #555; font-weight: 600; }
table.figures td { padding: 2px 0; }
.tick { stroke: #e0e0e0; } .tick-label { font-size: 11px; fill: #757575; text-anchor: middle; }
.lane-label { font-size: 13px; text-anchor: end; fill: #212121; }
.lane-group .lane-label, .lane-outage .lane-label { fill: #616161; font-style: italic; }
.lane-back { fill: #f5f5f5; }
.seg-label { font-size: 11px; fill: #111; pointer-events: none; }
.outage-shade { fill: #e53935; opacity: 0.13; }
.failed-cross { font-size: 15px; fill: #fff; text-anchor: middle; font-weight: 700; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
ul.failures li { color: #b71c1c; }
"""


# Where each lane and each failed step is drawn on the page, as data-box="x,y,width,height" (CSS pixels):
# for tools that check the picture a browser shows (the tests do, in headless Chromium). Inline, like
# the rest: nothing is fetched.
MEASURED = (
    "<script>for (const g of document.querySelectorAll('g.lane, g.segment.failed')) {"
    " const r = g.getBoundingClientRect();"
    " g.setAttribute('data-box', [r.x, r.y, r.width, r.height].map(Math.round).join(',')); }</script>"
)


def render(entries, report_id):
    """The whole page for the journal's ``entries``: a string of HTML, self-contained."""
    model = timeline(entries)
    header = model["header"]
    verdict = {True: ("done", "done"), False: ("failed", "failed"), None: ("open", "not finished")}[model["result"]]
    title = f"{header.get('orchestration', 'orchestration')} {header.get('id', report_id)}"
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>" for name, value in figures(model)
    )
    failures = [
        f"<li>{html.escape(lane)}, {html.escape(s['label'])} at {_clock(s['end'])}: {html.escape(s['reason'])}</li>"
        for lane, segments in list(model["group"].items()) + list(model["cells"].items())
        for s in segments
        if s["failed"]
    ]
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{state}</span>'
        for state, colour in COLOURS.items()
        if state != "run"
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>"
        f'<h1>{html.escape(title)}: <span class="{verdict[0]}">{verdict[1]}</span></h1>'
        f'<table class="figures">{rows}</table>'
        f"{svg(model)}"
        f'<p class="legend">{legend}</p>'
        + (f'<h2>Failed</h2><ul class="failures">{"".join(failures)}</ul>' if failures else "")
        + f"<p>{html.escape(model['comment'] or '')}</p>"
        + f'<p class="id">report {html.escape(report_id)}</p>{MEASURED}</body></html>\n'
    )
