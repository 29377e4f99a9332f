"""Queries the ORM compiles once per thread, then runs again with new values.

Some reads run on nearly every request and always have the same shape: the
first page of a person's tasks, the refresh token or code a token request
presents. For those, building the queryset and compiling it (joins,
`select_related`, subqueries) cost more CPU than the database spent running
it (benchmarks/README.md). A `Precompiled` query is built and compiled once
per thread and database connection, as Django's connections are per
thread, with placeholders where its values go; later calls run that SQL with
the values, and the compiler's own converters give each column the value the
ORM would (SQLite's times and UUIDs, JSON fields).

Django has no public API for this; what it uses of the compiler (`as_sql`,
its selected columns and their converters, as `results_iter` uses them) is
kept here, in one place. Should a Django
compile a query so that a placeholder does not appear exactly once among its
parameters, the query is run through the ORM on every call instead, with the
same answer. The tests of each query (tests/test_precompiled.py,
tests/tasks/test_selectors.py, tests/idp/test_token_rows.py) hold its rows
to the ORM's own answer.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections, router
from django.db.models import NOT_PROVIDED, Model, QuerySet
from django.db.models.sql.compiler import SQLCompiler


class Precompiled:
    """A `values_list` query compiled once per thread and connection, run with new values.

    `build(*values)` returns the queryset for those values (a `values_list`,
    whose rows are tuples); it is called with the placeholders to compile it,
    and with the real values when the ORM must run it instead. Each
    placeholder must be a value no real call passes, of the type the query
    compares it to.
    """

    def __init__(self, model: type[Model], build: Callable[..., QuerySet], placeholders: Sequence[Any]) -> None:
        self.model = model
        self.build = build
        self.placeholders = tuple(placeholders)
        self._local = threading.local()

    def rows(self, *values) -> list[tuple]:
        connection = connections[router.db_for_read(self.model)]
        compiled = self._compiled(connection)
        if compiled is None:  # a Django that compiles this query otherwise: the ORM, every time
            return list(self.build(*values))
        for slot, value in zip(compiled.slots, values, strict=True):
            compiled.params[slot] = value
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, compiled.params)
            fetched = cursor.fetchall()
        if compiled.converters:
            fetched = compiled.compiler.apply_converters(fetched, compiled.converters)
        return [tuple(row) for row in fetched]

    def _compiled(self, connection) -> _Compiled | None:
        kept = getattr(self._local, "compiled", None)
        if kept is not None and kept[0] is connection:
            return kept[1]
        compiler = self.build(*self.placeholders).query.get_compiler(connection=connection)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            sql, params = "", ()
        params = list(params)
        slots = [index for placeholder in self.placeholders for index, p in enumerate(params) if p == placeholder]
        # What results_iter() works out on every call (each column's converters), worked out once.
        columns = [selected[0] for selected in compiler.select[: compiler.col_count]]
        ready = None
        if sql and len(slots) == len(self.placeholders) and not compiler.has_composite_fields(columns):
            ready = _Compiled(compiler, sql, params, slots, compiler.get_converters(columns))
        self._local.compiled = (connection, ready)
        return ready


@dataclass
class _Compiled:
    compiler: SQLCompiler
    sql: str
    params: list  # this thread's own: each call puts its values in the slots
    slots: list[int]
    converters: dict


@functools.cache
def concrete_attnames(model: type[Model], prefix: str = "") -> tuple[str, ...]:
    """The columns of `model`, in the order `Model.from_db` takes them, as a `values_list` names them."""
    return tuple(prefix + field.attname for field in model._meta.concrete_fields)


def instance_from(model: type[Model], values: Sequence[Any], using: str | None = None) -> Model | None:
    """The instance of `model` that a row's slice of its columns (concrete_attnames) describes,
    built as the ORM builds it (`Model.from_db`); None for a LEFT JOIN that found nothing."""
    if values[_pk_position(model)] is None:
        return None
    return model.from_db(using or router.db_for_read(model), concrete_attnames(model), values)


@functools.cache
def _pk_position(model: type[Model]) -> int:
    return model._meta.concrete_fields.index(model._meta.pk)


class Update:
    """`UPDATE <model's table> SET <columns> WHERE <columns> = ... [AND <columns> IS NULL]`, written once per
    database from the model's fields; each call sends only its values, prepared by each field as
    `QuerySet.update` prepares them (`get_db_prep_save`). Returns how many rows changed.

    For the token endpoint's UPDATEs, whose building and compiling through
    `QuerySet.update` cost more than the database spent on them. Like
    `QuerySet.update`, it sends no signal and leaves `auto_now` fields alone.
    Foreign keys are set and compared by their column (`user_id`), with ids.
    """

    def __init__(
        self, model: type[Model], *, columns: Sequence[str], where: Sequence[str], where_null: Sequence[str] = ()
    ) -> None:
        self.model = model
        self.set_fields = [model._meta.get_field(name) for name in columns]
        self.where_fields = [model._meta.get_field(name) for name in where]
        self.null_fields = [model._meta.get_field(name) for name in where_null]
        self._sql: dict[str, str] = {}

    def run(self, set_values: Sequence[Any], where_values: Sequence[Any]) -> int:
        connection = connections[router.db_for_write(self.model)]
        sql = self._sql.get(connection.alias) or self._sql.setdefault(connection.alias, self._written(connection))
        params = [
            field.get_db_prep_save(value, connection) for field, value in zip(self.set_fields, set_values, strict=True)
        ] + [
            field.get_db_prep_value(value, connection)
            for field, value in zip(self.where_fields, where_values, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

    def _written(self, connection) -> str:
        quote = connection.ops.quote_name
        columns = ", ".join(f"{quote(field.column)} = %s" for field in self.set_fields)
        conditions = [f"{quote(field.column)} = %s" for field in self.where_fields]
        conditions += [f"{quote(field.column)} IS NULL" for field in self.null_fields]
        # Only names of the model's own table and fields, quoted; every value is a parameter.
        return f"UPDATE {quote(self.model._meta.db_table)} SET {columns} WHERE {' AND '.join(conditions)}"  # noqa: S608


class Insert:
    """`INSERT INTO <model's table> (<its columns>) VALUES (...) RETURNING <pk>`, written once per database;
    `save(instance)` stores a new instance as `instance.save()` would, without the ORM's per-save work.

    `Model.save` builds and compiles its INSERT and walks the save machinery
    on every call: about a quarter of a served refresh's CPU for its three
    INSERTs (benchmarks/README.md, finding 11). Each field still prepares its
    own value (`pre_save` with `add=True`, so `auto_now`, `auto_now_add` and
    DOT's token checksum apply, then `get_db_prep_save`), and the primary key
    comes back from the database. Like `QuerySet.bulk_create`, it sends no
    `pre_save`/`post_save` signal, so use it only for a model no receiver
    listens to. A model whose fields it does not handle (a database default,
    a generated column, a primary key set by hand) is saved with `save()`.
    """

    def __init__(self, model: type[Model]) -> None:
        self.model = model
        meta = model._meta
        self.pk = meta.pk
        self.fields = [field for field in meta.concrete_fields if field is not meta.pk]
        self.handled = meta.pk.db_returning and not any(
            field.generated or field.db_default is not NOT_PROVIDED for field in meta.concrete_fields
        )
        self._sql: dict[str, str] = {}

    def save(self, instance: Model) -> None:
        connection = connections[router.db_for_write(self.model)]
        if (
            not self.handled
            or not connection.features.can_return_columns_from_insert
            or instance.pk is not None
            or not instance._state.adding
        ):
            instance.save()
            return
        # As Model.save: a related object saved after it was set gives its id now; an unsaved one is refused.
        instance._prepare_related_fields_for_save(operation_name="save")
        sql = self._sql.get(connection.alias) or self._sql.setdefault(connection.alias, self._written(connection))
        params = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in self.fields]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            (value,) = cursor.fetchone()
        for converter in self.pk.get_db_converters(connection):
            value = converter(value, self.pk, connection)
        setattr(instance, self.pk.attname, value)
        instance._state.adding = False
        instance._state.db = connection.alias

    def _written(self, connection) -> str:
        quote = connection.ops.quote_name
        columns = ", ".join(quote(field.column) for field in self.fields)
        values = ", ".join(["%s"] * len(self.fields))
        # Only names of the model's own table and fields, quoted; every value is a parameter.
        return (
            f"INSERT INTO {quote(self.model._meta.db_table)} ({columns}) VALUES ({values}) "  # noqa: S608
            f"RETURNING {quote(self.pk.column)}"
        )
