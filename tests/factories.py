from __future__ import annotations

from functools import lru_cache

import factory
from django.contrib.auth.hashers import make_password
from oauth2_provider.generators import generate_client_secret

from accounts.models import User
from idp.models import Application
from tests.fixtures import PASSWORD


@lru_cache
def _password_hash(password: str) -> str:
    # PBKDF2 costs about a second per hash: hash each test password once per
    # run. The hash is a real one, so the live server accepts the password.
    return make_password(password)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"person{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Tester{n}")
    email_verified = True

    # A plain password, hashed in _create; password=None makes an unusable one.
    password = PASSWORD

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        password = kwargs.pop("password")
        kwargs["password"] = make_password(None) if password is None else _password_hash(password)
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
