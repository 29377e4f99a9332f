from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from idp.keys import write_rsa_key


class Command(BaseCommand):
    help = "Write a new 2048-bit RSA private key (PEM) for signing ID tokens, readable by its owner only."

    def add_arguments(self, parser):
        parser.add_argument("path", help="Where to write the key; an existing file is never overwritten.")

    def handle(self, *args, path: str, **options):
        try:
            write_rsa_key(path)
        except FileExistsError:
            raise CommandError(f"{path} exists already; it was left as it is.") from None
        except OSError as exc:
            raise CommandError(f"Could not write {path}: {exc.strerror}.") from None
        self.stdout.write(f"Wrote a new signing key to {path}. Point OIDC_RSA_PRIVATE_KEY_FILE at it.")
