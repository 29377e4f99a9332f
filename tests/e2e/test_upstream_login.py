"""Two live Taskgates on loopback: one is the other's upstream OpenID provider.

The "upstream" runs on `localhost` with its own SQLite database, signing key
and secret key; the "broker" runs on 127.0.0.1 against the test database with
UPSTREAM_OIDC_* pointing at the upstream. (Browsers key cookies by host, not
port, so the two hosts keep their sessions apart; the cookie names differ too.)
A person logs in at the upstream through the broker's button, approves both
consent pages, and the broker's client (Authlib) gets tokens naming the
brokered local user, never the upstream's subject.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from http import HTTPStatus
from urllib.parse import parse_qsl, urljoin, urlsplit

import jwt
import pytest
import requests

from tests.live import BASE_DIR, LiveServer, free_port

pytestmark = pytest.mark.live

UPSTREAM_NAME = "Upstream Taskgate"
CLIENT_REDIRECT_URI = "http://127.0.0.1:9/callback"  # never served: the client only reads the Location header
CLIENT_SCOPE = "openid email profile tasks:read"
PEOPLE = {
    "grace": ("grace@upstream.example", "Grace", "Hopper"),
    "alan": ("alan@upstream.example", "Alan", "Turing"),
}
UPSTREAM_PASSWORD = "upstream password " + secrets.token_urlsafe(8)
# Both instances log everything (every logger of ours at DEBUG, the access log on), so that
# the last test can search both logs for the credentials of a whole brokered login.
DEBUG_LOGS = {"DJANGO_LOG_LEVEL": "DEBUG"}


@dataclass
class Instances:
    broker: LiveServer
    upstream: LiveServer
    upstream_client_secret: str
    upstream_subjects: dict[str, str]


UPSTREAM_SETUP = """
import io, json
from django.core.management import call_command
from accounts.models import User
call_command("migrate", "--noinput", verbosity=0)
subjects = {{}}
for username, (email, first_name, last_name) in {people!r}.items():
    user = User.objects.create_user(
        username=username, email=email, password={password!r},
        first_name=first_name, last_name=last_name, email_verified=True,
    )
    subjects[username] = str(user.sub)
out = io.StringIO()
call_command(
    "create_connected_app", "--name", "Taskgate broker", "--redirect-uri", {redirect_uri!r},
    "--scope", "openid email profile", "--json", stdout=out,
)
print(json.dumps({{"subjects": subjects, "registration": json.loads(out.getvalue())}}))
"""


def run_manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def instances(django_db_setup, django_db_blocker, tmp_path_factory):
    from idp.keys import write_rsa_key

    tmp = tmp_path_factory.mktemp("upstream")
    write_rsa_key(str(tmp / "upstream-signing-key.pem"))
    broker_port = free_port()
    broker_url = f"http://127.0.0.1:{broker_port}"

    # Its own database, keys and cookie: nothing shared with the broker but HTTP.
    upstream = LiveServer(
        host="localhost",
        port=free_port(),
        log_path=tmp / "upstream.log",
        extra_env={
            "DATABASE_URL": f"sqlite:///{tmp / 'upstream.sqlite3'}",
            "OIDC_RSA_PRIVATE_KEY_FILE": str(tmp / "upstream-signing-key.pem"),
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_SESSION_COOKIE_NAME": "upstream_session",
            **DEBUG_LOGS,
        },
    )
    # One process (Django starts slowly): its tables, two people, and the broker's
    # registration, made with create_connected_app as an operator would.
    setup = json.loads(
        run_manage(
            {**os.environ, "SITE_URL": upstream.url, **upstream.extra_env},
            "shell",
            "--no-imports",
            "-c",
            UPSTREAM_SETUP.format(
                people=PEOPLE,
                password=UPSTREAM_PASSWORD,
                redirect_uri=f"{broker_url}/accounts/upstream/callback/",
            ),
        ).splitlines()[-1]
    )
    registration = setup["registration"]
    upstream.start()

    broker = LiveServer(
        port=broker_port,
        log_path=tmp / "broker.log",
        extra_env={
            "UPSTREAM_OIDC_ISSUER": upstream.url,
            "UPSTREAM_OIDC_CLIENT_ID": registration["client_id"],
            "UPSTREAM_OIDC_CLIENT_SECRET": registration["client_secret"],
            "UPSTREAM_OIDC_NAME": UPSTREAM_NAME,
            **DEBUG_LOGS,
        },
    )
    with django_db_blocker.unblock():
        broker.start()
    yield Instances(
        broker=broker,
        upstream=upstream,
        upstream_client_secret=registration["client_secret"],
        upstream_subjects=setup["subjects"],
    )
    broker.stop()
    upstream.stop()


# --- A browser, driven by hand ---------------------------------------------------------------


class PageParser(HTMLParser):
    """The forms (with their inputs) and links of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.links: dict[str, str] = {}
        self._form: dict | None = None
        self._href: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self._form = {"id": attributes.get("id"), "action": attributes.get("action") or "", "fields": {}}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and attributes.get("name"):
            self._form["fields"][attributes["name"]] = attributes.get("value") or ""
        elif tag == "a":
            self._href = attributes.get("href")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "a":
            self._href = None

    def handle_data(self, data):
        if self._href and data.strip():
            self.links[data.strip()] = self._href


def parse(response: requests.Response) -> PageParser:
    parser = PageParser()
    parser.feed(response.text)
    return parser


class Browser:
    """One person's browser: a cookie jar that follows redirects until the client's redirect URI."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.visited: list[str] = []

    def follow(self, response: requests.Response) -> requests.Response:
        while response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            self.visited.append(location)
            if location.startswith(CLIENT_REDIRECT_URI):
                return response
            response = self.session.get(location, allow_redirects=False, timeout=30)
        return response

    def get(self, url: str) -> requests.Response:
        return self.follow(self.session.get(url, allow_redirects=False, timeout=30))

    def submit(self, page: requests.Response, form: dict, **values: str) -> requests.Response:
        url = urljoin(page.url, form["action"]) if form["action"] else page.url
        response = self.session.post(url, data={**form["fields"], **values}, allow_redirects=False, timeout=30)
        return self.follow(response)

    def approve_consent_if_asked(self, page: requests.Response, origin: str) -> requests.Response:
        """A consent page is shown once; afterwards the grant is remembered and the browser goes straight on."""
        if page.status_code == HTTPStatus.OK and page.url.startswith(f"{origin}/idp?"):
            [consent] = [form for form in parse(page).forms if form["id"] == "authorizationForm"]
            assert "deny" not in consent["fields"]
            return self.submit(page, consent, allow="Authorize")
        return page


def client_session(application, client_secret: str):
    from authlib.integrations.requests_client import OAuth2Session

    return OAuth2Session(
        client_id=application.client_id,
        client_secret=client_secret,
        scope=CLIENT_SCOPE,
        redirect_uri=CLIENT_REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )


def is_login_page_returning_to_idp(url: str, origin: str) -> bool:
    parts = urlsplit(url)
    return (
        f"{parts.scheme}://{parts.netloc}" == origin
        and parts.path == "/accounts/login/"
        and dict(parse_qsl(parts.query)).get("next", "").startswith("/idp?")
    )


def log_in_at_upstream(browser: Browser, instances: Instances, authorization_url: str, username: str):
    """From the client's authorization URL to the upstream's consent page or beyond."""
    broker, upstream = instances.broker, instances.upstream
    page = browser.get(authorization_url)
    assert is_login_page_returning_to_idp(page.url, broker.url), page.url
    button = parse(page).links[f"Sign in with {UPSTREAM_NAME}"]
    page = browser.get(urljoin(page.url, button))
    assert page.url.startswith(f"{upstream.url}/accounts/login/"), page.url
    [login_form] = [form for form in parse(page).forms if "password" in form["fields"]]
    return browser.submit(page, login_form, username=PEOPLE[username][0], password=UPSTREAM_PASSWORD)


def brokered_login(
    instances: Instances, application, client_secret: str, username: str, browser: Browser | None = None
) -> dict:
    """The whole flow, as ChatGPT or an MCP client would start it; returns the client's tokens."""
    from authlib.common.security import generate_token

    broker, upstream = instances.broker, instances.upstream
    client = client_session(application, client_secret)
    verifier = generate_token(64)
    authorization_url, _ = client.create_authorization_url(f"{broker.url}/idp", code_verifier=verifier)
    browser = browser or Browser()

    page = log_in_at_upstream(browser, instances, authorization_url, username)
    page = browser.approve_consent_if_asked(page, upstream.url)
    # Back from the upstream: the broker's own consent page for its client.
    page = browser.approve_consent_if_asked(page, broker.url)

    assert page.is_redirect, f"{page.status_code} at {page.url}"
    location = page.headers["Location"]
    assert location.startswith(CLIENT_REDIRECT_URI + "?")
    return client.fetch_token(f"{broker.url}/idp/token", authorization_response=location, code_verifier=verifier)


def verified_id_token(instances: Instances, application, id_token: str) -> dict:
    jwks = jwt.PyJWKClient(f"{instances.broker.url}/idp/jwks")
    return jwt.decode(
        id_token,
        jwks.get_signing_key_from_jwt(id_token),
        algorithms=["RS256"],
        audience=application.client_id,
        issuer=instances.broker.url,
    )


@pytest.fixture
def agent(transactional_db):
    """The broker's client: a confidential connected app, as a GPT Action or MCP client would be."""
    from idp.services.apps import application_create

    return application_create(name="Task agent", redirect_uris=[CLIENT_REDIRECT_URI], scopes=CLIENT_SCOPE.split())


@pytest.fixture(autouse=True)
def _authlib_over_http(monkeypatch):
    # Both instances are served over http on loopback.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


# --- The tests --------------------------------------------------------------------------------


def test_brokered_login_gives_the_client_tokens_for_the_local_user_and_a_second_login_links_to_it(
    instances, agent, transactional_db
):
    from accounts.models import ExternalIdentity, User

    tokens = brokered_login(instances, agent.application, agent.client_secret, "grace")

    user = User.objects.get()
    identity = ExternalIdentity.objects.get()
    assert (identity.user, identity.issuer) == (user, instances.upstream.url)
    assert identity.subject == instances.upstream_subjects["grace"]
    assert user.email == "grace@upstream.example"
    assert not user.has_usable_password()
    claims = verified_id_token(instances, agent.application, tokens["id_token"])
    assert claims["sub"] == str(user.sub)
    assert claims["sub"] != instances.upstream_subjects["grace"], "the upstream's subject never reaches our clients"
    assert claims["email"] == "grace@upstream.example"
    userinfo = requests.get(
        f"{instances.broker.url}/idp/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    ).json()
    assert userinfo["sub"] == str(user.sub)

    # Another day, another browser: the same upstream account is the same local user.
    again = brokered_login(instances, agent.application, agent.client_secret, "grace")

    assert verified_id_token(instances, agent.application, again["id_token"])["sub"] == str(user.sub)
    assert User.objects.count() == 1
    assert ExternalIdentity.objects.count() == 1
    broker_log = instances.broker.log_tail(lines=10_000)
    assert f"Upstream login: user {user.sub}" in broker_log
    assert instances.upstream_client_secret not in broker_log


def test_denying_consent_at_the_upstream_ends_on_our_login_page_with_a_sentence_and_creates_nothing(
    instances, agent, transactional_db
):
    from authlib.common.security import generate_token

    from accounts.models import ExternalIdentity, User

    client = client_session(agent.application, agent.client_secret)
    authorization_url, _ = client.create_authorization_url(
        f"{instances.broker.url}/idp", code_verifier=generate_token(64)
    )
    browser = Browser()
    page = log_in_at_upstream(browser, instances, authorization_url, "alan")
    [consent] = [form for form in parse(page).forms if form["id"] == "authorizationForm"]

    page = browser.submit(page, consent, deny="1")

    assert page.status_code == HTTPStatus.OK
    assert is_login_page_returning_to_idp(page.url, instances.broker.url), "a retry still ends on /idp"
    assert f"The sign-in at {UPSTREAM_NAME} was cancelled or refused, so you are not logged in." in page.text
    assert User.objects.count() == 0
    assert ExternalIdentity.objects.count() == 0
    assert "Upstream login refused: upstream_denied" in instances.broker.log_tail(lines=10_000)


def test_a_brokered_login_at_debug_leaves_no_credential_in_either_instances_log(instances, agent, transactional_db):
    """RFC 9700 §4.14 / RFC 6819 §5.1.4.1: no credential in a log. Both instances log at DEBUG with
    their access logs on; the upstream's code reaches the broker in the callback's query string."""
    broker_start = instances.broker.log_path.stat().st_size
    upstream_start = instances.upstream.log_path.stat().st_size
    browser = Browser()

    tokens = brokered_login(instances, agent.application, agent.client_secret, "alan", browser=browser)

    [callback] = [url for url in browser.visited if "/accounts/upstream/callback/" in url]
    upstream_answer = dict(parse_qsl(urlsplit(callback).query))
    [to_client] = [url for url in browser.visited if url.startswith(CLIENT_REDIRECT_URI)]
    credentials = {
        "upstream password": UPSTREAM_PASSWORD,
        "broker's client secret at the upstream": instances.upstream_client_secret,
        "agent's client secret": agent.client_secret,
        "upstream's code": upstream_answer["code"],
        "broker's code": dict(parse_qsl(urlsplit(to_client).query))["code"],
        "access token": tokens["access_token"],
        "refresh token": tokens["refresh_token"],
        "id token": tokens["id_token"],
    }
    broker_log = instances.broker.log_path.read_bytes()[broker_start:]
    written = (broker_log + instances.upstream.log_path.read_bytes()[upstream_start:]).decode(errors="replace")
    assert "DEBUG" in written, "nothing logged at DEBUG: the scan would prove little"
    assert "GET /accounts/upstream/callback/" in written, "the broker's access log is on"
    assert [name for name, value in credentials.items() if value in written] == []
