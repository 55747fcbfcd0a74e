"""A customer's proof bundle (R54): everything that proves their consents, in one ZIP that can
be checked outside the application, its production logged.

The ZIP holds `attestation.pdf` (rendered with the forms' offline WeasyPrint set-up and sealed
by the bank), `entries.json` (each entry's hashed columns and payload exactly as hashed, the
decrypted personal values apart, the wordings, forms, checkpoint and verification result), the
wording texts byte for byte, the forms' generated and sealed PDFs, the checkpoint's public key,
signed statement and signature, the seal certificate and `LISEZMOI.txt`.

Verification is the customer's, not the whole log's, and costs the same number of queries
whatever the size of the log or the number of entries: each entry's hash recomputed; its links
with the entries around it in the whole log (read in the same statement); the first signed
checkpoint at or after the customer's last entry (its signature, and the entry at its sequence
still carrying the signed hash); the consent entries replayed against the current states; the
wording texts and the forms' files against the hashes the log recorded. The latest full
verification of the log (`verify_audit`) is reported beside it: it alone covers the chain
between the customer's entries.

An erased customer's bundle (R64: their key destroyed or their record erased) holds no
personal value: no identity, no decrypted value, no form PDF (their hashes stay).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, User
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models, transaction
from django.db.models import OuterRef, Subquery
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, override

from clients.models import (
    PARIS,
    Client,
    ClientKind,
    ClientStatus,
    LegalCapacity,
    ProtectionMeasure,
)
from clients.roles import actor_for
from optin import audit, checkpoints, crypto
from optin.compliance.selectors import hash_holds, staff_by_actor
from optin.models import (
    ActorType,
    AuditEntry,
    Channel,
    ConsentState,
    ConsentStatus,
    Journey,
    RequestMeans,
    VerificationRun,
    VerificationScope,
    Wording,
    text_sha256,
)
from optin.selectors import action_label
from optin.templatetags.optin import paris_time, phone
from signatures import files, pdf, sealing
from signatures.models import ConsentForm, FormStatus, IdentityDocument, SigningMethod

FORMAT = "optin-proof-bundle/1"
ACTION = "proof_bundle.produced"
HEADER_FIELDS = audit.ROW_FIELDS[:10]  # the columns the hash covers, in header_json's order

# Members of the ZIP.
ATTESTATION = "attestation.pdf"
ENTRIES = "entries.json"
README = "LISEZMOI.txt"
PUBLIC_KEY = "checkpoint-public-key.pem"
STATEMENT = "checkpoint-statement.json"
SIGNATURE = "checkpoint-signature.bin"
SEAL_CERTIFICATE = "certificat-sceau.pem"


# --- verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Something found wrong, at an entry of the log when it names one."""

    seq: int | None
    message: str

    def __str__(self) -> str:
        if self.seq is None:
            return self.message
        return _("entrée n° %(seq)s : %(message)s") % {"seq": self.seq, "message": self.message}

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "message": self.message, "text": str(self)}


@dataclass(frozen=True)
class Check:
    """One verification of the bundle: `ok` True (holds), False (fails) or None (nothing to
    check yet, such as a last entry no checkpoint covers yet)."""

    code: str
    label: str
    ok: bool | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "label": self.label, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class CoveringCheckpoint:
    """The first signed checkpoint at or after the customer's last entry."""

    checkpoint: checkpoints.Checkpoint
    sources: tuple[str, ...]  # "database" and/or the exported file's name
    signature_valid: bool
    log_hash: str | None  # the hash of the log's entry at its sequence; None: no such entry

    @property
    def holds(self) -> bool:
        return self.signature_valid and self.log_hash == self.checkpoint.hash

    @property
    def signed_at(self) -> dt.datetime | None:
        try:
            return dt.datetime.fromisoformat(self.checkpoint.signed_at)
        except ValueError:
            return None


@dataclass
class Verification:
    entries: int = 0
    checks: list[Check] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    checkpoint: CoveringCheckpoint | None = None
    full_run: VerificationRun | None = None
    last_seq: int = 0  # the customer's last entry

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> Problem | None:
        """The problem at the lowest sequence number (those naming no entry last)."""
        if not self.problems:
            return None
        return min(self.problems, key=_problem_order)

    def as_dict(self) -> dict[str, Any]:
        bad = self.first_bad
        run = self.full_run
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_bad": bad.as_dict() if bad else None,
            "problems": [p.as_dict() for p in sorted(self.problems, key=_problem_order)],
            "checks": [c.as_dict() for c in self.checks],
            "latest_full_verification": None
            if run is None
            else {
                "started_at": audit.iso_or_none(run.started_at),
                "finished_at": audit.iso_or_none(run.finished_at),
                "ok": run.ok,
                "entries": run.entries,
                "last_seq": run.last_seq,
                "checkpoints": run.checkpoints,
                "states": run.states,
                "first_bad_seq": run.first_bad_seq,
                "problem": run.problem,
                "run_by": run.run_by,
                "covers_last_entry": run.last_seq >= self.last_seq,
            },
        }


def _problem_order(problem: Problem) -> tuple[bool, int]:
    return (problem.seq is None, problem.seq or 0)


# --- what the bundle is made of ------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """A labelled value of the attestation."""

    label: str
    value: str


@dataclass
class BundleEntry:
    """One of the customer's log entries, with what the bundle found about it."""

    entry: AuditEntry
    before_hash: str | None  # the stored hash of the entry before it in the whole log
    after_prev_hash: str | None  # the stored previous hash of the entry after it
    personal: dict[str, Any] | None = None
    hash_ok: bool = True
    sealed: bool = False  # the payload carries sealed personal values
    unreadable: bool = False  # sealed personal values that do not decrypt (altered)
    problems: list[Problem] = field(default_factory=list)  # its content
    link_problems: list[Problem] = field(default_factory=list)  # its place in the chain
    data: dict[str, Any] = field(default_factory=dict)  # the payload, sealed values aside
    actor_text: str = ""
    wordings: list[tuple[str, str]] = field(default_factory=list)  # (version, sha recorded)

    @property
    def seq(self) -> int:
        return self.entry.seq

    @property
    def header(self) -> dict[str, Any]:
        """The hashed columns, valued as the header JSON writes them (times as ISO UTC)."""
        values = {name: getattr(self.entry, name) for name in HEADER_FIELDS}
        for name in ("recorded_at", "occurred_at"):
            values[name] = audit.iso_or_none(values[name])
        return values

    @property
    def label(self) -> str:
        return action_label(self.entry.action)

    @property
    def state(self) -> dict[str, Any] | None:
        state = self.data.get(audit.STATE_KEY)
        return state if isinstance(state, dict) else None


@dataclass
class BundleForm:
    form: ConsentForm
    original: bytes | None = None
    signed: bytes | None = None
    original_name: str = ""
    signed_name: str = ""
    seal: sealing.SealCheck | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def created_text(self) -> str:
        return paris_text(self.form.created_at)

    @property
    def signed_text(self) -> str:
        return paris_text(self.form.signed_at)


@dataclass
class BundleData:
    client: Client
    erased: bool
    produced_at: dt.datetime
    produced_by: User | None
    entries: list[BundleEntry]
    states: list[tuple[str, ConsentState | None]]
    wordings: dict[str, Wording]
    forms: list[BundleForm]
    verification: Verification
    public_key_pem: bytes | None

    @property
    def last_seq(self) -> int | None:
        return self.entries[-1].seq if self.entries else None


# --- reading ---------------------------------------------------------------------------------


def _customer_entries(client_id: int) -> list[AuditEntry]:
    """The customer's entries in log order, each with the stored hash of the entry before it
    and the previous hash of the entry after it in the whole log: one statement, two unique
    index look-ups per entry."""
    before = AuditEntry.objects.filter(seq=OuterRef("seq") - 1).values("hash")[:1]
    after = AuditEntry.objects.filter(seq=OuterRef("seq") + 1).values("prev_hash")[:1]
    return list(
        AuditEntry.objects.filter(client_id=client_id)
        .annotate(before_hash=Subquery(before), after_prev_hash=Subquery(after))
        .order_by("seq")
    )


def _load_public_key() -> tuple[Any, str]:
    try:
        return checkpoints.load_public_key(), ""
    except (ImproperlyConfigured, OSError, ValueError) as exc:
        return None, str(exc)


def _recorded_wordings(entry: AuditEntry, data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The wording versions an entry references with the SHA-256 it recorded for them: the
    decision's own (column and `wording_sha256`), and a form's per channel."""
    found: list[tuple[str, str]] = []
    if entry.wording_version:
        found.append((entry.wording_version, str(data.get("wording_sha256", ""))))
    channels = data.get("channels")
    if isinstance(channels, Mapping):
        for line in channels.values():
            if isinstance(line, Mapping) and line.get("wording_version"):
                found.append((str(line["wording_version"]), str(line.get("wording_sha256", ""))))
    return found


def _actor_text(entry: AuditEntry, data: Mapping[str, Any], staff: Mapping[str, User]) -> str:
    kind = ActorType(entry.actor_type).label if entry.actor_type in ActorType.values else ""
    user = staff.get(entry.actor_id)
    branch = data.get("actor_branch", "")
    if user is not None:
        name = user.get_full_name() or user.get_username()
        where = _(", agence %(b)s") % {"b": branch} if branch else ""
        return f"{name} ({kind}{where}, {entry.actor_id})"
    return f"{entry.actor_id} ({kind})" if kind else entry.actor_id


def gather(client: Client, *, produced_by: User | None = None) -> BundleData:
    """Read and verify everything the bundle holds. On PostgreSQL, in one REPEATABLE READ,
    READ ONLY snapshot (unless the caller is in a transaction already), so that a decision
    committed meanwhile cannot make the log and the states look different."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return _gather(client, produced_by)
    return _gather(client, produced_by)


def _gather(client: Client, produced_by: User | None) -> BundleData:
    produced_at = timezone.now()
    keyring = crypto.ClientKeyring.load(client.pk)
    erased = client.erased_at is not None or keyring.destroyed
    rows = _customer_entries(client.pk)
    staff = staff_by_actor(rows)
    head = AuditEntry.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    verification = Verification(entries=len(rows), last_seq=rows[-1].seq if rows else 0)

    # 1. Each entry's content against its hash; 2. its links with its neighbours.
    entries: list[BundleEntry] = []
    for row in rows:
        item = BundleEntry(
            entry=row,
            before_hash=getattr(row, "before_hash", None),
            after_prev_hash=getattr(row, "after_prev_hash", None),
        )
        payload = _decoded(row.payload)
        sealed = payload.pop("personal", None)
        item.data = payload
        item.sealed = isinstance(sealed, str)
        item.actor_text = _actor_text(row, payload, staff)
        item.wordings = _recorded_wordings(row, payload)
        item.hash_ok = hash_holds(row)
        if not item.hash_ok:
            item.problems.append(
                Problem(row.seq, _("son contenu ne correspond plus à son empreinte (modifiée)"))
            )
        if isinstance(sealed, str) and not erased:
            try:
                item.personal = keyring.unseal(sealed)
            except ValueError:
                item.unreadable = True
                item.problems.append(
                    Problem(row.seq, _("ses données personnelles chiffrées sont illisibles"))
                )
        item.link_problems = _link_problems(item, head)
        entries.append(item)
    checks = verification.checks
    checks.append(_check_hashes(verification, entries))
    checks.append(_check_links(verification, entries))

    # 3. The checkpoint covering the last entry.
    public_key, key_error = _load_public_key()
    public_key_pem = (
        public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if public_key is not None
        else None
    )
    checks.append(_check_checkpoint(verification, entries, public_key, key_error))

    # 4. The consent entries replayed against the current states.
    states = {s.channel: s for s in ConsentState.objects.filter(client=client)}
    checks.append(_check_states(verification, client.pk, entries, states))

    # 5. The wording texts against the SHA-256 each entry recorded.
    versions = {version for e in entries for version, _sha in e.wordings}
    wordings = {w.version: w for w in Wording.objects.filter(version__in=versions)}
    checks.append(_check_wordings(verification, entries, wordings))

    # 6. The forms' files against the hashes the log recorded, and their seals.
    forms = [
        BundleForm(form)
        for form in ConsentForm.objects.filter(client=client)
        .select_related("advisor", "branch")
        .order_by("created_at", "pk")
    ]
    checks.append(_check_forms(verification, entries, forms, erased))

    # 7. The latest full verification of the log, reported beside.
    verification.full_run = (
        VerificationRun.objects.filter(scope=VerificationScope.FULL).order_by("-started_at").first()
    )
    checks.append(_check_full_run(verification))
    # Two entries of the customer in a row share a link: it is reported once.
    verification.problems = sorted(dict.fromkeys(verification.problems), key=_problem_order)

    return BundleData(
        client=client,
        erased=erased,
        produced_at=produced_at,
        produced_by=produced_by,
        entries=entries,
        states=[(channel, states.get(channel)) for channel in Channel.values],
        wordings=wordings,
        forms=forms,
        verification=verification,
        public_key_pem=public_key_pem,
    )


def _decoded(payload: str) -> dict[str, Any]:
    """A payload's object; an altered one may not even be JSON (its hash says so)."""
    try:
        decoded = json.loads(payload)
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _link_problems(item: BundleEntry, head: int) -> list[Problem]:
    """The entry's links in the whole log: the stored hash of the entry before it is its
    previous hash, and the entry after it (unless it is the head) names it as previous."""
    seq, entry = item.seq, item.entry
    found: list[Problem] = []
    if seq == 1:
        if entry.prev_hash != audit.GENESIS_HASH:
            found.append(
                Problem(seq, _("première du journal, son empreinte précédente n'est pas 0…0"))
            )
    elif item.before_hash is None:
        found.append(
            Problem(
                seq - 1,
                _("absente du journal (supprimée) : l'entrée n° %(seq)s la suit") % {"seq": seq},
            )
        )
    elif item.before_hash != entry.prev_hash:
        found.append(
            Problem(
                seq,
                _("son empreinte précédente ne correspond plus à celle de l'entrée n° %(seq)s")
                % {"seq": seq - 1},
            )
        )
    if item.after_prev_hash is None:
        if seq < head:
            found.append(
                Problem(
                    seq + 1,
                    _("absente du journal (supprimée) : elle suit l'entrée n° %(seq)s")
                    % {"seq": seq},
                )
            )
    elif item.after_prev_hash != entry.hash:
        found.append(
            Problem(
                seq + 1,
                _("son empreinte précédente ne correspond plus à celle de l'entrée n° %(seq)s")
                % {"seq": seq},
            )
        )
    return found


def _first(problems: list[Problem]) -> Problem:
    return min(problems, key=_problem_order)


def _check_hashes(verification: Verification, entries: list[BundleEntry]) -> Check:
    found = [p for e in entries for p in e.problems]
    verification.problems.extend(found)
    label = _("Empreinte de chaque entrée recalculée")
    if not entries:
        return Check("hashes", label, None, _("aucune entrée"))
    if not found:
        return Check(
            "hashes",
            label,
            True,
            _("%(n)s entrée(s) : contenu conforme à l'empreinte") % {"n": len(entries)},
        )
    return Check("hashes", label, False, str(_first(found)))


def _check_links(verification: Verification, entries: list[BundleEntry]) -> Check:
    found = list(dict.fromkeys(p for e in entries for p in e.link_problems))
    verification.problems.extend(found)
    label = _("Liens avec les entrées voisines dans le journal entier")
    if not entries:
        return Check("links", label, None, _("aucune entrée"))
    if not found:
        return Check(
            "links",
            label,
            True,
            _(
                "chaque entrée désigne l'empreinte de celle qui la précède, et celle qui la "
                "suit désigne la sienne"
            ),
        )
    return Check("links", label, False, str(_first(found)))


def _check_checkpoint(
    verification: Verification, entries: list[BundleEntry], public_key: Any, key_error: str
) -> Check:
    """The first signed checkpoint at or after the last entry: its signature, and the log's
    entry at its sequence still carrying the hash it signed."""
    label = _("Point de contrôle signé couvrant la dernière entrée")
    if not entries:
        return Check("checkpoint", label, None, _("aucune entrée à couvrir"))
    last = entries[-1].seq
    found = checkpoints.covering(last)
    if not found:
        return Check(
            "checkpoint",
            label,
            None,
            _(
                "aucun point de contrôle signé ne couvre encore l'entrée n° %(seq)s : le "
                "prochain point de contrôle le fera"
            )
            % {"seq": last},
        )
    cp_seq = found[0].seq
    own = {e.seq: e.entry.hash for e in entries}
    log_hash = (
        own[cp_seq]
        if cp_seq in own
        else AuditEntry.objects.filter(seq=cp_seq).values_list("hash", flat=True).first()
    )
    groups: dict[tuple[str, str], list[checkpoints.Checkpoint]] = {}
    for cp in found:
        groups.setdefault((cp.hash, cp.signature), []).append(cp)
    covering = [
        CoveringCheckpoint(
            group[0],
            tuple(cp.source for cp in group),
            public_key is not None and checkpoints.signature_valid(group[0], public_key),
            log_hash,
        )
        for group in groups.values()
    ]
    covering.sort(key=lambda c: not c.holds)
    verification.checkpoint = covering[0]
    found_problems: list[Problem] = []
    for c in covering:
        sources = ", ".join(c.sources)
        if public_key is None:
            found_problems.append(
                Problem(None, _("point de contrôle invérifiable : %(e)s") % {"e": key_error})
            )
        elif not c.signature_valid:
            found_problems.append(
                Problem(
                    None,
                    _("le point de contrôle n° %(seq)s (%(src)s) : sa signature n'est pas valide")
                    % {"seq": c.checkpoint.seq, "src": sources},
                )
            )
        elif c.log_hash is None:
            found_problems.append(
                Problem(
                    cp_seq,
                    _(
                        "absente du journal alors qu'un point de contrôle signé (%(src)s) la "
                        "couvre (entrées supprimées)"
                    )
                    % {"src": sources},
                )
            )
        elif c.log_hash != c.checkpoint.hash:
            found_problems.append(
                Problem(
                    cp_seq,
                    _("son empreinte diffère de celle du point de contrôle signé (%(src)s)")
                    % {"src": sources},
                )
            )
    verification.problems.extend(found_problems)
    if found_problems:
        return Check("checkpoint", label, False, str(_first(found_problems)))
    detail = _(
        "point de contrôle n° %(cp)s signé le %(at)s : signature valide, et l'entrée n° %(cp)s "
        "du journal porte l'empreinte signée"
    ) % {"cp": cp_seq, "at": paris_text(covering[0].signed_at)}
    if cp_seq > last:
        detail += _(
            " ; il couvre l'entrée n° %(last)s du client par la chaîne des entrées qui les "
            "séparent (vérifiée par la vérification complète du journal)"
        ) % {"last": last}
    return Check("checkpoint", label, True, detail)


def _status_label(status: str | None) -> str:
    if status in ConsentStatus.values:
        return str(ConsentStatus(status).label)
    return str(status)


def _check_states(
    verification: Verification,
    client_id: int,
    entries: list[BundleEntry],
    states: Mapping[str, ConsentState],
) -> Check:
    """R11: replay the customer's consent entries, as full verification does, and compare
    the projection with the current states."""
    label = _("États actuels rejoués depuis le journal")
    replayer = audit.ChainVerifier()
    broken: set[str] = set()
    found: list[Problem] = []
    replayed = 0
    for item in entries:
        row = item.entry
        if not (row.channel and row.action.startswith("consent.")) or row.channel in broken:
            continue
        before = replayer.states.get((client_id, row.channel))
        try:
            problem = replayer.replay_consent(row.seq, client_id, row.channel, row.payload)
        except (ValueError, KeyError, TypeError):  # an altered payload: its hash says so
            broken.add(row.channel)
            continue
        if problem is not None:
            broken.add(row.channel)  # past a broken step, the rest of the channel is unknown
            found.append(
                Problem(
                    row.seq,
                    _(
                        "elle déclare un passage depuis « %(declared)s » alors que le canal "
                        "%(channel)s était « %(was)s »"
                    )
                    % {
                        "declared": _status_label((item.state or {}).get("from")),
                        "channel": _channel_label(row.channel),
                        "was": _status_label(before.status if before else "none"),
                    },
                )
            )
        else:
            replayed += 1
    for channel in Channel.values:
        if channel in broken:
            continue
        projection = replayer.states.get((client_id, channel))
        state = states.get(channel)
        expected = audit.state_row(projection)
        actual = (
            audit.state_row(None)
            if state is None
            else (
                state.status,
                state.prior_status,
                audit.iso_or_none(state.since),
                state.journey,
                state.wording_version,
                state.last_seq,
            )
        )
        if actual != expected:
            found.append(
                Problem(
                    projection.last_seq if projection else None,
                    _(
                        "l'état actuel du canal %(channel)s (« %(actual)s », entrée n° "
                        "%(a_seq)s) diffère de celui que déclare le journal (« %(expected)s », "
                        "entrée n° %(e_seq)s)"
                    )
                    % {
                        "channel": _channel_label(channel),
                        "actual": _status_label(actual[0]),
                        "a_seq": actual[5] or "—",
                        "expected": _status_label(expected[0]),
                        "e_seq": expected[5] or "—",
                    },
                )
            )
    verification.problems.extend(found)
    if found:
        return Check("states", label, False, str(_first(found)))
    return Check(
        "states",
        label,
        True,
        _("%(n)s changement(s) d'état rejoué(s) ; les états actuels sont ceux du journal")
        % {"n": replayed},
    )


def _check_wordings(
    verification: Verification, entries: list[BundleEntry], wordings: Mapping[str, Wording]
) -> Check:
    """R57-R59: each wording text still gives the SHA-256 the entries recorded."""
    label = _("Textes des formulations")
    found: list[Problem] = []
    first_use: dict[str, int] = {}
    for item in entries:
        for version, recorded in item.wordings:
            first_use.setdefault(version, item.seq)
            wording = wordings.get(version)
            if wording is None:
                found.append(
                    Problem(
                        item.seq,
                        _("la formulation %(v)s qu'elle cite est absente") % {"v": version},
                    )
                )
            elif recorded and recorded != text_sha256(wording.text):
                found.append(
                    Problem(
                        item.seq,
                        _(
                            "le texte actuel de la formulation %(v)s ne correspond plus à "
                            "l'empreinte qu'elle a enregistrée"
                        )
                        % {"v": version},
                    )
                )
    for version, wording in wordings.items():
        if wording.sha256 != text_sha256(wording.text):
            found.append(
                Problem(
                    first_use.get(version),
                    _("la formulation %(v)s ne correspond plus à son empreinte") % {"v": version},
                )
            )
    found = list(dict.fromkeys(found))
    verification.problems.extend(found)
    if not first_use:
        return Check("wordings", label, None, _("aucune entrée ne cite de formulation"))
    if found:
        return Check("wordings", label, False, str(_first(found)))
    return Check(
        "wordings",
        label,
        True,
        _("%(n)s formulation(s) : texte conforme à l'empreinte enregistrée au journal")
        % {"n": len(wordings)},
    )


def _check_forms(
    verification: Verification, entries: list[BundleEntry], forms: list[BundleForm], erased: bool
) -> Check:
    """R52: each form's files are those whose SHA-256 the log recorded, and the signed one
    carries an intact seal of the bank covering the whole file. Read (and joined) only while
    the customer's data are kept."""
    label = _("Formulaires : fichiers et sceaux")
    logged: dict[str, dict[str, Any]] = {}
    for item in entries:
        reference = item.data.get("reference")
        if item.entry.action in ("form.generated", "form.signed") and isinstance(reference, str):
            facts = logged.setdefault(reference, {})
            facts[item.entry.action] = item.seq
            for key in ("pdf_sha256", "signed_pdf_sha256"):
                if key in item.data:
                    facts[key] = item.data[key]
    found: list[Problem] = []
    for bundled in forms:
        form = bundled.form
        facts = logged.get(form.reference, {})
        seq = form.signed_seq or facts.get("form.generated")
        for key, stored in (
            ("pdf_sha256", form.pdf_sha256),
            ("signed_pdf_sha256", form.signed_pdf_sha256),
        ):
            if stored and key in facts and facts[key] != stored:
                found.append(
                    Problem(
                        seq,
                        _("formulaire %(ref)s : l'empreinte de son fichier diffère du journal")
                        % {"ref": form.reference},
                    )
                )
        if erased:
            bundled.notes.append(_("fichiers non joints : données effacées (R64)"))
            continue
        found.extend(_bundle_files(bundled, seq))
    verification.problems.extend(found)
    if not forms:
        return Check("forms", label, None, _("aucun formulaire"))
    if found:
        return Check("forms", label, False, str(_first(found)))
    sealed = sum(1 for f in forms if f.seal is not None)
    detail = _("%(n)s formulaire(s), %(s)s sceau(x) valide(s)") % {"n": len(forms), "s": sealed}
    if erased:
        detail = _("%(n)s formulaire(s) ; fichiers non joints : données effacées") % {
            "n": len(forms)
        }
    return Check("forms", label, True, detail)


def _bundle_files(bundled: BundleForm, seq: int | None) -> list[Problem]:
    form = bundled.form
    found: list[Problem] = []
    if form.files_deleted_at is not None:
        # R63, R64: deleted by the retention purge or an erasure; the hashes stay.
        bundled.notes.append(
            _("fichiers supprimés le %(at)s (fin de conservation), empreintes au journal")
            % {"at": paris_text(form.files_deleted_at)}
        )
        return found
    signed = form.status == FormStatus.SIGNED
    if form.pdf:
        try:
            data = files.read(form.pdf)
        except OSError:
            data = None
            # R63: an unsigned form's PDF may be deleted after 90 days (its hash stays).
            bundled.notes.append(_("PDF généré supprimé, son empreinte reste au journal"))
            if signed:
                found.append(
                    Problem(
                        seq, _("formulaire %(ref)s : PDF généré absent") % {"ref": form.reference}
                    )
                )
        if data is not None:
            if files.sha256(data) != form.pdf_sha256:
                found.append(
                    Problem(
                        seq,
                        _("formulaire %(ref)s : le PDF généré n'est pas celui enregistré")
                        % {"ref": form.reference},
                    )
                )
            bundled.original = data
            bundled.original_name = f"formulaires/{form.reference}-genere.pdf"
    if signed and form.signed_pdf:
        try:
            sealed = files.read(form.signed_pdf)
        except OSError:
            found.append(
                Problem(seq, _("formulaire %(ref)s : PDF scellé absent") % {"ref": form.reference})
            )
            return found
        bundled.seal = sealing.verify_sealed_pdf(sealed, expected_sha256=form.signed_pdf_sha256)
        if not bundled.seal.ok:
            found.append(
                Problem(
                    seq,
                    _("formulaire %(ref)s : %(reason)s")
                    % {"ref": form.reference, "reason": bundled.seal.reason},
                )
            )
        bundled.signed = sealed
        bundled.signed_name = f"formulaires/{form.reference}-signe.pdf"
    return found


def _check_full_run(verification: Verification) -> Check:
    label = _("Dernière vérification complète du journal")
    run = verification.full_run
    if run is None:
        return Check(
            "full_run", label, None, _("le journal n'a encore jamais été vérifié en entier")
        )
    when = paris_text(run.finished_at)
    if run.ok:
        detail = _("le %(at)s : %(n)s entrées vérifiées jusqu'à la n° %(last)s, sans anomalie") % {
            "at": when,
            "n": run.entries,
            "last": run.last_seq,
        }
    else:
        detail = _("le %(at)s : anomalie, entrée n° %(seq)s : %(problem)s") % {
            "at": when,
            "seq": run.first_bad_seq if run.first_bad_seq is not None else "—",
            "problem": run.problem,
        }
    if run.last_seq < verification.last_seq:
        detail += _(" ; les entrées du client après la n° %(last)s n'y étaient pas encore") % {
            "last": run.last_seq
        }
    return Check("full_run", label, run.ok, detail)


# --- presentation ------------------------------------------------------------------------------


def paris_text(moment: dt.datetime | None) -> str:
    """R56: "03/02/2027 14:05:07 (UTC+01:00)", to the second; "—" for none."""
    return paris_time(moment, seconds=True) or "—"


def _channel_label(channel: str) -> str:
    return str(Channel(channel).label) if channel in Channel.values else channel


def _journey_label(journey: str) -> str:
    return str(Journey(journey).label) if journey in Journey.values else journey


# The payload's keys as the attestation names them; unknown keys are shown as they are.
FACT_LABELS: dict[str, Any] = {
    "decision": gettext_lazy("décision"),
    "evidence.means": gettext_lazy("demande reçue"),
    "request_means": gettext_lazy("demande reçue"),
    "token_channel": gettext_lazy("canal du lien"),
    "idempotency_key": gettext_lazy("clé d'idempotence"),
    "effects": gettext_lazy("effets"),
    "form_id": gettext_lazy("identifiant du formulaire"),
    "reference": gettext_lazy("référence du formulaire"),
    "method": gettext_lazy("mode de signature"),
    "identity_document": gettext_lazy("pièce d'identité vérifiée"),
    "second_factor": gettext_lazy("second facteur du conseiller vérifié"),
    "pdf_sha256": gettext_lazy("SHA-256 du PDF généré"),
    "signed_pdf_sha256": gettext_lazy("SHA-256 du PDF signé et scellé"),
    "scan_sha256": gettext_lazy("SHA-256 du scan"),
    "signature_image_sha256": gettext_lazy("SHA-256 de l'image de la signature"),
    "signature_points_sha256": gettext_lazy("SHA-256 du tracé de la signature"),
    "attestation": gettext_lazy("attestation du conseiller"),
    "template_version": gettext_lazy("modèle du formulaire"),
    "supersedes": gettext_lazy("remplace les formulaires"),
    "prior": gettext_lazy("état antérieur"),
    "file": gettext_lazy("fichier"),
    "sha256": gettext_lazy("SHA-256"),
    "branch": gettext_lazy("agence"),
    "kind": gettext_lazy("type"),
    "is_legal_entity": gettext_lazy("personne morale"),
    "legal_capacity": gettext_lazy("capacité juridique"),
    "protection_measure": gettext_lazy("mesure de protection"),
    "objection_notice_shown": gettext_lazy("mention d'opposition affichée"),
    "status": gettext_lazy("statut"),
    "version": gettext_lazy("version"),
    "entries": gettext_lazy("entrées"),
    "last_seq": gettext_lazy("dernière entrée couverte"),
    "verification_ok": gettext_lazy("vérification sans anomalie"),
}
DECISIONS: dict[str, Any] = {
    "grant": gettext_lazy("accord"),
    "refuse": gettext_lazy("refus"),
    "withdraw": gettext_lazy("retrait"),
}
# Coded values shown by their label.
VALUE_CHOICES: dict[str, type[models.TextChoices]] = {
    "kind": ClientKind,
    "legal_capacity": LegalCapacity,
    "protection_measure": ProtectionMeasure,
    "status": ClientStatus,
    "identity_document": IdentityDocument,
    "method": SigningMethod,
    "prior": ConsentStatus,
    "from": ConsentStatus,
    "to": ConsentStatus,
    "means": RequestMeans,
    "request_means": RequestMeans,
    "token_channel": Channel,
}
PERSONAL_LABELS: dict[str, Any] = {
    "contact_point": gettext_lazy("coordonnée"),
    "ip": gettext_lazy("adresse IP"),
    "user_agent": gettext_lazy("navigateur"),
    "note": gettext_lazy("note"),
    "civility": gettext_lazy("civilité"),
    "first_name": gettext_lazy("prénom"),
    "last_name": gettext_lazy("nom"),
    "birth_date": gettext_lazy("date de naissance"),
    "email": gettext_lazy("e-mail"),
    "mobile": gettext_lazy("mobile"),
    "protection_measure": gettext_lazy("mesure de protection"),
    "reference": gettext_lazy("référence"),
}
# Shown elsewhere in an entry's block: its journey, state change, actor and wordings.
_SHOWN_APART = frozenset({audit.STATE_KEY, "journey", "actor_branch", "wording_sha256"})


def _fact_value(key: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("oui") if value else _("non")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    choices = VALUE_CHOICES.get(key)
    if choices is not None and value in choices.values:
        return str(choices(value).label)
    if key == "decision" and value in DECISIONS:
        return str(DECISIONS[value])
    if key in ("mobile", "contact_point") and str(value).startswith("+"):
        return phone(str(value))  # as people read it: "+33 6 12 34 56 78"
    return str(value)


def facts(data: Mapping[str, Any], labels: Mapping[str, Any], prefix: str = "") -> list[Fact]:
    """A payload (or personal values) as labelled rows, nested keys dotted."""
    rows: list[Fact] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if not prefix and key in _SHOWN_APART:
            continue
        if prefix and key in ("wording_version", "wording_sha256"):
            continue
        if isinstance(value, Mapping):
            rows.extend(facts(value, labels, f"{name}."))
            continue
        parts = name.split(".")
        if parts[0] == "channels" and len(parts) == 3:
            label = f"{labels.get(parts[2], parts[2])} ({_channel_label(parts[1])})"
        else:
            label = str(labels.get(name) or labels.get(parts[-1]) or name)
        rows.append(Fact(label, _fact_value(key, value)))
    return rows


def _wording_lines(
    item: BundleEntry,
    wordings: Mapping[str, Wording],
    text_hashes: Mapping[str, str],
    cited: dict[str, tuple[int, str]],
) -> list[dict[str, Any]]:
    """The wordings an entry cites, each as a line of text. Where first cited, the line gives
    the SHA-256 the entry recorded and the text follows in full; a later entry recording the
    same SHA-256 refers to that first one (and to the annex). `holds`: the recorded SHA-256 is
    the text's own."""
    lines = []
    for version, recorded in item.wordings:
        wording = wordings.get(version)
        holds = wording is not None and (not recorded or recorded == text_hashes[version])
        first = cited.get(version)
        name = version
        if wording is not None:
            name = f"{version} ({wording.get_channel_display()}, {wording.language})"
        if wording is None:
            line = _("formulation %(name)s : texte absent · SHA-256 enregistré : %(sha)s")
        elif first is not None and first[1] == recorded:
            line = _(
                "formulation %(name)s : texte cité à l'entrée n° %(seq)s et en annexe, même "
                "SHA-256 enregistré"
            )
        else:
            line = _("formulation %(name)s · SHA-256 enregistré : %(sha)s")
        line %= {"name": name, "sha": recorded or "—", "seq": first[0] if first else ""}
        if wording is not None:
            line += (
                " ✓ " + _("conforme au texte")
                if holds
                else " ✗ " + _("ne correspond plus au texte")
            )
        lines.append(
            {
                "version": version,
                "line": _capfirst(line),
                "holds": holds,
                "text": wording.text if wording is not None and first is None else "",
            }
        )
        cited.setdefault(version, (item.seq, recorded))
    return lines


def _inline(found: list[Fact]) -> str:
    """Facts as one line of text: "label : value · label : value"."""
    return " · ".join(f"{fact.label}\u00a0: {fact.value}" for fact in found)


def _timeline(data: BundleData) -> list[dict[str, Any]]:
    """The entries as the attestation prints them: a few lines of plain text each, labels
    inline. A page of WeasyPrint costs per box and per run of text, so an entry is a handful of
    paragraphs, without table or styled label (hundreds of entries render in about a second).
    A wording's text is printed in full where first cited; the later entries refer to it."""
    items = []
    cited: dict[str, tuple[int, str]] = {}
    text_hashes = {version: text_sha256(w.text) for version, w in data.wordings.items()}
    for item in data.entries:
        entry = item.entry
        occurred, recorded = paris_text(entry.occurred_at), paris_text(entry.recorded_at)
        head = [_capfirst(item.label)]
        if entry.channel:
            head.append(_channel_label(entry.channel))
        journey = item.data.get("journey")
        if journey:
            head.append(_journey_label(str(journey)))
        head.append(occurred)
        lead: list[Fact] = []
        if recorded != occurred:
            lead.append(Fact(_("enregistré le"), recorded))
        lead.append(Fact(_("acteur"), item.actor_text))
        if item.state:
            change = (
                f"{_status_label(item.state.get('from'))} → {_status_label(item.state.get('to'))}"
            )
            lead.append(Fact(_("état"), change))
        lead.extend(facts(item.data, FACT_LABELS))
        personal = ""
        if item.personal:
            personal = _("déchiffré — %(facts)s") % {
                "facts": _inline(facts(item.personal, PERSONAL_LABELS))
            }
        elif item.sealed and data.erased:
            personal = _("données personnelles : effacées (clé détruite, R64)")
        elif item.sealed and item.unreadable:
            personal = _("données personnelles : illisibles")
        items.append(
            {
                "item": item,
                "head": " · ".join(head),
                "facts": _capfirst(_inline(lead)),
                "personal": _capfirst(personal),
                "wordings": _wording_lines(item, data.wordings, text_hashes, cited),
                "problems": [str(p) for p in item.problems + item.link_problems],
            }
        )
    return items


def _capfirst(text: str) -> str:
    return text[:1].upper() + text[1:]


def _identity(client: Client) -> list[Fact]:
    kind = client.get_kind_display()
    if client.is_legal_entity:
        kind += _(" (personne morale)")
    capacity = client.get_legal_capacity_display()
    if client.protection_measure:
        capacity += f" : {client.get_protection_measure_display()}"
    civility = f"{client.get_civility_display()} " if client.civility else ""
    return [
        Fact(_("Nom"), f"{civility}{client.display_name}"),
        Fact(
            _("Date de naissance"),
            client.birth_date.strftime("%d/%m/%Y") if client.birth_date else "—",
        ),
        Fact(_("Type"), str(kind)),
        Fact(_("Capacité juridique"), str(capacity)),
        Fact(_("Statut"), str(client.get_status_display())),
        Fact(_("Agence"), f"{client.branch.name} ({client.branch.code})"),
        Fact(_("E-mail"), client.email or "—"),
        Fact(_("Mobile"), phone(client.mobile) or "—"),
    ]


def _contact(client: Client, channel: str) -> str:
    value = client.contact_point(channel)
    return phone(value) if channel == Channel.SMS_PUSH else value


def _context(data: BundleData) -> dict[str, Any]:
    client = data.client
    verification = data.verification
    states = [
        {
            "channel": _channel_label(channel),
            "contact": "" if data.erased else _contact(client, channel),
            "status": _status_label(state.status if state else "none"),
            "code": state.status if state else "none",
            "since": paris_text(state.since) if state and state.since else "—",
            "journey": _journey_label(state.journey) if state and state.journey else "—",
            "wording": (state.wording_version if state else "") or "—",
            "last_seq": (state.last_seq if state else None) or "—",
        }
        for channel, state in data.states
    ]
    produced_by = ""
    if data.produced_by is not None:
        user = data.produced_by
        produced_by = f"{user.get_full_name() or user.get_username()} (staff:{user.pk})"
    return {
        "data": data,
        "client": client,
        "bank_name": settings.OPTIN_BANK_NAME,
        "produced_at": paris_text(data.produced_at),
        "produced_by": produced_by,
        "identity": [] if data.erased else _identity(client),
        "states": states,
        "verification": verification,
        "first_bad": verification.first_bad,
        "checkpoint": verification.checkpoint,
        "checkpoint_signed_at": paris_text(verification.checkpoint.signed_at)
        if verification.checkpoint
        else "",
        "full_run": verification.full_run,
        "full_run_at": paris_text(verification.full_run.finished_at)
        if verification.full_run
        else "",
        "wordings": sorted(data.wordings.values(), key=lambda w: w.version),
        "wording_files": {v: _wording_name(v) for v in data.wordings},
        "wording_published": {v: paris_text(w.published_at) for v, w in data.wordings.items()},
        "checkpoint_statement": verification.checkpoint.checkpoint.statement().decode("utf-8")
        if verification.checkpoint
        else "",
        "forms": data.forms,
        "public_key_pem": (data.public_key_pem or b"").decode("ascii"),
        "last_seq": data.last_seq,
        "members": {
            "attestation": ATTESTATION,
            "entries": ENTRIES,
            "readme": README,
            "public_key": PUBLIC_KEY,
            "statement": STATEMENT,
            "signature": SIGNATURE,
            "seal_certificate": SEAL_CERTIFICATE,
        },
        "proof_years": settings.OPTIN_PROOF_RETENTION_YEARS,
    }


def _wording_name(version: str) -> str:
    return "formulations/" + re.sub(r"[^A-Za-z0-9._-]", "_", version) + ".txt"


def attestation_html(data: BundleData) -> str:
    """The attestation's HTML, in French whatever the page's language (a proof is read by
    whoever the complaint goes to)."""
    with override("fr"):
        context = _context(data)
        context["timeline"] = _timeline(data)
        return render_to_string("compliance/attestation_pdf.html", context)


def attestation_pdf(html: str, identifier: str) -> bytes:
    """The attestation as PDF/A-3b, rendered offline as the forms are (vendored fonts, no
    network), then sealed by the bank like a signed form. Compressed like any PDF (a tenth of
    its size once taken out of the ZIP, which is how it is archived and sent), at about 0.1 s
    for 200 entries."""
    rendered = pdf.render_html(
        html,
        identifier=hashlib.sha256(identifier.encode()).hexdigest()[:32].encode("ascii"),
    )
    return sealing.seal_pdf(rendered)


# --- the machine-readable part -----------------------------------------------------------------


HASH_RULE = {
    "hash": "hex(SHA-256(UTF-8(prev_hash + '\\n' + canonical_json(header) + '\\n' + payload)))",
    "canonical_json": "json.dumps(header, sort_keys=True, separators=(',', ':'), "
    "ensure_ascii=False): keys sorted, no whitespace, UTF-8 unescaped, no floats",
    "header": "the entry's columns exactly as hashed: seq, recorded_at, occurred_at (ISO 8601, "
    "UTC, microseconds), actor_type, actor_id, action, client_id, client_number, channel, "
    "wording_version",
    "payload": "the stored payload string, used as is (it is canonical JSON already); its "
    "'personal' value is the ciphertext of the personal values (AES-256-GCM, the customer's "
    "key): the hash covers the ciphertext",
    "genesis_prev_hash": audit.GENESIS_HASH,
    "chain": "an entry's prev_hash is the hash of the entry numbered seq - 1 in the whole log; "
    "those of other customers are not in this bundle (neighbours_in_log gives their stored "
    "hashes as read by the bank)",
    "checkpoint": "Ed25519 signature (base64) of the UTF-8 bytes of 'statement', by the key "
    "in checkpoint_public_key_pem",
}


def entries_document(data: BundleData) -> dict[str, Any]:
    client = data.client
    verification = data.verification
    checkpoint = verification.checkpoint
    identity = None
    if not data.erased:
        identity = {
            "civility": client.civility,
            "first_name": client.first_name,
            "last_name": client.last_name,
            "birth_date": client.birth_date.isoformat() if client.birth_date else None,
            "kind": client.kind,
            "is_legal_entity": client.is_legal_entity,
            "legal_capacity": client.legal_capacity,
            "protection_measure": client.protection_measure,
            "status": client.status,
            "branch": client.branch.code,
            "email": client.email,
            "mobile": client.mobile,
        }
    return {
        "format": FORMAT,
        "bank": settings.OPTIN_BANK_NAME,
        "produced_at": audit.iso_or_none(data.produced_at),
        "produced_by": f"staff:{data.produced_by.pk}" if data.produced_by else None,
        "client": {
            "client_id": client.pk,
            "client_number": client.client_number,
            "erased": data.erased,
            "identity": identity,
            "states": [
                {
                    "channel": channel,
                    "status": state.status if state else "none",
                    "prior_status": state.prior_status if state else "",
                    "since": audit.iso_or_none(state.since) if state else None,
                    "journey": state.journey if state else "",
                    "wording_version": state.wording_version if state else "",
                    "last_seq": state.last_seq if state else None,
                }
                for channel, state in data.states
            ],
        },
        "hash_rule": HASH_RULE,
        "entries": [
            {
                "header": item.header,
                "payload": item.entry.payload,
                "prev_hash": item.entry.prev_hash,
                "hash": item.entry.hash,
                "neighbours_in_log": {
                    "hash_of_previous_entry": item.before_hash,
                    "prev_hash_of_next_entry": item.after_prev_hash,
                },
                "label": item.label,
                # Not covered by the hash: the payload's "personal" ciphertext, decrypted
                # with the customer's key; null once the key is destroyed (erasure).
                "decrypted_personal_values": item.personal,
                "problems": [p.as_dict() for p in item.problems + item.link_problems],
            }
            for item in data.entries
        ],
        "wordings": [
            {
                "version": w.version,
                "channel": w.channel,
                "language": w.language,
                "published_at": audit.iso_or_none(w.published_at),
                "sha256": w.sha256,
                "text_sha256": text_sha256(w.text),
                "file": _wording_name(w.version),
                "text": w.text,
            }
            for w in sorted(data.wordings.values(), key=lambda w: w.version)
        ],
        "forms": [_form_document(f) for f in data.forms],
        "checkpoint": None
        if checkpoint is None
        else {
            "seq": checkpoint.checkpoint.seq,
            "hash": checkpoint.checkpoint.hash,
            "signed_at": checkpoint.checkpoint.signed_at,
            "key_id": checkpoint.checkpoint.key_id,
            "signature": checkpoint.checkpoint.signature,
            "statement": checkpoint.checkpoint.statement().decode("utf-8"),
            "sources": list(checkpoint.sources),
            "signature_valid": checkpoint.signature_valid,
            "log_hash_at_seq": checkpoint.log_hash,
            "covers_last_entry": data.last_seq,
            "statement_file": STATEMENT,
            "signature_file": SIGNATURE,
        },
        "checkpoint_public_key_pem": (data.public_key_pem or b"").decode("ascii") or None,
        "verification": verification.as_dict(),
    }


def _form_document(bundled: BundleForm) -> dict[str, Any]:
    form = bundled.form
    seal = bundled.seal
    return {
        "reference": form.reference,
        "form_id": str(form.uuid),
        "status": form.status,
        "journey": form.journey,
        "created_at": audit.iso_or_none(form.created_at),
        "signed_at": audit.iso_or_none(form.signed_at),
        "method": form.method,
        "signed_seq": form.signed_seq,
        "pdf_sha256": form.pdf_sha256,
        "signed_pdf_sha256": form.signed_pdf_sha256 or None,
        "scan_sha256": form.scan_sha256 or None,
        "files": {
            "generated": bundled.original_name or None,
            "signed": bundled.signed_name or None,
        },
        "seal": None
        if seal is None
        else {
            "ok": seal.ok,
            "reason": seal.reason,
            "signer": seal.signer,
            "signed_at": seal.signed_at,
        },
        "notes": list(bundled.notes),
    }


# --- the ZIP -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProofBundle:
    filename: str
    content: bytes
    sha256: str
    entries: int
    last_seq: int | None
    ok: bool


def bundle_filename(data: BundleData) -> str:
    local = data.produced_at.astimezone(PARIS)
    return f"preuve-{data.client.client_number}-{local:%Y%m%d-%H%M%S}.zip"


def members(data: BundleData) -> Iterator[tuple[str, bytes]]:
    """The ZIP's files, in the order they are listed."""
    context = _context(data)
    with override("fr"):
        readme = render_to_string("compliance/bundle_lisezmoi.txt", context)
    yield README, readme.encode("utf-8")
    html = attestation_html(data)
    yield ATTESTATION, attestation_pdf(html, f"{data.client.client_number}/{data.produced_at}")
    document = entries_document(data)
    yield ENTRIES, (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    if data.public_key_pem:
        yield PUBLIC_KEY, data.public_key_pem
    checkpoint = data.verification.checkpoint
    if checkpoint is not None:
        yield STATEMENT, checkpoint.checkpoint.statement()
        try:
            signature = base64.b64decode(checkpoint.checkpoint.signature, validate=True)
        except ValueError:
            signature = b""  # unreadable: entries.json shows it as stored
        if signature:
            yield SIGNATURE, signature
    yield SEAL_CERTIFICATE, sealing.seal_certificate_pem()
    for version in sorted(data.wordings):
        yield _wording_name(version), data.wordings[version].text.encode("utf-8")
    for bundled in data.forms:
        if bundled.original is not None:
            yield bundled.original_name, bundled.original
        if bundled.signed is not None:
            yield bundled.signed_name, bundled.signed


def build_zip(data: BundleData) -> bytes:
    stamp = data.produced_at.astimezone(PARIS).timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members(data):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def produce_proof_bundle(*, user: AbstractBaseUser, client: Client) -> ProofBundle:
    """R54: the customer's proof bundle, its production logged (`proof_bundle.produced`: who,
    when, the ZIP's SHA-256, how many entries up to which, whether verification held).

    Raises PermissionError for an account that is no staff member (clients.roles.actor_for).
    """
    actor = actor_for(user)
    # In French whatever the page's language, like the attestation: one language throughout.
    with override("fr"):
        data = gather(client, produced_by=user if isinstance(user, User) else None)
        content = build_zip(data)
    digest = hashlib.sha256(content).hexdigest()
    verification = data.verification
    with transaction.atomic():
        audit.append(
            action=ACTION,
            actor=actor,
            client_id=client.pk,
            client_number=client.client_number,
            data={
                "sha256": digest,
                "entries": verification.entries,
                "last_seq": data.last_seq,
                "verification_ok": verification.ok,
            },
        )
    return ProofBundle(
        filename=bundle_filename(data),
        content=content,
        sha256=digest,
        entries=verification.entries,
        last_seq=data.last_seq,
        ok=verification.ok,
    )


# --- the page ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleSummary:
    """What the bundle page shows before producing it."""

    client: Client
    erased: bool
    states: list[tuple[str, str, ConsentState | None]]  # channel, label, state
    entries: int
    last_seq: int | None
    forms: int
    full_run: VerificationRun | None


def bundle_summary(client: Client) -> BundleSummary:
    destroyed = crypto.ClientKeyring.load(client.pk).destroyed
    counts = AuditEntry.objects.filter(client_id=client.pk).aggregate(
        n=models.Count("pk"), last=models.Max("seq")
    )
    states = {s.channel: s for s in ConsentState.objects.filter(client=client)}
    return BundleSummary(
        client=client,
        erased=client.erased_at is not None or destroyed,
        states=[(value, str(label), states.get(value)) for value, label in Channel.choices],
        entries=counts["n"] or 0,
        last_seq=counts["last"],
        forms=ConsentForm.objects.filter(client=client).count(),
        full_run=VerificationRun.objects.filter(scope=VerificationScope.FULL)
        .order_by("-started_at")
        .first(),
    )
