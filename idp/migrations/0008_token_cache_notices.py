"""PostgreSQL tells every process when a token may have ended (idp.token_cache).

After an UPDATE, DELETE or TRUNCATE of access tokens, users, apps or
consents, one `pg_notify` per statement on the channel `taskgate_token_cache`
names the rows (`t:`, `u:` or `a:` and their ids) or, for more than fit in a
notice and for TRUNCATE, says `*` (everything). An UPDATE that changed only
a "last used" or "last login" time is not sent. PostgreSQL delivers notices
when the transaction commits, and not at all if it rolls back.

Nothing on SQLite, which has no notices: the cache is off there.
"""

from django.conf import settings
from django.db import migrations

CHANNEL = "taskgate_token_cache"

FUNCTION = f"""
CREATE OR REPLACE FUNCTION taskgate_token_cache_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids text;
    unimportant text[] := string_to_array(coalesce(TG_ARGV[2], ''), ',');
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('{CHANNEL}', '*');
        RETURN NULL;
    ELSIF TG_OP = 'UPDATE' THEN
        EXECUTE format(
            'SELECT string_agg(DISTINCT o.%1$I::text, '','') FROM old_rows o JOIN new_rows n ON n.id = o.id '
            'WHERE (to_jsonb(o) - $1) IS DISTINCT FROM (to_jsonb(n) - $1)',
            TG_ARGV[1]
        ) INTO ids USING unimportant;
    ELSE
        EXECUTE format('SELECT string_agg(DISTINCT %1$I::text, '','') FROM old_rows', TG_ARGV[1]) INTO ids;
    END IF;
    IF ids IS NULL THEN
        RETURN NULL;
    END IF;
    -- A notice holds at most 8000 bytes: beyond, everything is dropped.
    IF length(ids) > 7900 THEN
        PERFORM pg_notify('{CHANNEL}', '*');
    ELSE
        PERFORM pg_notify('{CHANNEL}', TG_ARGV[0] || ':' || ids);
    END IF;
    RETURN NULL;
END
$$;
"""

# (app label, model, notice kind, id column, columns whose change alone ends no token, on UPDATE too)
WATCHED = [
    ("oauth2_provider", "AccessToken", "t", "id", "", True),
    ("accounts", "User", "u", "id", "last_login", True),
    ("idp", "Application", "a", "id", "last_used_at,updated", True),
    # A consent's "last used" and scopes end nothing; its deletion goes with the end of its tokens.
    ("idp", "Consent", "u", "user_id", "", False),
]


def _statements(apps, create: bool) -> list[str]:
    statements = [FUNCTION] if create else []
    for app_label, model_name, kind, column, unimportant, on_update in WATCHED:
        table = apps.get_model(app_label, model_name)._meta.db_table
        arguments = f"'{kind}', '{column}', '{unimportant}'"
        events = [("delete", "AFTER DELETE", "REFERENCING OLD TABLE AS old_rows"), ("truncate", "AFTER TRUNCATE", "")]
        if on_update:
            events.append(("update", "AFTER UPDATE", "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"))
        for name, event, referencing in events:
            trigger = f'"taskgate_token_cache_{name}"'
            statements.append(f'DROP TRIGGER IF EXISTS {trigger} ON "{table}"')
            if create:
                statements.append(
                    f'CREATE TRIGGER {trigger} {event} ON "{table}" {referencing} '
                    f"FOR EACH STATEMENT EXECUTE FUNCTION taskgate_token_cache_notify({arguments})"
                )
    if not create:
        statements.append("DROP FUNCTION IF EXISTS taskgate_token_cache_notify()")
    return statements


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in _statements(apps, create=True):
            schema_editor.execute(statement, params=None)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in _statements(apps, create=False):
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("idp", "0007_audit_app_deleted_email_changed"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
