"""C2PA: a manifest signed in the test (offline, a throw-away CA) validates; a changed byte fails; none is 'absent'."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from imint import checks
from imint.workspace import Workspace
from tests.test_checks_helpers import astronaut, jpeg_bytes, open_workspace


@pytest.fixture()
def ws(tmp_path: Path) -> Iterator[Workspace]:
    yield from open_workspace(tmp_path)


import c2pa  # noqa: E402 - a dependency: its absence must fail, not skip


def _test_signer():  # noqa: ANN202 - c2pa.Signer
    """A P-256 signing certificate issued by a test CA made here; nothing is fetched."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "imint test"),
            ]
        )

    now = dt.datetime.now(dt.UTC)
    usage = dict(
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("imint test CA"))
        .issuer_name(name("imint test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **usage), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("imint test signer"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usage), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    pkey = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, pkey, None))


def _signed(tmp_path: Path) -> Path:
    src, out = tmp_path / "plain.jpg", tmp_path / "signed.jpg"
    src.write_bytes(jpeg_bytes(astronaut()[:200, :200], 90))
    manifest = {
        "claim_generator_info": [{"name": "imint-test", "version": "1"}],
        "title": "signed.jpg",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                        }
                    ]
                },
            }
        ],
    }
    c2pa.Builder(manifest).sign_file(src, out, _test_signer())
    return out


def test_signed_manifest_validates_and_a_changed_byte_fails(ws, tmp_path: Path) -> None:
    signed = _signed(tmp_path)
    ok = checks.run_checks(ws, ws.ingest(signed), ["c2pa"])["c2pa"]
    assert ok.status == "ok", ok.summary
    assert ok.details["validation_state"] in ("Valid", "Trusted")
    assert ok.details["actions"][0]["action"] == "c2pa.created"
    assert "not on any trust list" in ok.summary  # offline: the test CA is on no trust list

    data = bytearray(signed.read_bytes())
    data[-100] ^= 0xFF  # one byte of the picture data, after the manifest
    tampered = tmp_path / "tampered.jpg"
    tampered.write_bytes(bytes(data))
    bad = checks.run_checks(ws, ws.ingest(tampered), ["c2pa"])["c2pa"]
    assert bad.status == "flagged"
    assert bad.details["validation_state"] == "Invalid"
    assert any("dataHash.mismatch" in code for code in bad.details["failures"])


def test_no_manifest_is_absent_and_proves_nothing(ws, tmp_path: Path) -> None:
    f = tmp_path / "plain.jpg"
    f.write_bytes(jpeg_bytes(astronaut()[:64, :64], 90))
    r = checks.run_checks(ws, ws.ingest(f), ["c2pa"])["c2pa"]
    assert r.status == "absent" and "proves nothing" in r.summary
