"""The certificate a cell serves, read from a real TLS handshake (`_utils/_vcd_cell_certificate.py`)."""

import datetime
import socket

import pytest
import requests

import _vcd_cell_certificate as certificates
from simulator.server import CellServer
from simulator.tls import Authority


@pytest.fixture(name="authority", scope="module")
def _authority():
    return Authority()


@pytest.fixture(name="serving")
def _serving(authority):
    """``serving(days)``: a fake cell on HTTPS whose certificate (of ``authority``) expires in ``days``."""
    servers = []

    def serve(days):
        server = CellServer(tls=authority.serving(days=days)).start()
        servers.append(server)
        return server.url

    yield serve
    for server in servers:
        server.stop()


def days_left(facts):
    return (facts["expires_at"] - datetime.datetime.now(datetime.timezone.utc).timestamp()) / 86400


def test_a_certificate_of_the_ca_file_given_is_trusted_and_its_expiry_read(authority, serving, tmp_path):
    url = serving(days=10)
    facts = certificates.served(url, authority.ca_file(tmp_path))
    assert (facts["scheme"], facts["verified"], facts["problem"]) == ("https", True, None)
    assert 9.9 < days_left(facts) <= 10
    assert facts["expires"] == datetime.datetime.fromtimestamp(facts["expires_at"], datetime.timezone.utc).isoformat()


def test_a_certificate_the_cell_does_not_trust_is_read_all_the_same_and_said(serving):
    facts = certificates.served(serving(days=40), True)
    assert facts["verified"] is False and 39.9 < days_left(facts) <= 40
    assert facts["problem"].startswith("not trusted by this cell's client (vcd_cell:api_verify): ")
    # api_verify: false asks no trust: none is claimed, none refused.
    facts = certificates.served(facts["url"], False)
    assert (facts["verified"], facts["problem"]) == (False, None)


def test_an_expired_certificate_is_read_past_its_refusal(authority, serving, tmp_path):
    facts = certificates.served(serving(days=-2), authority.ca_file(tmp_path))
    assert facts["verified"] is False and "certificate has expired" in facts["problem"]
    assert -2.1 < days_left(facts) < -1.9


def test_an_address_without_tls_or_without_a_server_has_no_certificate():
    assert certificates.served("http://127.0.0.1:8080")["scheme"] == "http"
    assert certificates.served(None) == {
        "url": None, "scheme": None, "expires": None, "expires_at": None, "verified": False, "problem": None
    }  # fmt: skip
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    facts = certificates.served(f"https://127.0.0.1:{closed}")
    assert facts["expires_at"] is None and facts["problem"].startswith(f"no TLS handshake with 127.0.0.1:{closed}: ")


def test_the_expiry_is_read_from_der_as_either_time_x509_allows():
    # A TBSCertificate reduced to what is read: version, serial, signature, issuer, validity.
    def element(tag, contents):
        return bytes([tag, len(contents)]) + contents

    def certificate(not_after):
        validity = element(0x30, element(0x17, b"260101000000Z") + not_after)
        signed = element(0xA0, element(0x02, b"\x02")) + element(0x02, b"\x01") + element(0x30, b"") * 2 + validity
        return element(0x30, element(0x30, signed))

    utc = datetime.timezone.utc
    assert certificates.not_after(certificate(element(0x17, b"271231235959Z"))) == datetime.datetime(
        2027, 12, 31, 23, 59, 59, tzinfo=utc
    )
    assert certificates.not_after(certificate(element(0x18, b"20610101000000Z"))) == datetime.datetime(
        2061, 1, 1, tzinfo=utc
    )


def test_the_control_api_reissues_the_certificate_a_cell_serves(authority, tmp_path):
    ca_file = authority.ca_file(tmp_path)
    with CellServer(tls=authority.serving(days=400)) as server:
        assert 399.9 < days_left(certificates.served(server.url, ca_file)) <= 400
        # Renewed late: the handshakes after the reissue present a certificate expiring in 3 days.
        answer = requests.patch(f"{server.url}/sim/certificate", json={"days": 3}, verify=ca_file, timeout=10)
        assert answer.status_code == 200, answer.text
        facts = certificates.served(server.url, ca_file)
        assert 2.9 < days_left(facts) <= 3 and facts["verified"] is True
        assert answer.json()["not_after"] == facts["expires"]
        refused = requests.patch(f"{server.url}/sim/certificate", json={"days": "soon"}, verify=ca_file, timeout=10)
        assert (refused.status_code, refused.json()) == (400, {"error": "days must be a number of days, not 'soon'"})
    with CellServer() as plain:
        missing = requests.get(f"{plain.url}/sim/certificate", timeout=10)
        assert missing.status_code == 404 and "serves no certificate of the simulator's authority" in missing.text
