"""PostgreSQL prepares what a connection runs often (config.settings: DATABASE_PREPARED_STATEMENTS)."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.models import User

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's prepared statements")


@pytest.mark.django_db
def test_a_query_run_five_times_on_a_connection_is_prepared_and_then_planned_no_more():
    """psycopg prepares a statement on its 5th run (prepare_threshold); PostgreSQL keeps its plan."""
    for pk in range(8):
        list(User.objects.filter(pk=pk))

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]

    assert any('FROM "accounts_user" WHERE "accounts_user"."id" = $1' in statement for statement in prepared)
