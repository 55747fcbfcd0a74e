"""R55: the three roles are groups carrying their permissions; each staff member is in exactly one
role group; an advisor belongs to a branch; compliance changes nothing and nobody may alter the
log or the states."""

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError

from clients import services
from clients.models import Role, StaffProfile
from clients.roles import ROLE_PERMISSIONS, actor_for, ensure_roles, set_role_group
from optin.models import AuditEntry
from tests.factories import SYSTEM


def permissions_of(group):
    return {
        f"{app}.{codename}"
        for app, codename in group.permissions.values_list("content_type__app_label", "codename")
    }


def test_the_three_role_groups_exist_after_migrate(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "advisor",
        "compliance",
        "administrator",
    }


@pytest.mark.parametrize("role", list(Role))
def test_each_group_carries_exactly_the_permissions_of_its_role(db, role):
    group = Group.objects.get(name=role)
    assert permissions_of(group) == set(ROLE_PERMISSIONS[role])


def test_ensure_roles_restores_a_tampered_group(db):
    group = Group.objects.get(name="compliance")
    group.permissions.clear()
    ensure_roles()
    assert permissions_of(group) == set(ROLE_PERMISSIONS[Role.COMPLIANCE])


@pytest.mark.parametrize(
    ("role", "with_branch"),
    [("advisor", True), ("compliance", False), ("administrator", False)],
)
def test_a_new_staff_member_is_in_exactly_their_role_group(branch, role, with_branch):
    user = services.create_staff_member(
        actor=SYSTEM,
        username=f"new-{role}",
        password="pw-for-tests",
        role=role,
        branch=branch if with_branch else None,
    )
    assert list(user.groups.values_list("name", flat=True)) == [role]
    assert user.staff_profile.role == role
    assert user.is_staff
    assert AuditEntry.objects.filter(action="staff.created").exists()


def test_changing_the_role_group_leaves_a_single_role_group(advisor):
    extra = Group.objects.create(name="newsletter-readers")
    advisor.groups.add(extra)
    set_role_group(advisor, "compliance")
    assert sorted(advisor.groups.values_list("name", flat=True)) == [
        "compliance",
        "newsletter-readers",
    ]


def test_an_advisor_without_a_branch_is_refused_and_nothing_is_written(db):
    before = AuditEntry.objects.count()
    with pytest.raises(ValidationError):
        services.create_staff_member(
            actor=SYSTEM, username="lost", password="pw-for-tests", role="advisor", branch=None
        )
    assert not User.objects.filter(username="lost").exists()
    assert not StaffProfile.objects.exists()
    assert AuditEntry.objects.count() == before


def test_an_unknown_role_is_refused(db):
    with pytest.raises(ValidationError):
        services.create_staff_member(
            actor=SYSTEM, username="odd", password="pw-for-tests", role="superhero"
        )
    assert not User.objects.filter(username="odd").exists()


def test_the_advisor_records_consents_contacts_and_protection_measures(advisor):
    # A protection measure is learnt at the branch and recorded from the knowledge record (R7).
    assert advisor.has_perm("clients.record_consent")
    assert advisor.has_perm("clients.change_contact")
    assert advisor.has_perm("clients.add_client")
    assert advisor.has_perm("clients.change_capacity")
    assert not advisor.has_perm("clients.change_client")
    assert not advisor.has_perm("clients.delete_client")


def test_compliance_reads_everything_and_changes_nothing(compliance):
    granted = {p for p in compliance.get_all_permissions()}
    assert {"clients.view_client", "optin.view_auditentry", "optin.verify_audit"} <= granted
    assert not [p for p in granted if p.split(".")[1].split("_")[0] in ("add", "change", "delete")]
    assert not compliance.has_perm("clients.record_consent")


@pytest.mark.parametrize("persona", ["advisor", "compliance", "administrator"])
def test_nobody_may_alter_the_log_or_the_states(request, persona):
    user = request.getfixturevalue(persona)
    for permission in (
        "optin.add_auditentry",
        "optin.change_auditentry",
        "optin.delete_auditentry",
        "optin.add_consentstate",
        "optin.change_consentstate",
        "optin.delete_consentstate",
        "clients.delete_client",
    ):
        assert not user.has_perm(permission), permission


def test_a_staff_member_acts_as_their_role_with_id_and_branch(advisor, compliance):
    actor = actor_for(advisor)
    assert (str(actor.type), actor.id, actor.branch) == ("advisor", f"staff:{advisor.pk}", "B001")
    assert str(actor_for(compliance).type) == "compliance"
