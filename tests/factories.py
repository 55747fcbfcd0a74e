"""Factories. Clients are created through the service, so they carry their states, key and
log entry like any real client."""

from __future__ import annotations

import datetime as dt
from typing import Any

import factory
from django.contrib.auth import get_user_model

from clients import services
from clients.models import Branch, Client, ClientKind, Role
from optin.audit import Actor
from optin.models import ActorType

SYSTEM = Actor.system("tests")


class BranchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Branch
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"B{n:03d}")
    name = factory.Sequence(lambda n: f"Agence {n}")


class StaffFactory(factory.Factory):
    """A staff account with its role and branch (through the service)."""

    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"staff{n}")
    password = "pw-for-tests"
    role = Role.ADVISOR
    branch = factory.SubFactory(BranchFactory)

    @classmethod
    def _create(cls, model_class: Any, **kwargs: Any) -> Any:
        role = kwargs.pop("role")
        branch = kwargs.pop("branch") if role == Role.ADVISOR else kwargs.pop("branch", None)
        return services.create_staff_member(actor=SYSTEM, role=role, branch=branch, **kwargs)


class ClientFactory(factory.Factory):
    """An adult individual of full capacity with both contact points, states at `none`."""

    class Meta:
        model = Client

    client_number = factory.Sequence(lambda n: f"C{n:06d}")
    kind = ClientKind.INDIVIDUAL
    first_name = "Jeanne"
    last_name = factory.Sequence(lambda n: f"Dupont{n}")
    birth_date = dt.date(1980, 5, 17)
    email = factory.Sequence(lambda n: f"jeanne.dupont{n}@exemple.fr")
    mobile = factory.Sequence(lambda n: f"+336{n % 100_000_000:08d}")
    branch = factory.SubFactory(BranchFactory)

    @classmethod
    def _create(cls, model_class: Any, **kwargs: Any) -> Client:
        actor = kwargs.pop("actor", SYSTEM)
        return services.create_client(actor=actor, **kwargs)


def web_actor(name: str = "web") -> Actor:
    return Actor(ActorType.API_CLIENT, f"api:{name}")


def advisor_actor(user: Any) -> Actor:
    return Actor(ActorType.ADVISOR, f"staff:{user.pk}", user.staff_profile.branch.code)
