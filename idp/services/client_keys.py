"""How self-registered clients authenticate: their keys (private_key_jwt), recorded beside DOT's app."""

from __future__ import annotations

from django.db import transaction

from idp.client_metadata import ClientMetadata
from idp.models import Application, ClientKeys
from idp.services.apps import application_revoke_tokens


@transaction.atomic
def client_keys_record(*, client_id: str, metadata: ClientMetadata) -> None:
    """Record how a self-registered client authenticates: with its keys (private_key_jwt), or not at all.

    A client that stops using keys (its metadata now says `none`) has its
    refresh tokens revoked: they were issued to whoever held the private key,
    and must not become usable without it.
    """
    if metadata.uses_keys:
        ClientKeys.objects.update_or_create(
            client_id=client_id,
            defaults={
                "token_endpoint_auth_method": ClientKeys.Method.PRIVATE_KEY_JWT,
                "jwks_uri": metadata.jwks_uri,
                "jwks": metadata.jwks,
                "signing_alg": metadata.signing_alg,
            },
        )
        return
    deleted, _ = ClientKeys.objects.filter(client_id=client_id).delete()
    application = Application.objects.filter(client_id=client_id).first()
    if deleted and application is not None:
        application_revoke_tokens(
            application=application, reason="The app stopped authenticating with its keys (private_key_jwt)."
        )


def client_keys_prune() -> int:
    """Forget the keys of clients whose app is gone (deleted by an admin, or pruned)."""
    deleted, _ = ClientKeys.objects.exclude(
        client_id__in=Application.objects.exclude(registration_source=Application.RegistrationSource.MANUAL).values(
            "client_id"
        )
    ).delete()
    return deleted
