"""R55: advisors see only the clients of their branch; compliance and administrators see all;
anybody else sees none."""

import pytest
from django.contrib.auth.models import AnonymousUser, User

from clients import services
from clients.models import Client
from tests.factories import SYSTEM


@pytest.fixture
def clients_of_both_branches(client_factory, other_branch):
    ours = [client_factory(client_number=f"OURS-{i}") for i in range(3)]
    theirs = [client_factory(client_number=f"THEIRS-{i}", branch=other_branch) for i in range(2)]
    return ours, theirs


def numbers(queryset):
    return sorted(queryset.values_list("client_number", flat=True))


def test_an_advisor_sees_only_the_clients_of_their_branch(
    clients_of_both_branches, advisor, advisor_other_branch
):
    ours, theirs = clients_of_both_branches
    assert numbers(Client.objects.visible_to(advisor)) == sorted(c.client_number for c in ours)
    assert numbers(Client.objects.visible_to(advisor_other_branch)) == sorted(
        c.client_number for c in theirs
    )


def test_the_scope_narrows_any_queryset(clients_of_both_branches, advisor):
    visible = Client.objects.filter(client_number__startswith="THEIRS").visible_to(advisor)
    assert not visible.exists()


def test_a_client_moved_to_another_branch_leaves_the_advisor_s_scope(
    clients_of_both_branches, advisor, other_branch
):
    moved = clients_of_both_branches[0][0]
    services.update_client_identity(
        actor=SYSTEM, client_number=moved.client_number, branch=other_branch
    )
    assert moved.client_number not in numbers(Client.objects.visible_to(advisor))


@pytest.mark.parametrize("persona", ["compliance", "administrator"])
def test_compliance_and_administrators_see_every_client(clients_of_both_branches, persona, request):
    user = request.getfixturevalue(persona)
    assert Client.objects.visible_to(user).count() == 5


def test_an_anonymous_user_sees_no_client(clients_of_both_branches):
    assert not Client.objects.visible_to(AnonymousUser()).exists()


def test_a_user_without_a_staff_profile_sees_no_client(clients_of_both_branches):
    stranger = User.objects.create_user("stranger", password="x", is_staff=True)
    assert not Client.objects.visible_to(stranger).exists()


def test_a_deactivated_advisor_sees_no_client(clients_of_both_branches, advisor):
    advisor.is_active = False
    advisor.save(update_fields=["is_active"])
    assert not Client.objects.visible_to(advisor).exists()
