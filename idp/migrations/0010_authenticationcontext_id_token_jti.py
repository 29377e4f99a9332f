"""A login copied to an ID token names the ID token's jti in a column of its own, so that the
statement reading a refresh or an access token finds it by a plain comparison (idp.token_rows)."""

import uuid

from django.db import migrations, models


def name_the_jti_of_existing_logins(apps, schema_editor):
    AuthenticationContext = apps.get_model("idp", "AuthenticationContext")
    for row in AuthenticationContext.objects.filter(key__startswith="jti:", id_token_jti__isnull=True).iterator():
        try:
            row.id_token_jti = uuid.UUID(row.key.removeprefix("jti:"))
        except ValueError:
            continue
        row.save(update_fields=["id_token_jti"])


class Migration(migrations.Migration):
    dependencies = [
        ("idp", "0009_audit_second_factors_authentication_context"),
    ]

    operations = [
        migrations.AddField(
            model_name="authenticationcontext",
            name="id_token_jti",
            field=models.UUIDField(blank=True, null=True, unique=True),
        ),
        migrations.RunPython(name_the_jti_of_existing_logins, migrations.RunPython.noop),
    ]
