"""Install the wordings email-v1 and sms_push-v1 (RULES.md §15) with their publication date,
so a fresh database takes consents at once. "[Banque]" becomes OPTIN_BANK_NAME."""

import datetime as dt
import hashlib

from django.conf import settings
from django.db import migrations

PUBLISHED_AT = dt.datetime(2026, 11, 22, 23, 0, tzinfo=dt.UTC)  # 23 Nov 2026, 00:00 Paris

EMAIL_V1 = (
    "J'accepte de recevoir par e-mail des offres commerciales et des informations sur les "
    "produits et services de [Banque]. Je peux changer d'avis à tout moment et gratuitement : "
    "dans mon espace client, en cliquant sur le lien de désabonnement présent dans chaque "
    "e-mail, ou auprès de mon agence. Ce choix ne concerne pas les messages liés à la gestion "
    "de mes contrats, que je continuerai de recevoir."
)
SMS_PUSH_V1 = (
    "J'accepte de recevoir par SMS et par notifications mobiles (reçues en dehors de "
    "l'application) des offres commerciales et des informations sur les produits et services "
    "de [Banque]. Je peux changer d'avis à tout moment et gratuitement : dans mon espace "
    "client, en répondant STOP à un SMS, ou auprès de mon agence. Ce choix ne concerne pas les "
    "messages liés à la gestion de mes contrats, que je continuerai de recevoir."
)
INITIAL = (("email", "email-v1", EMAIL_V1), ("sms_push", "sms_push-v1", SMS_PUSH_V1))


def install(apps, schema_editor):
    Wording = apps.get_model("optin", "Wording")
    bank = settings.OPTIN_BANK_NAME
    for channel, version, template in INITIAL:
        text = template.replace("[Banque]", bank)
        Wording.objects.get_or_create(
            version=version,
            defaults={
                "channel": channel,
                "language": "fr",
                "text": text,
                "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                "published_at": PUBLISHED_AT,
                "active": True,
            },
        )


def uninstall(apps, schema_editor):
    Wording = apps.get_model("optin", "Wording")
    Wording.objects.filter(version__in=[version for _c, version, _t in INITIAL]).delete()


class Migration(migrations.Migration):
    dependencies = [("optin", "0002_audit_log_triggers")]

    operations = [migrations.RunPython(install, uninstall)]
