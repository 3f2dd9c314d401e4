"""
The Flask application factory of a fake cell.

One app serves one :class:`~simulator.model.Cell`: the vCD REST subset and health checks real clients
use (:mod:`simulator.api`) and the simulator's own test-control API under ``/sim/``
(:mod:`simulator.control`), which the stub CLIs also call to act on the cell.
"""

import secrets
import threading

from flask import Flask

from simulator import api, control
from simulator.model import Cell


class Sessions:
    """The API session tokens this cell has handed out."""

    def __init__(self):
        self._tokens = set()
        self._lock = threading.Lock()

    def open(self):
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens.add(token)
        return token

    def close(self, token):
        with self._lock:
            self._tokens.discard(token)

    def valid(self, token):
        with self._lock:
            return token in self._tokens


def create_app(cell=None):
    """
    Build the app for ``cell`` (a new default :class:`Cell` when omitted).

    The cell is reachable from views as ``current_app.extensions["vcd_sim"]["cell"]``.
    """
    app = Flask(__name__)
    app.extensions["vcd_sim"] = {"cell": cell or Cell(), "sessions": Sessions()}
    app.register_blueprint(api.blueprint)
    app.register_blueprint(control.blueprint)
    return app
