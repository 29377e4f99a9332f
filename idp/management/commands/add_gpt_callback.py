from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from config.validation import validation_sentence
from idp.models import Application
from idp.services.gpt_actions import application_add_gpt_action_callback


class Command(BaseCommand):
    help = (
        "Register the Callback URL the GPT editor shows for an app made by create_gpt_action "
        "(both its chat.openai.com and chatgpt.com forms)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client-id", required=True, help="The app's client ID.")
        parser.add_argument(
            "--callback-url", required=True, metavar="URL", help="e.g. https://chatgpt.com/aip/g-abc123/oauth/callback"
        )

    def handle(self, *args, **options):
        application = Application.objects.filter(client_id=options["client_id"]).first()
        if application is None:
            raise CommandError(f"No app has the client ID {options['client_id']!r}.")
        try:
            application_add_gpt_action_callback(application=application, callback_url=options["callback_url"])
        except ValidationError as error:
            raise CommandError(f"Nothing was changed. {validation_sentence(error)}") from None
        self.stdout.write(self.style.SUCCESS(f"{application.name!r} now accepts these callback URLs:"))
        for uri in application.redirect_uri_list():
            self.stdout.write(f"  {uri}")
