"""Staff roles as groups carrying permissions (R55), and the actor a staff member is."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from django.db.models import Q

from clients.models import Role
from optin.audit import Actor
from optin.models import ActorType

# Permissions per role, as "app_label.codename". Advisors act on their branch's clients;
# compliance reads everything and changes nothing, except that it carries out an erasure request
# (R64: the log only grows); administrators manage reference data but cannot alter the log or
# states (nobody can: they have no add/change/delete permission).
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.ADVISOR: (
        "clients.view_client",
        "clients.add_client",
        "clients.record_consent",
        "clients.change_contact",
        "clients.change_capacity",  # R7: a protection measure, learnt at the branch
        "optin.view_wording",
        "optin.view_consentstate",
        "signatures.view_consentform",
        "signatures.sign_consentform",
        "signatures.download_consentform",
    ),
    Role.COMPLIANCE: (
        "clients.view_branch",
        "clients.view_client",
        "clients.view_staffprofile",
        "optin.view_wording",
        "optin.view_consentstate",
        "optin.view_auditentry",
        "optin.view_auditcheckpoint",
        "optin.verify_audit",
        "optin.review_audit",
        "optin.export_audit",
        "optin.produce_proof_bundle",
        "optin.view_recordaccess",
        "clients.erase_client",  # R64, from the compliance pages
        "signatures.view_consentform",
        "signatures.download_consentform",
    ),
    Role.ADMINISTRATOR: (
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        # A lost phone: the administrator deletes the staff member's devices; the next login
        # enrols a new authenticator (the secrets are never shown: OTP_ADMIN_HIDE_SENSITIVE_DATA).
        "otp_totp.view_totpdevice",
        "otp_totp.delete_totpdevice",
        "otp_static.view_staticdevice",
        "otp_static.delete_staticdevice",
        "clients.view_branch",
        "clients.add_branch",
        "clients.change_branch",
        "clients.view_staffprofile",
        "clients.add_staffprofile",
        "clients.change_staffprofile",
        "clients.view_client",
        "clients.add_client",
        "clients.change_client",
        "clients.change_contact",
        "clients.change_capacity",
        "optin.view_wording",
        "optin.add_wording",
        "optin.change_wording",
        "optin.delete_wording",  # unused versions only: the admin and triggers refuse the rest
        "optin.view_consentstate",
        "optin.view_auditentry",
        "optin.view_auditcheckpoint",
        # API clients are created by `create_api_client`; the admin lists and revokes them.
        "optin.view_apiclient",
        "optin.change_apiclient",
        "signatures.view_consentform",
    ),
}

ACTOR_TYPE_BY_ROLE = {
    Role.ADVISOR: ActorType.ADVISOR,
    Role.COMPLIANCE: ActorType.COMPLIANCE,
    Role.ADMINISTRATOR: ActorType.ADMINISTRATOR,
}


def ensure_roles(**_kwargs: Any) -> None:
    """Create or update the three role groups with their permissions (idempotent)."""
    for role, names in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=str(role))
        query = Q()
        for name in names:
            app_label, codename = name.split(".")
            query |= Q(content_type__app_label=app_label, codename=codename)
        permissions = list(Permission.objects.filter(query))
        if len(permissions) != len(names):
            continue  # permissions not created yet (first migrate): post_migrate runs again
        group.permissions.set(permissions)


def set_role_group(user: AbstractBaseUser, role: str) -> None:
    """Put a staff member in their role's group, and in no other role's."""
    groups = user.groups  # type: ignore[attr-defined]
    groups.remove(*Group.objects.filter(name__in=[str(r) for r in Role]))
    groups.add(Group.objects.get(name=role))


def actor_for(user: AbstractBaseUser | AnonymousUser) -> Actor:
    """The log's actor for a staff member (R51): role, staff id and branch."""
    profile = getattr(user, "staff_profile", None)
    if profile is None:
        if getattr(user, "is_superuser", False):
            return Actor(ActorType.ADMINISTRATOR, f"staff:{user.pk}")
        raise PermissionError("this account has no staff profile")
    branch = profile.branch.code if profile.branch_id else ""
    return Actor(ACTOR_TYPE_BY_ROLE[Role(profile.role)], f"staff:{user.pk}", branch)
