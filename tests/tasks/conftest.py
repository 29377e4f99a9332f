from __future__ import annotations

import pytest

from tests.fixtures import issue_access_token

BOTH_SCOPES = "tasks:read tasks:write"


@pytest.fixture
def token(user, application) -> str:
    """A bearer token of `user` with both task scopes, for the REST API (no resource)."""
    raw, _ = issue_access_token(user=user, application=application, scope=BOTH_SCOPES)
    return raw


@pytest.fixture
def api(client, token):
    """Calls the API with `token` (or `token=None` for none); JSON in, Django test response out."""

    def call(method: str, path: str, body=None, *, token: str | None = token, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        kwargs.setdefault("content_type", "application/json")
        # No body is an empty one, as real clients send it (not Django's "None" or "{}").
        return getattr(client, method.lower())(path, "" if body is None else body, headers=headers, **kwargs)

    return call
