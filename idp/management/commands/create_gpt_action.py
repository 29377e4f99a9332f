from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from config.validation import validation_sentence
from idp.services.gpt_actions import GPT_ACTION_TOKEN_EXCHANGE_METHOD, application_create_for_gpt_action


class Command(BaseCommand):
    help = (
        "Create a connected app for a custom GPT's action and print every field of the GPT editor's "
        "OAuth form (client ID, secret shown once, URLs, scope, token exchange method) and the schema URL."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Shown to people on the consent page, e.g. 'My tasks GPT'.")
        parser.add_argument(
            "--callback-url",
            metavar="URL",
            help="The Callback URL the GPT editor shows after saving the OAuth fields "
            "(https://chatgpt.com/aip/<GPT id>/oauth/callback). Leave it out to add it later "
            "with add_gpt_callback.",
        )
        parser.add_argument(
            "--scope",
            default=" ".join(settings.TASK_SCOPES),
            help='Space-separated scopes the GPT may ask for (default: "%(default)s").',
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args, **options):
        try:
            issued = application_create_for_gpt_action(
                name=options["name"], callback_url=options["callback_url"], scopes=options["scope"].split()
            )
        except ValidationError as error:
            raise CommandError(f"Nothing was created. {validation_sentence(error)}") from None
        setup = {
            **issued.as_setup(),
            "scope": issued.application.gpt_action_scope,
            "token_exchange_method": GPT_ACTION_TOKEN_EXCHANGE_METHOD,
            "schema_url": settings.SITE_URL + reverse("api:schema"),
        }
        if options["json"]:
            self.stdout.write(json.dumps(setup))
            return
        application = issued.application
        self.stdout.write(self.style.SUCCESS(f"Created the GPT Action app {application.name!r}."))
        self.stdout.write("\nIn the GPT editor: Configure > Actions > Create new action.")
        self.stdout.write(f"\n1. Import from URL:          {setup['schema_url']}")
        self.stdout.write("\n2. Authentication > OAuth, and fill in:")
        for label, key in [
            ("Client ID", "client_id"),
            ("Client Secret", "client_secret"),
            ("Authorization URL", "authorization_url"),
            ("Token URL", "token_url"),
            ("Scope", "scope"),
            ("Token Exchange Method", "token_exchange_method"),
        ]:
            self.stdout.write(f"   {label + ':':<26}{setup[key]}")
        self.stdout.write(self.style.WARNING("   Copy the secret now: it is stored hashed and cannot be shown again."))
        self.stdout.write("   (Basic authorization header works as well as the default.)")
        self.stdout.write("\n3. Save. The editor then shows a Callback URL.")
        if options["callback_url"]:
            self.stdout.write("   Registered as callback URLs:")
            for uri in application.redirect_uri_list():
                self.stdout.write(f"     {uri}")
            self.stdout.write(
                "   If the editor shows another one (it changes when the OAuth settings change), add it with:"
            )
        else:
            self.stdout.write("   Register it (both chat.openai.com and chatgpt.com forms are added) with:")
        self.stdout.write(
            f"     python manage.py add_gpt_callback --client-id {application.client_id} --callback-url <Callback URL>"
        )
        self.stdout.write(f"\nPrivacy policy URL (needed to publish the GPT): {settings.SITE_URL}{reverse('privacy')}")
