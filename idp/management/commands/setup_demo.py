from __future__ import annotations

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from idp.models import Application
from idp.services.apps import application_create

DEMO_EMAIL = "demo@example.com"
DEMO_APP_NAME = "Demo client"
# OpenID Foundation's debugger-style local callback, for trying the flow by hand.
DEMO_REDIRECT_URI = "http://127.0.0.1:8765/callback"


class Command(BaseCommand):
    help = "Create the demo user and the demo connected app if they do not exist, printing their credentials once."

    @transaction.atomic
    def handle(self, *args, **options):
        if User.objects.filter(email__iexact=DEMO_EMAIL).exists():
            self.stdout.write(f"Demo user {DEMO_EMAIL} exists (its password was printed when it was made).")
        else:
            password = secrets.token_urlsafe(12)
            User.objects.create_user(
                username="demo",
                email=DEMO_EMAIL,
                password=password,
                first_name="Demo",
                last_name="User",
                email_verified=True,
                is_staff=True,
                is_superuser=True,
            )
            self.stdout.write(self.style.SUCCESS("Created the demo user (an admin too):"))
            self.stdout.write(f"  Email:    {DEMO_EMAIL}\n  Password: {password}")

        if Application.objects.filter(name=DEMO_APP_NAME).exists():
            self.stdout.write(f"Demo app {DEMO_APP_NAME!r} exists (rotate its secret in the admin to see a new one).")
            return
        issued = application_create(
            name=DEMO_APP_NAME,
            redirect_uris=[DEMO_REDIRECT_URI],
            description="A sample client made by `make run`, for trying the authorization flow.",
            scopes=list(settings.OAUTH2_PROVIDER["SCOPES"]),
        )
        self.stdout.write(self.style.SUCCESS(f"Created the demo connected app {DEMO_APP_NAME!r}:"))
        for key, value in issued.as_setup().items():
            self.stdout.write(f"  {key + ':':<20}{value}")
        self.stdout.write(f"  {'redirect_uri:':<20}{DEMO_REDIRECT_URI}")
