"""/privacy: the privacy policy a published custom GPT links to."""

from __future__ import annotations

from http import HTTPStatus

import pytest


@pytest.mark.django_db
def test_the_privacy_page_has_a_default_policy_in_the_site_layout(client):
    response = client.get("/privacy")

    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert "<h1>Privacy policy</h1>" in html
    assert "We do not sell your data" in html
    assert 'class="site-header"' in html


@pytest.mark.django_db
def test_privacy_policy_text_replaces_the_default_escaped_in_paragraphs(client, settings):
    settings.PRIVACY_POLICY_TEXT = "Example Ltd runs this site.\n\nWrite to <privacy@example.com>."

    html = client.get("/privacy").content.decode()

    assert "<p>Example Ltd runs this site.</p>" in html
    assert "<p>Write to &lt;privacy@example.com&gt;.</p>" in html
    assert "We do not sell your data" not in html
