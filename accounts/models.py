from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower


class TaskgateUserManager(UserManager):
    """Users log in with their email address, in any case."""

    def get_by_natural_key(self, username: str) -> User:
        return self.get(email__iexact=username)

    def normalize_email(self, email: str | None) -> str:
        return (email or "").strip().lower()


class User(AbstractUser):
    """A person who logs in to Taskgate.

    `sub` is the OIDC subject (OpenID Connect Core §2): random, stable and
    public, so that the database id is never exposed to clients.
    """

    email = models.EmailField("email address", unique=True)
    email_verified = models.BooleanField(
        default=False, help_text="Whether the person has proved they receive mail at this address."
    )
    sub = models.UUIDField("subject", default=uuid.uuid4, unique=True, editable=False)
    pending_email = models.EmailField(
        "new email address (unconfirmed)",
        blank=True,
        help_text="Replaces the email once the person opens the link sent to it.",
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = ["username"]

    objects = TaskgateUserManager()

    class Meta:
        constraints = [
            # Two accounts must not differ only by the case of their email.
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class ExternalIdentity(models.Model):
    """A person's account at an upstream OpenID provider, linked to a local user.

    The pair (issuer, subject) is the only stable identifier of an upstream
    account (OpenID Connect Core §2, §5.7): an email address can change hands
    or be unverified, so it never identifies anyone on its own.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="external_identities")
    issuer = models.CharField(max_length=500, help_text="The upstream provider's issuer URL (`iss`).")
    subject = models.CharField(max_length=255, help_text="The person's identifier at that provider (`sub`).")
    created = models.DateTimeField(auto_now_add=True)
    last_login = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "external identity"
        verbose_name_plural = "external identities"
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"], name="accounts_externalidentity_issuer_subject_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
