"""The product decisions D1-D9 of RULES.md §14, each in this one place.

Each is the bank's current choice, to be confirmed by its compliance department. Those that
are meant to be switched per deployment read a setting; the others are constants here, and the
code that applies them imports them from this module only.
"""

from __future__ import annotations

from django.conf import settings

# D1 (R7): a protection measure, or a birth date corrected to a minor, makes granted and
# pending consents lapse to `none`; lifting the measure revives nothing.
LAPSE_ON_INCAPACITY = True

# D2 (R5): an emancipated minor is treated as a minor. Age alone decides, so emancipation is
# deliberately not recorded.
ADULT_AGE = 18

# D3 (R6): the measures that make an adult "protected". MAJ and MASP are not capacity measures
# (CC 495-3) and are therefore not offered.
PROTECTIVE_MEASURES = frozenset(
    {
        "tutelle",
        "curatelle",
        "sauvegarde_de_justice",
        "habilitation_familiale",
        "mandat_de_protection_future",
    }
)

# D4 (R8): the channels on which a professional is opt-out (eligible unless they objected).
B2B_OPT_OUT_CHANNELS = frozenset({"email"})

# D5 (R58): a pending form stays signable after a newer wording is published.
PENDING_FORM_SURVIVES_NEW_WORDING = True

# D6 (R3): no soft opt-in for existing customers; only an effective grant makes eligible.
SOFT_OPT_IN = False

# D7 (R61): former customers stay usable for prospecting this many years after the end.
FORMER_CUSTOMER_YEARS = 3


def email_double_optin() -> bool:
    """D8 (R36): double opt-in for digital e-mail grants; off by default."""
    return bool(settings.OPTIN_EMAIL_DOUBLE_OPTIN)


def proof_retention_years() -> int:
    """D9 (R63): proof is kept this many years after the consent ends."""
    return int(settings.OPTIN_PROOF_RETENTION_YEARS)
