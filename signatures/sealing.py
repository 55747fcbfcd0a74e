"""The bank's electronic seal on signed forms: PAdES baseline B-B with pyHanko.

The seal proves origin and integrity of the signed PDF (eIDAS art. 35-36); the customer's
identity rests on the advisor's identity check and authenticated session. The seal certifies
the document with "no changes allowed": anything appended later makes verification fail.
Key and certificate come from a PKCS#12 file named by OPTIN_SEAL_PKCS12_PATH, never from the
repository; `create_local_keys` writes a self-signed development one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

SEAL_FIELD = "SceauBanque"
# The signature's room in the PDF: enough for a P-256 or RSA-4096 CMS with its certificate,
# so pyHanko signs once instead of sizing the signature with a dry run.
BYTES_RESERVED = 16384

_cache_lock = threading.Lock()
_cache: dict[tuple[str, float], signers.SimpleSigner] = {}


@dataclass(frozen=True)
class SealCertificate:
    subject: str
    serial: str
    sha256: str  # fingerprint of the DER certificate
    not_after: str


def _load_signer() -> signers.SimpleSigner:
    path = Path(settings.OPTIN_SEAL_PKCS12)
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        raise ImproperlyConfigured(
            f"The seal's PKCS#12 file {path} is missing. Set OPTIN_SEAL_PKCS12_PATH, or run "
            "`python manage.py create_local_keys` for a development seal."
        ) from None
    with _cache_lock:
        signer = _cache.get(key)
        if signer is None:
            passphrase = settings.OPTIN_SEAL_PASSPHRASE.encode("utf-8") or None
            loaded = signers.SimpleSigner.load_pkcs12_data(
                path.read_bytes(), other_certs=[], passphrase=passphrase
            )
            if loaded is None:
                raise ImproperlyConfigured(
                    f"Cannot read the seal's PKCS#12 file {path}: wrong passphrase "
                    "(OPTIN_SEAL_PASSPHRASE) or not a PKCS#12 file."
                )
            _cache.clear()
            _cache[key] = signer = loaded
    return signer


def _certificate() -> asn1_x509.Certificate:
    cert = _load_signer().signing_cert
    if cert is None:
        raise ImproperlyConfigured("The seal's PKCS#12 file holds no certificate.")
    return cert


def seal_certificate() -> SealCertificate:
    cert = _certificate()
    return SealCertificate(
        subject=cert.subject.human_friendly,
        serial=format(cert.serial_number, "x"),
        sha256=hashlib.sha256(cert.dump()).hexdigest(),
        not_after=cert["tbs_certificate"]["validity"]["not_after"].native.isoformat(),
    )


def seal_pdf(pdf: bytes) -> bytes:
    """Certify `pdf` with the bank's seal (PAdES B-B, SHA-256, no later change allowed)."""
    metadata = signers.PdfSignatureMetadata(
        field_name=SEAL_FIELD,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        certify=True,
        docmdp_permissions=MDPPerm.NO_CHANGES,
        reason="Scellement du formulaire de consentement signé",
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    output = signers.sign_pdf(
        writer, metadata, signer=_load_signer(), bytes_reserved=BYTES_RESERVED
    )
    sealed: bytes = output.getvalue()
    return sealed


def trusted_certificates() -> list[asn1_x509.Certificate]:
    """The current seal certificate and those configured in OPTIN_SEAL_TRUSTED_CERTS."""
    roots = [_certificate()]
    for name in settings.OPTIN_SEAL_TRUSTED_CERTS:
        try:
            data = Path(name).read_bytes()
            cert = x509.load_pem_x509_certificate(data)
        except (OSError, ValueError) as exc:
            raise ImproperlyConfigured(
                f"OPTIN_SEAL_TRUSTED_CERTS: cannot read {name}: {exc}"
            ) from None
        roots.append(asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)))
    return roots


@dataclass(frozen=True)
class SealCheck:
    """The verdict on a sealed PDF (notes/signatures.md §4.6)."""

    ok: bool
    reason: str  # "" when ok; else what failed, in French
    intact: bool = False
    trusted: bool = False
    entire_file: bool = False
    signer: str = ""
    signed_at: str = ""
    sha256: str = ""


def verify_sealed_pdf(data: bytes, *, expected_sha256: str | None = None) -> SealCheck:
    """Is the seal intact, by a trusted certificate, covering the entire file, unchanged?

    Coverage matters: an incremental update appended after the seal leaves the signature
    itself valid; only "entire file" coverage and pyHanko's bottom line catch it. With
    `expected_sha256` (the hash recorded in the log), the file must also be that one.
    """
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        return SealCheck(False, "Le fichier n'est pas celui enregistré au journal.", sha256=digest)
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
    except (PdfError, ValueError, KeyError, TypeError, OSError):
        return SealCheck(False, "Le fichier n'est pas un PDF lisible.", sha256=digest)
    if len(signatures) != 1:
        return SealCheck(False, f"Un sceau attendu, {len(signatures)} trouvé(s).", sha256=digest)
    context = ValidationContext(trust_roots=trusted_certificates(), allow_fetching=False)
    # pyHanko logs the diff analysis of a modified file as an error; the verdict says it.
    logging.getLogger("pyhanko.sign.validation").setLevel(logging.CRITICAL)
    try:
        status = validate_pdf_signature(signatures[0], context)
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        return SealCheck(False, f"Le sceau est illisible ({exc}).", sha256=digest)
    entire = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    signed_at = status.signer_reported_dt.isoformat() if status.signer_reported_dt else ""
    common = {
        "intact": bool(status.intact),
        "trusted": bool(status.trusted),
        "entire_file": entire,
        "signer": status.signing_cert.subject.human_friendly,
        "signed_at": signed_at,
        "sha256": digest,
    }
    if not status.intact:
        return SealCheck(False, "Le contenu a été modifié après le scellement.", **common)
    if not status.trusted:
        return SealCheck(False, "Le certificat du sceau n'est pas reconnu.", **common)
    if not entire or not status.bottom_line:
        return SealCheck(False, "Des données ont été ajoutées après le scellement.", **common)
    return SealCheck(True, "", **common)


def write_development_seal(path: Path, *, bank_name: str, passphrase: str = "") -> bool:
    """Write a self-signed ECDSA P-256 seal to `path` unless it exists; True when written.

    For development and tests only: a production seal comes from a CA (eIDAS qualified
    certificate for electronic seals, ideally), in a PKCS#12 named by OPTIN_SEAL_PKCS12_PATH.
    """
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(development_seal_pkcs12(bank_name=bank_name, passphrase=passphrase))
    path.chmod(0o600)
    return True


def development_seal_pkcs12(*, bank_name: str, passphrase: str = "", days: int = 3650) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, bank_name),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{bank_name} - sceau de développement"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode("utf-8"))
        if passphrase
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(b"seal", key, cert, None, encryption)


def seal_certificate_pem() -> bytes:
    """The seal certificate in PEM, to verify signed forms outside the application."""
    return x509.load_der_x509_certificate(_certificate().dump()).public_bytes(
        serialization.Encoding.PEM
    )
