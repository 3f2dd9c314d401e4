"""
Serving fakes over real HTTP on the loopback interface.

:class:`CellServer` runs a fake cell's app in a background thread, for tests and the demo;
:class:`ApplianceServer` an appliance's management API beside it. ``python -m simulator serve`` runs
them in the foreground.
"""

import logging
import threading
import time

from werkzeug.serving import WSGIRequestHandler, make_server

from simulator.app import create_app
from simulator.appliance_api import create_appliance_app
from simulator.model import Cell

LOOPBACK = "127.0.0.1"
# How often the serving thread checks for a stop request: a short wait keeps test teardown fast.
POLL_SECONDS = 0.05


class LoopbackServer:
    """A WSGI ``app`` on ``127.0.0.1:port`` (``port=0`` picks a free one), served from a thread."""

    handler = WSGIRequestHandler

    def __init__(self, app, port=0, tls=False):
        self.app = app
        # tls=True serves HTTPS with a throw-away self-signed certificate, which clients that verify
        # certificates must refuse; an ssl.SSLContext (simulator.tls.Authority.serving) serves its
        # certificate, which a client given the authority's CA file trusts.
        context = "adhoc" if tls is True else tls or None
        self._server = make_server(
            LOOPBACK, port, app, threaded=True, ssl_context=context, request_handler=self.handler
        )
        self.port = self._server.server_port
        self.url = f"{'https' if tls else 'http'}://{LOOPBACK}:{self.port}"
        self._thread = None

    def start(self):
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(POLL_SECONDS,), name=f"sim-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self):
        """Serve in the calling thread until :meth:`stop` is called from another one."""
        self._server.serve_forever(POLL_SECONDS)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


class _CellClock(WSGIRequestHandler):
    """Answers dated by the served cell's clock (its ``clock_offset``), as a real cell's host dates them."""

    def date_time_string(self, timestamp=None):
        cell = self.server.app.extensions["vcd_sim"]["cell"]
        return super().date_time_string((timestamp or time.time()) + cell.config.clock_offset)


class CellServer(LoopbackServer):
    """
    One fake cell.

    .. code-block:: python

        with CellServer(Cell(CellConfig(cell_name="cell1"))) as server:
            requests.get(server.url + "/cloud/server_status")
    """

    handler = _CellClock

    def __init__(self, cell=None, port=0, tls=False):
        self.cell = cell or Cell()
        super().__init__(create_app(self.cell), port, tls)
        # A certificate of the simulator's authority (simulator.tls.Serving) the control API reissues.
        self.app.extensions["vcd_sim"]["certificate"] = tls if hasattr(tls, "reissue") else None
        self.host = None

    def attach_host(self, host):
        """The cell's host (a :class:`simulator.host.Host`), which ``/sim/host`` reads and changes."""
        self.app.extensions["vcd_sim"]["host"] = host
        self.host = host
        return host

    def replace_cell(self, cell):
        """
        Serve ``cell`` from now on, on the same URL: a fresh cell per test without a new server, on a
        host as ready as when it was laid out.
        """
        self.app.extensions["vcd_sim"]["cell"] = cell
        self.cell = cell
        if self.host is not None:
            self.host.reset()
        return cell


class ApplianceServer(LoopbackServer):
    """The management API of one fake appliance (a :class:`simulator.appliance.Appliance`)."""

    def __init__(self, appliance, port=0, tls=False):
        self.appliance = appliance
        super().__init__(create_appliance_app(appliance), port, tls)

    def replace_appliance(self, appliance):
        """Serve ``appliance`` from now on, on the same URL."""
        self.app.extensions["vcd_sim_appliance"]["appliance"] = appliance
        self.appliance = appliance
        return appliance


def quiet_request_log():
    """Werkzeug logs every request at INFO; the simulator's timeline is the record that matters."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
