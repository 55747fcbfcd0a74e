"""The opt-in question of each channel in the branch journeys (R8, R9, R15, R17, R22, R23).

What the page shows per channel: the question with the exact wording next to it, the B2B
notice with an objection choice, "accord déjà donné le …", or why it is not asked. The form
built from them has no answer pre-selected and turns the answers into the service's input.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from django import forms
from django.utils.translation import gettext_lazy as _

from clients.models import CONTACT_FIELDS, Client, ClientKind, consent_ineligibility
from optin.models import Channel, ConsentState, ConsentStatus, Wording
from optin.selectors import active_wordings
from signatures.models import ConsentForm
from signatures.services import Answer, BranchAnswer


class Mode(StrEnum):
    ASK = "ask"  # "Oui" / "Non" (and, on a contact update, "ne souhaite pas répondre")
    OBJECTION = "objection"  # a professional's e-mail: opt-out, the B2B notice (R8)
    GRANTED = "granted"  # "accord déjà donné le …" (R15, R22, R43)
    NOT_ASKED = "not_asked"  # minor, protected adult, legal entity (R4-R6, R9)
    NO_CONTACT = "no_contact"  # no contact point: not asked (R22, R44)


NOT_ASKED_REASONS = {
    "minor": _(
        "Client mineur : la question n'est pas posée. Seul un majeur capable peut consentir ; "
        "il sera invité à sa majorité, au prochain contact."
    ),
    "protected_adult": _(
        "Majeur protégé : la question n'est pas posée. Ni le client, ni son tuteur ou curateur "
        "ne peuvent consentir à sa place."
    ),
    "not_natural_person": _(
        "Personne morale : il n'y a pas de consentement à recueillir. Les adresses génériques "
        "relèvent de la prospection entre professionnels, sauf opposition."
    ),
    "erased": _("Données effacées à la demande du client."),
}
B2B_NOTICE = _(
    "Adresse professionnelle : le client est informé que son adresse e-mail servira à lui "
    "adresser des offres liées à son activité professionnelle, et qu'il peut s'y opposer à tout "
    "moment, gratuitement, par le lien de désabonnement de chaque e-mail ou auprès de son agence."
)
# Accepting the B2B use records nothing: professional e-mail is opt-out (R8, D4).
NO_OBJECTION = "no_objection"


@dataclass(frozen=True)
class Question:
    channel: str
    label: str
    mode: Mode
    wording: Wording | None = None
    since: dt.datetime | None = None
    reason: str = ""
    pending_form: ConsentForm | None = None

    @property
    def field_name(self) -> str:
        return f"answer_{self.channel}"

    @property
    def asked(self) -> bool:
        return self.mode in (Mode.ASK, Mode.OBJECTION)


def consent_questions(client: Client, contacts: Mapping[str, str] | None = None) -> list[Question]:
    """Each channel's question for this client, given the contact points being entered
    (`contacts` by field name: email, mobile; the record's values otherwise)."""
    contacts = contacts or {}
    states = {s.channel: s for s in ConsentState.objects.filter(client=client)}
    wordings = active_wordings()
    pending: dict[str, ConsentForm] = {}
    forms_of_client = ConsentForm.objects.pending().filter(client=client)
    for form in forms_of_client.prefetch_related("channels").order_by("created_at"):
        for line in form.channels.all():
            pending[line.channel] = form
    ineligible = consent_ineligibility(client)
    questions = []
    for channel, label in Channel.choices:
        field = CONTACT_FIELDS[channel]
        contact = contacts[field] if field in contacts else client.contact_point(channel)
        state = states.get(channel)
        base = Question(
            channel=channel, label=str(label), mode=Mode.ASK, pending_form=pending.get(channel)
        )
        if state is not None and state.status == ConsentStatus.GRANTED:
            questions.append(replace(base, mode=Mode.GRANTED, since=state.since))
        elif ineligible is not None:
            reason = str(NOT_ASKED_REASONS[ineligible])
            questions.append(replace(base, mode=Mode.NOT_ASKED, reason=reason))
        elif not contact:
            questions.append(replace(base, mode=Mode.NO_CONTACT))
        elif channel == Channel.EMAIL and client.kind == ClientKind.PROFESSIONAL:
            questions.append(replace(base, mode=Mode.OBJECTION, wording=wordings.get(channel)))
        else:
            questions.append(replace(base, wording=wordings.get(channel)))
    return questions


class AnswersForm(forms.Form):
    """One required answer per question asked, none pre-selected (R17, R22); on a contact
    update (R23) "le client ne souhaite pas répondre" is a third answer, recording nothing."""

    def __init__(
        self, *args: object, questions: list[Question], allow_unanswered: bool, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.questions = questions
        for question in questions:
            if question.mode == Mode.ASK:
                choices = [(Answer.YES.value, _("Oui")), (Answer.NO.value, _("Non"))]
                if allow_unanswered:
                    choices.append(("unanswered", _("Le client ne souhaite pas répondre")))
            elif question.mode == Mode.OBJECTION:
                choices = [
                    (NO_OBJECTION, _("Ne s'oppose pas")),
                    (Answer.NO.value, _("S'oppose à la prospection par e-mail")),
                ]
            else:
                continue
            self.fields[question.field_name] = forms.ChoiceField(
                label=question.label,
                choices=choices,
                widget=forms.RadioSelect,
                error_messages={"required": _("Indiquez la réponse du client.")},
            )
            self.fields[f"wording_{question.channel}"] = forms.CharField(
                widget=forms.HiddenInput,
                required=False,
                initial=question.wording.version if question.wording else "",
            )

    def branch_answers(self) -> dict[str, BranchAnswer]:
        """The answers as collect_branch_answers takes them, with the version displayed."""
        answers = {}
        for question in self.questions:
            value = self.cleaned_data.get(question.field_name)
            if value in (Answer.YES, Answer.NO):
                version = self.cleaned_data.get(f"wording_{question.channel}") or (
                    question.wording.version if question.wording else ""
                )
                answers[question.channel] = BranchAnswer(answer=value, wording_version=version)
        return answers

    @property
    def objection_notice_shown(self) -> bool:
        return any(q.mode == Mode.OBJECTION for q in self.questions)
