"""
The HTTPS certificate a cell serves at its API address (``vcd_cell:api_url``), read from the TLS
handshake touching nothing: when it expires, whom it names, and whether this cell's own client
(``vcd_cell:api_verify``: the system's CAs, a CA file, or none) trusts it. A certificate that expires
during or right after a window turns an upgrade into an outage; VMware's guides ask for it days before.
"""

import datetime
import socket
import ssl
import urllib.parse

# Seconds a handshake may take: the cell answers its API within this, or it is not read.
HANDSHAKE_TIMEOUT = 10
# DER tags of X.509's times (RFC 5280 4.1.2.5), and of the explicit version before the serial number.
UTC_TIME, GENERALIZED_TIME, EXPLICIT_VERSION = 0x17, 0x18, 0xA0
TIME_FORMATS = {UTC_TIME: "%y%m%d%H%M%SZ", GENERALIZED_TIME: "%Y%m%d%H%M%SZ"}


def _context(verify):
    """The TLS context ``verify`` says (True: the system's CAs; a path: that CA file; False: none)."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)


def _handshake(host, port, verify):
    """The certificate the server at ``host:port`` presents (DER) through a context ``verify`` says."""
    context = _context(verify)
    with (
        socket.create_connection((host, port), timeout=HANDSHAKE_TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return tls.getpeercert(binary_form=True)


def _element(der, at):
    """The DER element at ``at``: ``(its tag, its contents, where the next one begins)``."""
    tag, length, at = der[at], der[at + 1], at + 2
    if length & 0x80:
        count = length & 0x7F
        length, at = int.from_bytes(der[at : at + count], "big"), at + count
    return tag, der[at : at + length], at + length


def _elements(der):
    found, at = [], 0
    while at < len(der):
        tag, contents, at = _element(der, at)
        found.append((tag, contents))
    return found


def not_after(der):
    """
    When the certificate ``der`` (DER, as the handshake gave it) expires, a UTC datetime: its
    TBSCertificate's validity, read with the standard library alone (a salt-ssh target has no
    ``cryptography`` to import).
    """
    _, certificate, _ = _element(der, 0)
    _, signed, _ = _element(certificate, 0)
    fields = _elements(signed)
    if fields[0][0] == EXPLICIT_VERSION:
        fields = fields[1:]
    # serialNumber, signature, issuer, validity (notBefore, notAfter)
    tag, ends = _elements(fields[3][1])[1]
    stamp = datetime.datetime.strptime(ends.decode("ascii"), TIME_FORMATS[tag])
    return stamp.replace(tzinfo=datetime.timezone.utc)


def served(url, verify=True):
    """
    The certificate served at ``url``: ``{"url", "scheme", "expires" (ISO 8601, UTC), "expires_at"
    (epoch seconds), "verified" (this cell's client trusts it), "problem"
    (why it could not be read, or why it is not trusted; None)}``. An ``http://`` address (or none) has
    no certificate: only its ``scheme`` is said.
    """
    facts = {"url": url, "scheme": None, "expires": None, "expires_at": None}
    facts.update(verified=False, problem=None)
    if not url:
        return facts
    parts = urllib.parse.urlsplit(url)
    facts["scheme"] = parts.scheme
    if parts.scheme != "https":
        return facts
    host, port = parts.hostname, parts.port or 443
    try:
        der = _handshake(host, port, verify)
        facts["verified"] = verify is not False
    except ssl.SSLCertVerificationError as exc:
        facts["problem"] = f"not trusted by this cell's client (vcd_cell:api_verify): {exc.verify_message}"
        try:
            der = _handshake(host, port, False)
        except (OSError, ssl.SSLError) as again:
            facts["problem"] += f"; then unreadable: {again}"
            return facts
    except (OSError, ssl.SSLError) as exc:
        facts["problem"] = f"no TLS handshake with {host}:{port}: {exc}"
        return facts
    try:
        expires = not_after(der)
    except (IndexError, KeyError, ValueError) as exc:
        facts["problem"] = f"its certificate could not be read ({exc})"
        return facts
    facts.update(expires=expires.isoformat(), expires_at=expires.timestamp())
    return facts
