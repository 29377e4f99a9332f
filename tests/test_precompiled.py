"""config.precompiled: a query compiled once per thread and connection, run again with new values."""

from __future__ import annotations

import threading

from django.db import connection

from config.precompiled import Precompiled, instance_from
from tasks.models import Task
from tests.factories import TaskFactory


def test_a_query_is_compiled_once_per_thread_and_answers_for_each_value(user, other_user):
    mine, theirs = TaskFactory(owner=user, title="mine"), TaskFactory(owner=other_user, title="theirs")
    built = []

    def build(owner_id):
        built.append(owner_id)
        return Task.objects.filter(owner_id=owner_id).values_list("title", "created_at")

    titles = Precompiled(Task, build, (-1,))

    assert titles.rows(user.pk) == [("mine", mine.created_at)]
    assert titles.rows(other_user.pk) == [("theirs", theirs.created_at)]
    assert titles.rows(0) == []
    assert built == [-1]


def test_each_thread_compiles_on_its_own_connection(transactional_db, user):
    TaskFactory(owner=user, title="mine")
    titles = Precompiled(Task, lambda owner_id: Task.objects.filter(owner_id=owner_id).values_list("title"), (-1,))
    assert titles.rows(user.pk) == [("mine",)]
    seen = []

    def elsewhere():
        try:
            seen.append(titles.rows(user.pk))
            seen.append(titles._local.compiled[0] is not connection)
        finally:
            from django.db import connections

            connections.close_all()

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()

    assert seen == [[("mine",)], True]


def test_a_placeholder_the_compiled_query_does_not_carry_makes_it_run_through_the_orm(user):
    """Should Django compile a query without its placeholder among the parameters (inlined, or
    folded away), each call builds the query through the ORM: the same answer, just slower."""
    TaskFactory(owner=user, title="mine")
    built = []

    def build(title):
        built.append(title)
        return Task.objects.filter(owner=user, title=title).values_list("title") if title else Task.objects.none()

    titles = Precompiled(Task, build, ("",))

    assert titles.rows("mine") == [("mine",)]
    assert titles.rows("other") == []
    assert built == ["", "mine", "other"]


def test_a_row_that_a_left_join_did_not_find_is_no_instance(user):
    task = TaskFactory(owner=user)
    values = Task.objects.values_list(*(field.attname for field in Task._meta.concrete_fields)).get()

    assert instance_from(Task, values).title == task.title
    assert instance_from(Task, (None,) * len(values)) is None


def test_an_update_written_once_changes_what_queryset_update_would_and_says_how_many_rows(user, other_user):
    """config.precompiled.Update: the same row values as QuerySet.update (times, JSON, a foreign key by id),
    only where every condition holds, `IS NULL` ones included; the count of rows changed."""
    from datetime import UTC, datetime

    from config.precompiled import Update

    first, second = TaskFactory(owner=user, due_at=None), TaskFactory(owner=user, due_at=None)
    due = datetime(2026, 5, 1, 17, 0, tzinfo=UTC)
    move = Update(Task, columns=["owner", "title", "due_at"], where=["id"], where_null=["due_at"])

    assert move.run([other_user.pk, "Moved", due], [first.pk]) == 1
    assert move.run([other_user.pk, "Moved again", due], [first.pk]) == 0, "due_at is no longer NULL"

    Task.objects.filter(pk=second.pk).update(owner=other_user, title="Moved", due_at=due)
    ours, theirs = Task.objects.get(pk=first.pk), Task.objects.get(pk=second.pk)
    assert (ours.owner_id, ours.title, ours.due_at) == (theirs.owner_id, theirs.title, theirs.due_at)
    assert ours.due_at == due


def _columns(instance) -> dict:
    """Every stored column but the primary key and the clock's, read back from the database."""
    model = type(instance)
    skip = {model._meta.pk.attname, "created", "updated", "created_at"}
    row = model.objects.filter(pk=instance.pk).values().get()
    return {key: value for key, value in row.items() if key not in skip}


def test_an_insert_written_once_stores_what_save_would_and_gives_the_instance_its_id(user, application):
    """config.precompiled.Insert: the same row as Model.save (DOT's token checksum from the raw value,
    JSON, UUIDs, foreign keys, an IP address, auto_now and auto_now_add), the primary key set, the
    instance no longer `adding`."""
    import hashlib
    import uuid

    from django.utils import timezone
    from oauth2_provider.models import get_refresh_token_model, set_token_value

    from config.precompiled import Insert
    from idp.audit import AuditEvent

    RefreshToken = get_refresh_token_model()  # noqa: N806
    family = uuid.uuid4()

    def refresh_token(value: str):
        token = RefreshToken(user=user, application=application, token_family=family, resource=["https://r.example"])
        set_token_value(token, value)
        return token

    def audit_event():
        return AuditEvent(
            kind=AuditEvent.Kind.TOKEN_ISSUED, user=user, application=application, ip_address="2001:db8::1",
            user_agent="ua", details={"scope": "tasks:read", "resource": ["https://r.example"]},
        )  # fmt: skip

    before = timezone.now()
    for make in (refresh_token, lambda value: audit_event()):
        ours, theirs = make("ours"), make("theirs")
        Insert(type(ours)).save(ours)
        theirs.save()

        assert ours.pk is not None
        assert not ours._state.adding
        assert ours._state.db == "default"
        ours_row, theirs_row = _columns(ours), _columns(theirs)
        if isinstance(ours, RefreshToken):
            # RFC 9700 storage: the checksum of the value given, as DOT's TokenChecksumField computes it.
            assert ours_row.pop("token_checksum") == hashlib.sha256(b"ours").hexdigest()
            assert theirs_row.pop("token_checksum") == hashlib.sha256(b"theirs").hexdigest()
            ours_row.pop("token"), theirs_row.pop("token")
        assert ours_row == theirs_row
        stored = type(ours).objects.get(pk=ours.pk)
        assert (stored.created if isinstance(stored, RefreshToken) else stored.created_at) >= before


def test_an_insert_refuses_an_unsaved_related_object_as_save_does_and_leaves_a_set_primary_key_to_save(user):
    """Model.save's own rule for a related object not saved yet; an instance with its primary key set
    (an UPDATE or an insert with a chosen id) goes through save()."""
    import pytest

    from accounts.models import User
    from config.precompiled import Insert

    task = Task(owner=User(username="not-saved"), title="t")
    with pytest.raises(ValueError, match="unsaved related object"):
        Insert(Task).save(task)

    chosen = Task(pk=987654, owner=user, title="chosen id")
    Insert(Task).save(chosen)
    assert Task.objects.get(pk=987654).title == "chosen id"
