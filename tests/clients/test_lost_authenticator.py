"""A staff member who lost their phone: an administrator deletes their devices in the admin,
never seeing their secrets, and the next login enrols a new authenticator (R55: every staff
account keeps two factors)."""

from __future__ import annotations

from typing import Any

from django.test import Client as HttpClient
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from clients import twofactor
from tests.auth import login_verified

PASSWORD = "pw-for-tests"  # StaffFactory's


def test_the_admin_lists_devices_without_their_secrets(administrator: Any, advisor: Any) -> None:
    device = TOTPDevice.objects.create(user=advisor, name="application", confirmed=True)
    http = HttpClient()
    login_verified(http, administrator)
    response = http.get("/admin/otp_totp/totpdevice/")
    assert response.status_code == 200
    assert "alice" in response.content.decode()
    detail = http.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert detail.status_code == 200
    assert device.key not in detail.content.decode()


def test_deleting_the_devices_makes_the_next_login_enrol_again(
    administrator: Any, advisor: Any
) -> None:
    device = TOTPDevice.objects.create(user=advisor, name="application", confirmed=True)
    twofactor.new_backup_codes(user=advisor)
    http = HttpClient()
    login_verified(http, administrator)
    response = http.post(
        f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"}, follow=False
    )
    assert response.status_code == 302
    static = StaticDevice.objects.get(user=advisor)
    http.post(f"/admin/otp_static/staticdevice/{static.pk}/delete/", {"post": "yes"})
    assert not TOTPDevice.objects.filter(user=advisor).exclude(pk=device.pk).exists()
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    assert not StaticDevice.objects.filter(user=advisor).exists()

    staff = HttpClient()
    answer = staff.post("/connexion/", {"username": "alice", "password": PASSWORD})
    assert answer.status_code == 302
    assert answer["Location"].startswith("/connexion/activation/")


def test_an_advisor_cannot_delete_devices(advisor: Any, advisor_other_branch: Any) -> None:
    device = TOTPDevice.objects.create(
        user=advisor_other_branch, name="application", confirmed=True
    )
    http = HttpClient()
    login_verified(http, advisor)
    response = http.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert TOTPDevice.objects.filter(pk=device.pk).exists()
