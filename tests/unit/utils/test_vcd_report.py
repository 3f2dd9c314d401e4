"""A run's report from its journal (`_utils/_vcd_report.py`): the lanes, the outage, the figures, the page."""

import html.parser

import _vcd_report as reports

CELLS = ["c1", "c2", "c3"]


def entry(t, tag, **data):
    return {"t": 1000.0 + t, "tag": tag, "data": data}


def step(t0, t1, name, cells=CELLS, failed=None, changes=None, prefix=""):
    """A step's start and finish on ``cells``; ``failed``: ``{cell: why}``."""
    results = {cell: (failed or {}).get(cell, "done") for cell in cells}
    finish = {"upgrade": "u1", "results": results}
    if changes:
        finish["changes"] = changes
    return [
        entry(t0, f"{prefix}{name}/start", upgrade="u1", cells=cells),
        entry(t1, f"{prefix}{name}/finish", **finish),
    ]


def upgrade(install_failed=None, finished=True):
    """An upgrade's journal: precheck, quiesce, drain, install, database, start; times in seconds."""
    entries = [
        entry(0, "run/start", orchestration="vcd_upgrade", id="u1", cells=CELLS, user="ops", plan={"version": "10.6"}),
        entry(0.5, "precheck/start", precheck="u1", cells=CELLS),
        entry(1, "precheck/finish", precheck="u1", ready=True, failed=[], jobs={"c1": 2, "c2": 0, "c3": 1}),
        *step(2, 4, "quiesce"),
        *step(4, 10, "drain", changes={"c1": {"jobs": 1, "drain_seconds": 5}, "c3": {"jobs": 3, "cancelled": ["t"]}}),
        *step(10, 20, "install", failed=install_failed),
    ]
    if install_failed:
        return entries + [entry(21, "run/finish", result=False, comment="Stopped at c2, step install: rpm exited 1")]
    entries += [*step(20, 22, "database", cells=["c1"]), *step(22, 30, "start")]
    return entries + ([entry(31, "run/finish", result=True, comment="3 cells upgraded")] if finished else [])


def states(model, cell):
    return [(s["state"], s["start"] - 1000, s["end"] - 1000) for s in model["cells"][cell]]


def test_each_cell_lane_goes_through_the_steps_and_the_outage_is_where_no_cell_served():
    model = reports.timeline(upgrade())
    assert states(model, "c1") == [
        ("serving", 0, 2),
        ("quiesced", 2, 4),
        ("draining", 4, 10),
        ("installing", 10, 20),
        ("stopped", 20, 22),
        ("starting", 22, 30),
        ("serving", 30, 31),
    ]
    assert model["outage"] == [(1010.0, 1030.0)]
    assert model["result"] is True and model["comment"] == "3 cells upgraded"
    # Waited for: the more of the jobs as the window began and as the drain began, each cell's.
    assert (model["jobs"], model["cancelled"]) == (2 + 0 + 3, 1)
    assert [s["label"] for s in model["cells"]["c3"] if s["state"] == "draining"] == ["draining 3 job(s), 1 cancelled"]
    assert [(s["label"], s["failed"]) for s in model["group"]["database"]] == [("database", False)]
    assert [s["label"] for s in model["group"]["checks"]] == ["precheck"]
    figures = dict(reports.figures(model))
    assert figures["outage"] == "20 s with no cell serving" and figures["run by"] == "ops"
    assert figures["plan"] == "vcd_upgrade u1: c1, c2, c3" and figures["result"] == "done"


def test_a_failed_step_is_marked_with_its_reason_and_the_cell_stays_as_it_was():
    model = reports.timeline(upgrade(install_failed={"c2": "rpm exited 1"}))
    (failed,) = [s for s in model["cells"]["c2"] if s["failed"]]
    assert (failed["state"], failed["reason"], failed["end"] - 1000) == ("installing", "rpm exited 1", 20)
    assert states(model, "c2")[-1] == ("stopped", 20, 21)
    assert not any(s["failed"] for s in model["cells"]["c1"])
    assert model["result"] is False and (model["outage"][-1][1] - 1000) == 21
    assert any(
        line.startswith("failed: c2 installing at ") and "rpm exited 1" in line for line in reports.summary(model)
    )


def test_a_run_not_finished_says_so_and_a_resumed_run_is_a_second_run_on_the_same_lanes():
    stopped = upgrade(finished=False)[:-1]  # the runner killed during the start step
    model = reports.timeline(stopped)
    assert model["result"] is None and model["now"]["c1"] == {"state": "starting", "since": 1022.0, "step": "start"}
    resumed = [*stopped, entry(40, "run/start", orchestration="vcd_upgrade", id="u1", cells=CELLS, resumed=True)]
    resumed += [*step(41, 45, "start"), entry(46, "run/finish", result=True, comment="resumed")]
    model = reports.timeline(resumed)
    assert [s["label"] for s in model["group"]["runs"]] == ["began: stopped", "resumed: done"]
    assert states(model, "c1")[-2:] == [("starting", 41, 45), ("serving", 45, 46)]
    assert model["result"] is True


def test_a_precheck_that_refused_the_window_names_its_failed_checks():
    rows = [{"check": "clock", "cell": "c2", "result": "fail", "detail": "300 s behind", "fix": "NTP"}]
    entries = [
        entry(0, "run/start", orchestration="vcd_upgrade", id="u1", cells=CELLS),
        entry(0, "precheck/start", precheck="u1", cells=CELLS),
        entry(1, "precheck/finish", precheck="u1", ready=False, failed=rows, jobs={}),
        entry(1, "run/finish", result=False, comment="Stopped at c2, step precheck"),
    ]
    model = reports.timeline(entries)
    (checks,) = model["group"]["checks"]
    assert checks["failed"] and checks["reason"] == "not ready: clock"
    assert model["outage"] == [] and all(s["state"] == "serving" for s in model["cells"]["c1"])


def test_a_rollouts_steps_are_per_batch_and_a_maintenance_sls_is_maintenance():
    entries = [entry(0, "run/start", orchestration="vcd_rolling", id="r1", cells=["a", "b"], plan={"min_active": 1})]
    for index, cell in enumerate(["a", "b"]):
        t = 10 * index
        entries += [entry(t + 1, f"{cell}/start", rollout="r1", cell=cell)]
        entries += step(t + 1, t + 2, "budget", [cell], prefix="step/")
        entries += step(t + 2, t + 4, "vcd.drained", [cell], prefix="step/", changes={cell: {"jobs": 2}})
        entries += step(t + 4, t + 6, "os_patches", [cell], prefix="step/")
        entries += step(t + 6, t + 8, "vcd.active", [cell], prefix="step/")
        entries += [entry(t + 8, f"{cell}/finish", rollout="r1", cell=cell, result="done")]
    model = reports.timeline(entries + [entry(20, "run/finish", result=True, comment="ok")])
    assert [s["state"] for s in model["cells"]["b"]] == [
        "serving",
        "draining",
        "maintenance",
        "starting",
        "serving",
    ]
    assert [s["label"] for s in model["cells"]["b"]][2] == "os_patches"
    assert model["outage"] == [] and model["jobs"] == 4
    assert len(model["group"]["checks"]) == 2


class Lanes(html.parser.HTMLParser):
    """The lanes of a page as a parser reads them: ``{lane: [segment states]}`` and the failed ones' titles."""

    def __init__(self):
        super().__init__()
        self.lanes, self.failed, self.lane, self.in_failed, self.title = {}, [], None, False, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "g" and "data-lane" in attrs:
            self.lane = attrs["data-lane"]
            self.lanes[self.lane] = []
        elif tag == "g" and "data-state" in attrs:
            self.lanes[self.lane].append(attrs["data-state"])
            self.in_failed = "failed" in attrs["class"].split()
        elif tag == "title" and self.in_failed:
            self.title = True

    def handle_data(self, data):
        if self.title:
            self.failed.append((self.lane, data))
            self.title = self.in_failed = False


def test_the_page_is_self_contained_with_a_lane_per_cell_and_the_failure_on_hover():
    page = reports.render(upgrade(install_failed={"c2": "rpm exited 1"}), "vcd_upgrade-u1-x")
    assert "<link" not in page and "src=" not in page and "http" not in page.split("</style>")[0]
    parsed = Lanes()
    parsed.feed(page)
    assert list(parsed.lanes) == ["runs", "checks", "no cell serving", *CELLS]
    assert parsed.lanes["no cell serving"] == ["outage"]
    assert parsed.lanes["c2"] == ["serving", "quiesced", "draining", "installing", "stopped"]
    assert [(lane, title.split(" FAILED: ")[1]) for lane, title in parsed.failed] == [
        ("runs", "Stopped at c2, step install: rpm exited 1"),
        ("c2", "rpm exited 1"),
    ]
    assert ': <span class="failed">failed</span></h1>' in page
