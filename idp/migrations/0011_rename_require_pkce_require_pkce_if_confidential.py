from django.db import migrations


class Migration(migrations.Migration):
    """Application.require_pkce is the admin's choice for confidential clients; the rule applied is pkce_required."""

    dependencies = [
        ("idp", "0010_authenticationcontext_id_token_jti"),
    ]

    operations = [
        migrations.RenameField(
            model_name="application",
            old_name="require_pkce",
            new_name="require_pkce_if_confidential",
        ),
    ]
