from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone
from oauth2_provider.models import clear_expired

from idp.models import RedeemedCode

# Codes live 60 seconds; a replay a day later is still refused (the code is
# gone), there is just nothing left to revoke by then that expiry has not.
REDEEMED_CODE_RETENTION = timedelta(days=1)


class Command(BaseCommand):
    help = (
        "Delete expired tokens and codes (DOT's cleartokens) and old records of redeemed codes. "
        "Schedule it, e.g. hourly, to keep the token tables bounded."
    )

    def handle(self, *args, **options):
        clear_expired()
        deleted, _ = RedeemedCode.objects.filter(redeemed_at__lt=timezone.now() - REDEEMED_CODE_RETENTION).delete()
        self.stdout.write(f"Cleared expired tokens and grants; removed {deleted} old redeemed-code record(s).")
