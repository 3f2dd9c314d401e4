"""
A throw-away certificate authority for the fake cells' HTTPS (``trustme``): the certificate a cell
serves, with the expiry a test chooses, and the CA file a client verifies it with (``vcd_cell:api_verify``).

.. code-block:: python

    authority = Authority()
    server = CellServer(cell, tls=authority.serving(days=10)).start()
    pillar = {"api_url": server.url, "api_verify": authority.ca_file(tmp_path)}
    requests.patch(server.url + "/sim/certificate", json={"days": 3})  # renewed late, to expire soon
"""

import datetime
import pathlib
import ssl

import trustme

from simulator.server import LOOPBACK


class Authority:
    """One CA; each certificate it issues names the loopback address the fake cells listen on."""

    def __init__(self):
        self._ca = trustme.CA()

    def serving(self, days=365):
        """A server's TLS context presenting a certificate of this CA that expires in ``days`` days."""
        return Serving(self._ca, days)

    def ca_file(self, directory):
        """The CA's certificate as a PEM file in ``directory``; its path."""
        path = pathlib.Path(directory) / "vcd-sim-ca.pem"
        self._ca.cert_pem.write_to_path(str(path))
        return str(path)


class Serving(ssl.SSLContext):
    """
    A server's TLS context presenting a certificate of ``ca`` (a ``trustme.CA``) that expires in ``days``
    days, reissued with another expiry while it serves (:meth:`reissue`): the handshakes after see it.
    """

    def __new__(cls, ca, days):
        return super().__new__(cls, ssl.PROTOCOL_TLS_SERVER)

    def __init__(self, ca, days):
        # ssl.SSLContext is made whole by __new__: it has no __init__ of its own to call.
        self._ca = ca
        self.not_after = None
        self.reissue(days)

    def reissue(self, days):
        """Present a new certificate, expiring in ``days`` days (negative: expired); its expiry."""
        if isinstance(days, bool) or not isinstance(days, (int, float)):
            raise ValueError(f"days must be a number of days, not {days!r}")
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
        self._ca.issue_cert(LOOPBACK, "localhost", not_after=expires).configure_cert(self)
        self.not_after = expires.replace(microsecond=0)
        return self.not_after
