"""Two first logins of one upstream account at the same instant (two callbacks racing to create it)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from accounts import services
from accounts.models import ExternalIdentity, User

ISSUER = "https://upstream.example.com/"
CLAIMS = {"sub": "upstream-user-1", "email": "racer@example.com", "email_verified": True, "given_name": "Ada"}


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_first_logins_end_as_one_user(monkeypatch):
    """Both get past "no account yet" before either creates it; both end logged in as the same single user."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's IMMEDIATE transactions run one at a time: two first logins cannot overlap there")
    both_checked = threading.Barrier(2, timeout=10)
    original = services._available_username

    def after_both_looked(claims, email):
        both_checked.wait()
        return original(claims, email)

    monkeypatch.setattr(services, "_available_username", after_both_looked)
    results: list = []

    def first_login():
        try:
            results.append(
                services.external_identity_login(
                    issuer=ISSUER, claims=CLAIMS, create_users=True, link_by_verified_email=False
                )
            )
        except Exception as error:  # noqa: BLE001 - the test reports whatever happened
            results.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=first_login) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert User.objects.filter(email__iexact=CLAIMS["email"]).count() == 1
    assert ExternalIdentity.objects.filter(issuer=ISSUER, subject=CLAIMS["sub"]).count() == 1
    user = User.objects.get(email__iexact=CLAIMS["email"])
    for result in results:
        # One made the account, the other found it once the first committed. Neither is a 500.
        assert result == user or (
            isinstance(result, services.UpstreamLoginError) and result.reason == "concurrent_first_login"
        ), result
    assert user in results
