from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from idp.activity.store import activity_prune
from idp.audit import audit_prune


class Command(BaseCommand):
    help = (
        "Delete audit events older than AUDIT_RETENTION_DAYS days (or --days), and activity records and "
        "counts older than ACTIVITY_RETENTION_DAYS. Run it daily, e.g. from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            help="Keep this many days instead of AUDIT_RETENTION_DAYS (%(default)s).",
            default=settings.AUDIT_RETENTION_DAYS,
        )

    def handle(self, *args, **options):
        raw = options["days"]
        try:
            days = int(raw)
        except (TypeError, ValueError):
            raise CommandError(
                f"--days must be a whole number of days, 1 or more; got {raw!r}. Nothing was deleted."
            ) from None
        try:
            deleted = audit_prune(older_than_days=days)
        except ValidationError as error:
            raise CommandError(f"{' '.join(error.messages)} Nothing was deleted.") from None
        self.stdout.write(f"Deleted {deleted} audit event(s) older than {days} day(s).")
        activity_days = settings.ACTIVITY_RETENTION_DAYS
        pruned = activity_prune(older_than_days=activity_days)
        self.stdout.write(f"Deleted {pruned} activity record(s) and count(s) older than {activity_days} day(s).")
