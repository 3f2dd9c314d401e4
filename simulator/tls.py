"""
A throw-away certificate authority for the fake cells' HTTPS (``trustme``): the certificate a cell
serves, with the expiry a test chooses, and the CA file a client verifies it with (``vcd_cell:api_verify``).

.. code-block:: python

    authority = Authority()
    server = CellServer(cell, tls=authority.serving(days=10)).start()
    pillar = {"api_url": server.url, "api_verify": authority.ca_file(tmp_path)}
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
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
        leaf = self._ca.issue_cert(LOOPBACK, "localhost", not_after=expires)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)
        return context

    def ca_file(self, directory):
        """The CA's certificate as a PEM file in ``directory``; its path."""
        path = pathlib.Path(directory) / "vcd-sim-ca.pem"
        self._ca.cert_pem.write_to_path(str(path))
        return str(path)
