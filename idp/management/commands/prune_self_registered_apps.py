from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from idp.services.apps import self_registered_applications_prune

# Longer than a refresh token lives (30 days), so a client that could still
# refresh is never cut off by the default.
DEFAULT_UNUSED_DAYS = 90


class Command(BaseCommand):
    help = (
        "Delete the apps clients registered themselves (Dynamic Client Registration or a Client ID Metadata "
        "Document) that have got no token for --unused-days days, with their tokens. Apps made by hand are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--unused-days",
            type=int,
            default=DEFAULT_UNUSED_DAYS,
            metavar="N",
            help=f"Delete apps that got no token in the last N days (default {DEFAULT_UNUSED_DAYS}).",
        )

    def handle(self, *args, **options):
        try:
            count = self_registered_applications_prune(unused_days=options["unused_days"])
        except ValidationError as error:
            raise CommandError(f"Nothing was deleted. {' '.join(error.messages)}") from None
        self.stdout.write(f"Deleted {count} self-registered app(s) unused for {options['unused_days']} days.")
