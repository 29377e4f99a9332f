from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone
from oauth2_provider.models import clear_expired

from idp.authentication import authentication_contexts_clear
from idp.client_assertions import used_client_assertions_clear
from idp.models import RedeemedCode
from idp.services.client_keys import client_keys_prune

# Codes live 60 seconds; a replay a day later is still refused (the code is
# gone), there is just nothing left to revoke by then that expiry has not.
REDEEMED_CODE_RETENTION = timedelta(days=1)


class Command(BaseCommand):
    help = (
        "Delete expired tokens and codes (DOT's cleartokens), old records of redeemed codes, "
        "the jti of expired client assertions, the keys of apps that no longer exist, and "
        "how people logged in for tokens that can no longer exist. "
        "Schedule it, e.g. hourly, to keep the token tables bounded."
    )

    def handle(self, *args, **options):
        clear_expired()
        deleted, _ = RedeemedCode.objects.filter(redeemed_at__lt=timezone.now() - REDEEMED_CODE_RETENTION).delete()
        assertions = used_client_assertions_clear()
        keys = client_keys_prune()
        logins = authentication_contexts_clear()
        self.stdout.write(
            f"Cleared expired tokens and grants; removed {deleted} old redeemed-code record(s), "
            f"{assertions} expired client assertion(s), the keys of {keys} app(s) that no longer exist "
            f"and {logins} old login record(s)."
        )
