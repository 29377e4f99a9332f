from __future__ import annotations

import functools

import factory
from django.contrib.auth.hashers import make_password
from oauth2_provider.generators import generate_client_secret

from accounts.models import User
from idp.models import Application
from tests.fixtures import PASSWORD


@functools.cache
def hashed_fixture_password() -> str:
    return make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"person{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Tester{n}")
    email_verified = True
    # Hashed once: PBKDF2 costs about a second per user, and every user here
    # shares the fixture password (the live server checks it with the real hasher).
    password = factory.LazyFunction(lambda: hashed_fixture_password())

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        if kwargs.get("password") is None:
            kwargs["password"] = make_password(None)  # password=None: an unusable password
        return super()._create(model_class, *args, **kwargs)


class ApplicationFactory(factory.django.DjangoModelFactory):
    """A confidential app; `client_secret_plain` keeps the secret given before hashing."""

    class Meta:
        model = Application

    name = factory.Sequence(lambda n: f"Connected app {n}")
    description = "Helps you keep on top of your tasks."
    redirect_uris = "https://client.example.com/callback"
    client_type = Application.CLIENT_CONFIDENTIAL
    authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
    client_secret = factory.LazyFunction(generate_client_secret)
    client_secret_plain = factory.LazyAttribute(lambda app: app.client_secret)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        plain = kwargs.pop("client_secret_plain")
        application = super()._create(model_class, *args, **kwargs)
        application.client_secret_plain = plain
        return application

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        kwargs.pop("client_secret_plain")
        return super()._build(model_class, *args, **kwargs)


class TaskFactory(factory.django.DjangoModelFactory):
    """A task written straight to the database (tests of services go through tasks.services)."""

    class Meta:
        model = "tasks.Task"

    owner = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Task {n}")
