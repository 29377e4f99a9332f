from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from config.validation import validation_sentence
from idp.services.apps import application_create


class Command(BaseCommand):
    help = (
        "Create a connected app (an OAuth client) and print what its developer needs: "
        "client ID, secret (shown once), authorization URL, token URL and scopes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Shown to people on the consent page.")
        parser.add_argument(
            "--redirect-uri",
            action="append",
            dest="redirect_uris",
            required=True,
            metavar="URI",
            help="An exact redirect URI (https, or http on a loopback address). Repeat for several.",
        )
        parser.add_argument("--public", action="store_true", help="A client that cannot keep a secret.")
        parser.add_argument(
            "--no-pkce",
            action="store_true",
            help="Do not require PKCE (confidential clients only, e.g. GPT Actions).",
        )
        parser.add_argument(
            "--scope", default="", help='Space-separated scopes the app may ask for, e.g. "openid tasks:read".'
        )
        parser.add_argument("--first-party", action="store_true", help="Our own app: skip the consent page.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, **options):
        if options["no_pkce"] and options["public"]:
            raise CommandError("--no-pkce cannot be used with --public: PKCE is a public client's only proof.")
        try:
            issued = application_create(
                name=options["name"],
                redirect_uris=options["redirect_uris"],
                public=options["public"],
                require_pkce_if_confidential=not options["no_pkce"],
                scopes=options["scope"].split(),
                first_party=options["first_party"],
            )
        except ValidationError as error:
            raise CommandError(f"Nothing was created. {validation_sentence(error)}") from None
        setup = issued.as_setup()
        if options["json"]:
            self.stdout.write(json.dumps(setup))
            return
        self.stdout.write(self.style.SUCCESS(f"Created connected app {issued.application.name!r}."))
        self.print_setup(setup)

    def print_setup(self, setup: dict[str, str | None]) -> None:
        labels = {
            "client_id": "Client ID",
            "client_secret": "Client secret",
            "authorization_url": "Authorization URL",
            "token_url": "Token URL",
            "scope": "Scope",
        }
        for key, label in labels.items():
            value = setup.get(key)
            if key == "client_secret" and value is None:
                value = "(none: a public client uses PKCE)"
            self.stdout.write(f"  {label + ':':<20}{value}")
        if setup.get("client_secret"):
            self.stdout.write(
                self.style.WARNING("  Copy the secret now: it is stored hashed and cannot be shown again.")
            )
