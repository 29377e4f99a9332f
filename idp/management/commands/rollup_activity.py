from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from idp.activity.store import rollup


class Command(BaseCommand):
    help = (
        "Move the activity counts (calls, tool calls, refusals, errors, tokens, people per app and hour) "
        "from Redis into hourly rows. Run it like clear_expired, e.g. every few minutes from cron: "
        "running it again counts nothing twice. Without REDIS_URL the processes write the rows themselves."
    )

    def handle(self, *args, **options):
        try:
            done = rollup()
        except RedisError as error:
            raise CommandError(f"Redis could not be read ({error}); the counts stay there for the next run.") from None
        self.stdout.write(f"Rolled up {done.figures} count(s) of {done.hours} hour(s) into the hourly rows.")
