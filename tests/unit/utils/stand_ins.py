"""What the master-side steps' unit tests stand in for: the plan's record, and cells that answer as told."""

from unittest import mock

import _vcd_orchestration as orchestration
from tests.support import minion_codes


class Record:
    """Stands in for a plan's record in the master's cache: its data, and a copy of it at each save."""

    def __init__(self, **data):
        self.data = data
        self.saved = []

    def save(self):
        self.saved.append(dict(self.data))

    def done(self, name):
        return name in self.data.get("done", [])


def reached(answers):
    """
    Cells (a :class:`~_vcd_orchestration.Cells` made with ``spec``) answering ``answers`` (``{fun: {cell:
    return}}``); a cell missing from a function's answers is silent, its job lost.
    """
    calls = mock.create_autospec(orchestration.Cells, instance=True)

    def of(fun, targets):
        given = {cell: answer for cell, answer in answers.get(fun, {}).items() if cell in targets}
        return orchestration.Answers(
            given, {cell: "its job was lost" for cell in targets if cell not in given}, minion_codes(given)
        )

    calls.call.side_effect = lambda targets, fun, arg=(), kwarg=None, timeout=None: of(fun, targets)
    calls.call_each.side_effect = lambda targets, asked, timeout=None: {fun: of(fun, targets) for fun, _, _ in asked}
    return calls
