"""Where counted activity goes: Redis between roll-ups, then hourly rows (ActivityCount, ActivityPerson).

With REDIS_URL, each process's flush is one pipeline: HINCRBY per figure on
the hour's hash (`<app id>|<metric>`), SADD of `<app id>|<user id>` on the
hour's set of people, and the hour noted in a set of hours to roll up.
`rollup` takes each noted hour's hash and set out of Redis atomically
(MULTI: read, delete, forget the hour) and adds them to the rows, so that
running it twice counts nothing twice, and a flush that arrives meanwhile
stays for the next run. Without Redis, flushes add to the rows directly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from config.cache import ProcessConnectionPool
from idp.activity.counting import Key, Person
from idp.models import ActivityCount, ActivityPerson

PREFIX = "taskgate:activity:"
HOURS = PREFIX + "hours"


def _counts_key(hour: int) -> str:
    return f"{PREFIX}counts:{hour}"


def _people_key(hour: int) -> str:
    return f"{PREFIX}people:{hour}"


def hour_start(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, tz=UTC)


def redis_client() -> redis.Redis | None:
    if not settings.REDIS_URL:
        return None
    return redis.Redis(connection_pool=ProcessConnectionPool.from_url(settings.REDIS_URL))


def write(counts: Mapping[Key, int], people: Iterable[Person]) -> None:
    client = redis_client()
    if client is None:
        add_to_rows(counts, people)
    else:
        _write_redis(client, counts, people)


def _write_redis(client: redis.Redis, counts: Mapping[Key, int], people: Iterable[Person]) -> None:
    # Kept no longer than the rows would be, should rollup_activity never run.
    ttl = settings.ACTIVITY_RETENTION_DAYS * 86400
    pipe = client.pipeline(transaction=False)
    hours = set()
    for (hour, app_id, metric), amount in counts.items():
        pipe.hincrby(_counts_key(hour), f"{app_id}|{metric}", amount)
        hours.add(hour)
    for hour, app_id, user_id in people:
        pipe.sadd(_people_key(hour), f"{app_id}|{user_id}")
        hours.add(hour)
    for hour in hours:
        pipe.expire(_counts_key(hour), ttl)
        pipe.expire(_people_key(hour), ttl)
    if hours:
        pipe.sadd(HOURS, *hours)
        pipe.execute()


def add_to_rows(counts: Mapping[Key, int], people: Iterable[Person]) -> None:
    """Add counts to the hourly rows (an upsert that adds, safe beside another process doing the same)."""
    with transaction.atomic():
        for (hour, app_id, metric), amount in counts.items():
            row = ActivityCount.objects.filter(hour=hour_start(hour), app_id=app_id, metric=metric)
            if row.update(count=F("count") + amount):
                continue
            try:
                with transaction.atomic():
                    ActivityCount.objects.create(hour=hour_start(hour), app_id=app_id, metric=metric, count=amount)
            except IntegrityError:
                # Another process made the row between our update and our insert.
                row.update(count=F("count") + amount)
        ActivityPerson.objects.bulk_create(
            [ActivityPerson(hour=hour_start(hour), app_id=app_id, user_id=user_id) for hour, app_id, user_id in people],
            ignore_conflicts=True,
        )


@dataclass(frozen=True)
class Rollup:
    hours: int
    figures: int


def rollup() -> Rollup:
    """Move the counts in Redis into the hourly rows; without Redis they are there already."""
    from idp.activity.counting import flush

    flush()  # this process's own counts, if it made any
    client = redis_client()
    if client is None:
        return Rollup(hours=0, figures=0)
    hours = figures = 0
    for raw in sorted(client.smembers(HOURS)):
        hour = int(raw)
        pipe = client.pipeline(transaction=True)
        pipe.hgetall(_counts_key(hour))
        pipe.smembers(_people_key(hour))
        pipe.delete(_counts_key(hour), _people_key(hour))
        pipe.srem(HOURS, raw)
        fields, members, _, _ = pipe.execute()
        counts: Counter[Key] = Counter()
        for field, value in fields.items():
            app_id, _, metric = field.decode().partition("|")
            counts[hour, int(app_id), metric] += int(value)
        people = set()
        for member in members:
            app_id, _, user_id = member.decode().partition("|")
            people.add((hour, int(app_id), int(user_id)))
        try:
            add_to_rows(counts, people)
        except Exception:
            # Put them back for the next run rather than lose them.
            _write_redis(client, counts, people)
            raise
        hours += 1
        figures += sum(counts.values())
    return Rollup(hours=hours, figures=figures)


def activity_prune(*, older_than_days: int) -> int:
    """Delete activity records and hourly rows older than `older_than_days` days; returns how many went."""
    from datetime import timedelta

    from django.utils import timezone

    from idp.models import ActivityRecord

    cutoff = timezone.now() - timedelta(days=older_than_days)
    records, _ = ActivityRecord.objects.filter(created_at__lt=cutoff).delete()
    counts, _ = ActivityCount.objects.filter(hour__lt=cutoff).delete()
    people, _ = ActivityPerson.objects.filter(hour__lt=cutoff).delete()
    return records + counts + people
