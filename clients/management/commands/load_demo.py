"""python manage.py load_demo — a demo branch, staff and customers; idempotent."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from clients import services, twofactor
from clients.models import (
    Branch,
    Client,
    ClientKind,
    ClientStatus,
    LegalCapacity,
    Role,
    consent_ineligibility,
)
from clients.roles import ensure_roles
from optin.audit import Actor
from optin.models import ActorType, Channel, ConsentStatus, Journey
from optin.services import record_decision
from signatures.models import FORM_JOURNEYS, ConsentForm
from signatures.services import BranchAnswer, collect_branch_answers

BRANCH = ("B001", "Agence Paris Opéra")
STAFF = (
    # username, password, role, first name, last name
    ("conseiller", "optin-conseiller", Role.ADVISOR, "Camille", "Martin"),
    ("conformite", "optin-conformite", Role.COMPLIANCE, "Hugo", "Bernard"),
    ("admin", "optin-admin", Role.ADMINISTRATOR, "Inès", "Petit"),
)
FIRST_NAMES = (  # alternately women's and men's names
    "Jeanne",
    "Louis",
    "Chloé",
    "Lucas",
    "Manon",
    "Hugo",
    "Léa",
    "Nathan",
    "Emma",
    "Jules",
    "Inès",
    "Arthur",
    "Sarah",
    "Théo",
    "Zoé",
    "Gabriel",
    "Alice",
    "Paul",
)
LAST_NAMES = (
    "Dupont",
    "Moreau",
    "Lefèvre",
    "Garcia",
    "Roux",
    "Fournier",
    "Girard",
    "Bonnet",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Faure",
    "André",
    "Mercier",
)
MEASURES = ("curatelle", "tutelle", "sauvegarde_de_justice")
DEMO_CLIENTS = 36
WEB = Actor(ActorType.API_CLIENT, "api:demo-web")


class Command(BaseCommand):
    help = "Load demo data: a branch, three staff accounts and a few dozen customers."

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_roles()
        with transaction.atomic():
            branch, _ = Branch.objects.get_or_create(code=BRANCH[0], defaults={"name": BRANCH[1]})
        system = Actor.system("load_demo")
        users: dict[str, User] = {}
        for username, password, role, first, last in STAFF:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = services.create_staff_member(
                    actor=system,
                    username=username,
                    password=password,
                    role=role,
                    branch=branch if role == Role.ADVISOR else None,
                    first_name=first,
                    last_name=last,
                )
            users[role] = user
        advisor = Actor(ActorType.ADVISOR, f"staff:{users[Role.ADVISOR].pk}", branch.code)
        created = sum(self._client(i, branch, advisor) for i in range(1, DEMO_CLIENTS + 1))
        forms = self._pending_forms(users[Role.ADVISOR])
        self.stdout.write(f"Demo data ready ({created} new customers, branch {branch.code}).")
        for form in forms:
            number = form.client.client_number
            self.stdout.write(f"  form to sign: /clients/{number}/formulaires/{form.reference}/")
        self.stdout.write(
            "Staff accounts: username / password, then for the second factor a code of the "
            "authenticator app (key below) or one of the backup codes, each usable once:"
        )
        for username, password, role, _first, _last in STAFF:
            user = users[role]
            codes = twofactor.unused_backup_codes(user) or twofactor.new_backup_codes(user=user)
            self.stdout.write(f"  {username} / {password}  ({Role(role).label})")
            self.stdout.write(f"    backup codes: {' '.join(codes)}")
            self.stdout.write(f"    authenticator key: {self._authenticator_key(user)}")

    def _authenticator_key(self, user: User) -> str:
        """Demo accounts come enrolled, so that backup codes alone let one in."""
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=twofactor.APP_DEVICE)
        return twofactor.secret_for_manual_entry(device)

    def _pending_forms(self, advisor: User) -> list[ConsentForm]:
        """Two customers who said "Oui" in branch and have not signed yet (R24), once."""
        if ConsentForm.objects.filter(client__client_number__startswith="DEMO-").exists():
            return []
        forms: list[ConsentForm] = []
        for client in Client.objects.filter(client_number__startswith="DEMO-").order_by("pk"):
            if len(forms) == 2:
                break
            if consent_ineligibility(client) or not (client.email and client.mobile):
                continue
            granted = set(
                client.consent_states.filter(status=ConsentStatus.GRANTED).values_list(
                    "channel", flat=True
                )
            )
            answers = {
                channel: BranchAnswer("yes", f"{channel}-v1")
                for channel in Channel.values
                if channel not in granted
            }
            if not answers:
                continue
            collected = collect_branch_answers(
                client=client, answers=answers, advisor=advisor, journey=FORM_JOURNEYS[0]
            )
            if collected.form is not None:
                forms.append(collected.form)
        return forms

    def _client(self, i: int, branch: Branch, advisor: Actor) -> int:
        number = f"DEMO-{i:04d}"
        if Client.objects.filter(client_number=number).exists():
            return 0
        rng = random.Random(i)  # the same customers on every machine  # noqa: S311
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        kind = ClientKind.PROFESSIONAL if i % 9 == 0 else ClientKind.INDIVIDUAL
        age = 15 if i % 11 == 0 else rng.randint(19, 85)
        measure = MEASURES[i % 3] if i % 13 == 0 else ""
        domain = "entreprise-exemple.fr" if kind == ClientKind.PROFESSIONAL else "exemple.fr"
        rng.choice(("M", "MME"))  # the civility's former draw: the same customers as before
        services.create_client(
            actor=advisor,
            client_number=number,
            kind=kind,
            civility="MME" if FIRST_NAMES.index(first) % 2 == 0 else "M",
            first_name=first,
            last_name=last,
            birth_date=dt.date(2026 - age, rng.randint(1, 12), rng.randint(1, 28)),
            legal_capacity=LegalCapacity.PROTECTED if measure else LegalCapacity.FULL,
            protection_measure=measure,
            email=f"{first.lower()}.{last.lower()}{i}@{domain}" if i % 7 else "",
            mobile=f"06{rng.randint(10_000_000, 99_999_999)}" if i % 5 else "",
            branch=branch,
            status=ClientStatus.CUSTOMER if i % 4 else ClientStatus.PROSPECT,
            objection_notice_shown=kind == ClientKind.PROFESSIONAL,
        )
        self._decisions(i, number, advisor)
        return 1

    def _decisions(self, i: int, number: str, advisor: Actor) -> None:
        """Varied states: digital grants, branch refusals, withdrawals, no answer."""
        if i % 11 == 0 or i % 13 == 0:
            return  # minors and protected adults are never asked
        plan = {0: ("email", "grant"), 1: ("sms_push", "grant"), 2: ("email", "refuse")}
        for step, (channel, decision) in plan.items():
            if (i + step) % 3 == 0:
                continue
            journey = (
                Journey.DIGITAL_SELF_SERVICE
                if decision == "grant"
                else (Journey.BRANCH_CONTACT_UPDATE)
            )
            record_decision(
                client_number=number,
                channel=channel,
                decision=decision,
                journey=journey,
                actor=WEB if decision == "grant" else advisor,
                wording_version=f"{channel}-v1",
                affirmative_action=True if decision == "grant" else None,
                evidence={"ip": "192.0.2.10", "user_agent": "Mozilla/5.0 (demo)"}
                if decision == "grant"
                else {"identity_document": "cni"},
            )
        if i % 6 == 0:
            record_decision(
                client_number=number,
                channel="sms_push",
                decision="withdraw",
                journey=Journey.BRANCH_REQUEST,
                actor=advisor,
                evidence={"request_means": "in_person"},
            )
