"""Taskgate's only settings module.

Every variable is read once, here, with its type and default. What differs in
production is an environment variable (documented in `.env.example`), never a
second settings file.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from accounts.backends import MODEL_BACKEND, PASSKEY_BACKEND, UPSTREAM_BACKEND
from idp.validators import is_loopback_host

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# `.env` is read when present (made by `make run`); DJANGO_ENV_FILE="" turns it
# off, which the test suite does so that a developer's `.env` never leaks in.
_env_file = os.environ.get("DJANGO_ENV_FILE", str(BASE_DIR / ".env"))
if _env_file and Path(_env_file).is_file():
    environ.Env.read_env(_env_file)


def _fail(sentence: str) -> None:
    raise ImproperlyConfigured(sentence)


def _rate(name: str, default: str) -> str:
    """A rate-limit variable, "<count>/<s|m|h|d>" (idp.ratelimit), or one sentence naming it."""
    value = env.str(name, default=default)
    if not re.fullmatch(r"[1-9][0-9]*/[smhd]", value):
        _fail(f"{name} must look like {default} (a count per s, m, h or d); got {value!r}.")
    return value


def _int(name: str, default: int, minimum: int = 0) -> int:
    """A whole-number variable, or one sentence naming it."""
    raw = env.str(name, default=str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        _fail(f"{name} must be a whole number of at least {minimum}; got {raw!r}.")
    return value


# --- Core -------------------------------------------------------------------

DEBUG = env.bool("DJANGO_DEBUG", default=False)

SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
_site = urlsplit(SITE_URL)
if _site.scheme not in ("http", "https") or not _site.hostname or _site.path or _site.query:
    _fail(
        f"SITE_URL must be an origin such as https://tasks.example.com "
        f"(http or https, a host, no path); got {SITE_URL!r}."
    )
SITE_IS_HTTPS = _site.scheme == "https"

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        _fail("Set DJANGO_SECRET_KEY to a long random string (or DJANGO_DEBUG=1 for development).")
    # Development only: a key for this process, so nothing secret is committed.
    # `make run` writes a stable one to `.env` so that sessions survive restarts.
    import secrets

    SECRET_KEY = secrets.token_urlsafe(50)

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[_site.hostname, "127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = [SITE_URL]

INSTALLED_APPS = [
    "accounts",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "oauth2_provider",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "idp",
    "tasks",
    "axes",
    "corsheaders",
    # Second factors: django-otp's authenticator app (TOTP) and recovery codes
    # (static tokens), and passkeys (WebAuthn) through django-otp-webauthn.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before CommonMiddleware, as django-cors-headers asks: it answers preflights.
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "config.middleware.NoReferrerCsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed a second factor.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # REQUIRE_2FA_FOR_STAFF: /admin only for staff whose session passed a second factor.
    "accounts.middleware.StaffSecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Last, as django-axes requires: it answers a locked-out login attempt.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "accounts.context_processors.signup",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front, so concurrent
    # writers wait (up to `timeout`) instead of failing with "database is
    # locked"; WAL lets readers go on while one writes.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DATABASES["default"]["CONN_MAX_AGE"] = _int("DATABASE_CONN_MAX_AGE", 0)
# A health check is a `SELECT 1` round trip each time a request takes a
# connection (from the pool, or kept from an earlier request): a few per cent
# of a cheap request (benchmarks/README.md). Off by default; a connection that
# the network or a database restart broke then fails one request and is
# dropped. Turn it on where connections are cut often (a proxy that closes
# idle ones, a failover).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Each worker process keeps a psycopg pool of at most DATABASE_POOL_MAX_SIZE
    # connections, open between requests; a request waits up to
    # DATABASE_POOL_TIMEOUT seconds for one. Without it every request connected
    # anew (the bare view went from 136 to 244 requests/s with the pool), and
    # under Django's ASGI handler, with a thread per request, a burst of 200
    # requests opened 200 connections, past PostgreSQL's max_connections (100).
    # Keep workers x max size below max_connections. 0 turns the pool off
    # (behind PgBouncer, say; then CONN_MAX_AGE applies).
    # Prepared statements: parameters travel apart from the SQL (server-side
    # binding), and psycopg prepares a statement once a connection has run it
    # 5 times; the pool keeps connections, and what they prepared, between
    # requests. PostgreSQL then parses and plans the hot paths' statements once
    # per connection, not on every request: planning was a third of the
    # database's CPU under refreshes (benchmarks/README.md, finding 11).
    # Django turns both off by default for the sake of connection poolers:
    # set DATABASE_PREPARED_STATEMENTS=0 behind one that cannot carry them
    # (PgBouncer before 1.21, or without max_prepared_statements, in
    # transaction mode).
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
    _pool_max = _int("DATABASE_POOL_MAX_SIZE", 10)
    if _pool_max:
        if DATABASES["default"]["CONN_MAX_AGE"]:
            _fail("DATABASE_CONN_MAX_AGE must be 0 with the connection pool (or set DATABASE_POOL_MAX_SIZE=0).")
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(2, _pool_max),
            "max_size": _pool_max,
            "timeout": _int("DATABASE_POOL_TIMEOUT", 20, minimum=1),
        }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Threads per server worker that run Django's requests (config/serve.py for
# granian, config/asgi.py under an ASGI server); each holds at most one
# database connection. More than 2 made the slowest requests slower and none
# faster on the benchmark machine: the work is CPU in one interpreter.
DJANGO_THREADS = _int("DJANGO_THREADS", 2, minimum=1)
# Each server process moves what it holds after its first this many requests
# (modules, caches, the MCP server) out of the garbage collector's reach
# (gc.freeze, config.wsgi); 0: never. See config.wsgi.WarmUp.
GC_FREEZE_AFTER_REQUESTS = _int("GC_FREEZE_AFTER_REQUESTS", 500)

# Rate-limit counters and the CIMD fetch backoff live here. The default is
# per process: with several workers or machines, set CACHE_URL to a shared
# cache (redis://..., or dbcache://table after `createcachetable`).
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
# REDIS_URL (the production choice) wins over CACHE_URL: the rate limits and
# the login lockout's counters are then shared by every worker and machine.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    if urlsplit(REDIS_URL).scheme not in ("redis", "rediss", "unix"):
        _fail(f"REDIS_URL must be a redis://, rediss:// or unix:// URL; got {REDIS_URL!r}.")
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # One pool (and its connections) per process, not per request's context: config/cache.py.
            "OPTIONS": {"pool_class": "config.cache.ProcessConnectionPool"},
        }
    }

# --- Accounts ---------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# Sign-up at /accounts/signup/: on unless ALLOW_SIGNUP=0 (then admins create accounts).
ALLOW_SIGNUP = env.bool("ALLOW_SIGNUP", default=True)
# Sign-up attempts per client address, "<count>/<s|m|h|d>": 429 with Retry-After over it.
SIGNUP_RATE_LIMIT = _rate("SIGNUP_RATE_LIMIT", "10/h")
# How long an email verification link works.
EMAIL_VERIFICATION_MAX_AGE = timedelta(days=3)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    # Only for OAuth client secrets (OAUTH2_PROVIDER["CLIENT_SECRET_HASHER"]).
    "idp.hashers.ClientSecretHasher",
]

# --- Logging in through an upstream OpenID provider (mozilla-django-oidc) -----
# Off unless UPSTREAM_OIDC_ISSUER is set. The upstream's endpoints are not
# settings: they are read from its discovery document when a login first
# needs them (accounts.upstream). Here only the shape of the configuration is
# checked, so that a typo stops start-up with a sentence.

UPSTREAM_OIDC_ISSUER = env.str("UPSTREAM_OIDC_ISSUER", default="")
UPSTREAM_OIDC_NAME = env.str("UPSTREAM_OIDC_NAME", default="")
UPSTREAM_OIDC_CREATE_USERS = env.bool("UPSTREAM_OIDC_CREATE_USERS", default=True)
UPSTREAM_OIDC_LINK_BY_VERIFIED_EMAIL = env.bool("UPSTREAM_OIDC_LINK_BY_VERIFIED_EMAIL", default=False)
UPSTREAM_OIDC_ONLY = env.bool("UPSTREAM_OIDC_ONLY", default=False)
# mozilla-django-oidc reads these under its own names.
OIDC_RP_CLIENT_ID = env.str("UPSTREAM_OIDC_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("UPSTREAM_OIDC_CLIENT_SECRET", default="")
OIDC_RP_SCOPES = " ".join(env.str("UPSTREAM_OIDC_SCOPES", default="openid email profile").split())
_upstream_client_auth = env.str("UPSTREAM_OIDC_TOKEN_AUTH_METHOD", default="client_secret_basic")

if UPSTREAM_OIDC_ISSUER:
    _issuer = urlsplit(UPSTREAM_OIDC_ISSUER)
    if _issuer.scheme not in ("http", "https") or not _issuer.hostname or _issuer.query or _issuer.fragment:
        _fail(
            f"UPSTREAM_OIDC_ISSUER must be the upstream's issuer URL, such as https://example.auth0.com/ "
            f"(no query or fragment); got {UPSTREAM_OIDC_ISSUER!r}."
        )
    if _issuer.scheme == "http" and not is_loopback_host(_issuer.hostname):
        _fail("UPSTREAM_OIDC_ISSUER must use https (http is allowed only on 127.0.0.1, [::1] or localhost).")
    if not OIDC_RP_CLIENT_ID or not OIDC_RP_CLIENT_SECRET:
        _fail(
            "Set UPSTREAM_OIDC_CLIENT_ID and UPSTREAM_OIDC_CLIENT_SECRET to the client this site is registered "
            "as at the upstream provider (UPSTREAM_OIDC_ISSUER is set)."
        )
    if "openid" not in OIDC_RP_SCOPES.split():
        _fail(f"UPSTREAM_OIDC_SCOPES must include openid; got {OIDC_RP_SCOPES!r}.")
    if _upstream_client_auth not in ("client_secret_basic", "client_secret_post"):
        _fail(
            f"UPSTREAM_OIDC_TOKEN_AUTH_METHOD must be client_secret_basic or client_secret_post; "
            f"got {_upstream_client_auth!r}."
        )
    UPSTREAM_OIDC_NAME = UPSTREAM_OIDC_NAME or _issuer.hostname
elif OIDC_RP_CLIENT_ID or OIDC_RP_CLIENT_SECRET or UPSTREAM_OIDC_ONLY:
    _fail(
        "UPSTREAM_OIDC_ISSUER is not set, but other UPSTREAM_OIDC_* variables are: set the issuer to turn on "
        "login through an upstream provider, or remove them."
    )

# Seconds the upstream's discovery document is kept in the cache.
UPSTREAM_OIDC_DISCOVERY_CACHE_SECONDS = 3600

# mozilla-django-oidc's unsafe defaults, replaced (see accounts.upstream for
# the checks it lacks: `iss`, `aud`, `azp`, and linking by issuer and subject).
OIDC_RP_SIGN_ALGO = "RS256"  # its default is HS256, keyed with the client secret
OIDC_USE_NONCE = True
OIDC_USE_PKCE = True  # off by default
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_TOKEN_USE_BASIC_AUTH = _upstream_client_auth == "client_secret_basic"
OIDC_ALLOW_UNSECURED_JWT = False
OIDC_VERIFY_SSL = True
OIDC_TIMEOUT = 10  # seconds; its default waits for ever
OIDC_AUTHENTICATION_CALLBACK_URL = "upstream_callback"

# Passwords, upstream login, or only upstream login (UPSTREAM_OIDC_ONLY=1:
# the password backend is not installed, so no form can log in with one).
if not UPSTREAM_OIDC_ISSUER:
    AUTHENTICATION_BACKENDS = [MODEL_BACKEND]
elif UPSTREAM_OIDC_ONLY:
    AUTHENTICATION_BACKENDS = [UPSTREAM_BACKEND]
else:
    AUTHENTICATION_BACKENDS = [MODEL_BACKEND, UPSTREAM_BACKEND]
# django-axes first: it refuses a locked-out account or address before any
# backend checks a password.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", *AUTHENTICATION_BACKENDS]

# Login lockout (django-axes, OWASP ASVS 2.2.1): after AXES_FAILURE_LIMIT
# failed logins for one account, or from one address, further attempts from
# it are refused for AXES_COOLOFF_MINUTES, with a page that says until when.
# Attempts are recorded (axes.AccessAttempt, the admin's "Access attempts").
AXES_FAILURE_LIMIT = _int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
# Each parameter alone: an account is locked whatever the address, and an
# address whatever the account it tries.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.locked_out"
# Emails are matched in any case at login: so are the attempts counted.
AXES_USERNAME_CALLABLE = "accounts.lockout.login_attempt_username"
# The address the server saw; no proxy header is trusted unless configured.
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

# --- Passkeys and two-factor sign-in (django-otp, django-otp-webauthn) --------

# Staff reach /admin only from a session that passed a second factor; one
# without a factor is sent to set one up. On unless DJANGO_DEBUG=1.
REQUIRE_2FA_FOR_STAFF = env.bool("REQUIRE_2FA_FOR_STAFF", default=not DEBUG)
# Upstream logins (the broker) skip our second factor: the upstream is
# trusted for its own. 1 asks people who set one up here for it as well.
UPSTREAM_OIDC_REQUIRE_LOCAL_2FA = env.bool("UPSTREAM_OIDC_REQUIRE_LOCAL_2FA", default=False)
# Adding or removing a factor needs the password or a passkey again within this time.
RECENT_AUTHENTICATION_SECONDS = 10 * 60
# How long the second-factor step after a correct password waits.
SECOND_FACTOR_PENDING_SECONDS = 5 * 60
# The authenticator app's QR code names the site so.
OTP_TOTP_ISSUER = "Taskgate"
# django-otp's own throttle (seconds doubling after each wrong code) stays on,
# beside the lockout of accounts.second_factor, which counts like django-axes.
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
# The admin lists people's devices but never shows their keys (an admin resets, never reads, a factor).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# WebAuthn binds passkeys to the site's host name and needs a secure context:
# https, or http://localhost in development. An IP address such as 127.0.0.1
# cannot be a relying party ID, so there the pages do not offer passkeys
# (use SITE_URL=http://localhost:8000 to try them).
PASSKEYS_ENABLED = SITE_IS_HTTPS or _site.hostname == "localhost"
OTP_WEBAUTHN_RP_ID = _site.hostname
OTP_WEBAUTHN_RP_NAME = "Taskgate"
# django-otp-webauthn's checks refuse an http origin other than localhost; with
# passkeys off the https form is named, which no browser ceremony here can match.
OTP_WEBAUTHN_ALLOWED_ORIGINS = [SITE_URL if PASSKEYS_ENABLED else f"https://{_site.netloc}"]
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = PASSKEYS_ENABLED and not UPSTREAM_OIDC_ONLY
if OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN:
    # A passkey logs in on its own (passwordless): the library's backend says whose it is.
    AUTHENTICATION_BACKENDS.append(PASSKEY_BACKEND)

# EMAIL_URL: consolemail:// (the default: mail is printed), smtp+tls://user:password@host:587, ...
_email = env.email_url("EMAIL_URL", default="consolemail://")
_smtp_options = {
    "host": _email.get("EMAIL_HOST"),
    "port": _email.get("EMAIL_PORT"),
    "username": _email.get("EMAIL_HOST_USER"),
    "password": _email.get("EMAIL_HOST_PASSWORD"),
    "use_tls": _email.get("EMAIL_USE_TLS"),
    "use_ssl": _email.get("EMAIL_USE_SSL"),
    "timeout": 10,
}
MAILERS = {
    "default": {
        "BACKEND": _email["EMAIL_BACKEND"],
        "OPTIONS": (
            {key: value for key, value in _smtp_options.items() if value not in (None, "")}
            if _email["EMAIL_BACKEND"].endswith("smtp.EmailBackend")
            else {}
        ),
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=f"Taskgate <noreply@{_site.hostname}>")

# --- Internationalisation, static files --------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security headers ---------------------------------------------------------

X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# No `form-action`: browsers apply it to the redirect after the consent form,
# which goes to the client's own redirect URI.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "https:", "data:"],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
SESSION_COOKIE_SECURE = SITE_IS_HTTPS
CSRF_COOKIE_SECURE = SITE_IS_HTTPS
SESSION_COOKIE_NAME = env.str("DJANGO_SESSION_COOKIE_NAME", default="taskgate_session")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=SITE_IS_HTTPS and not DEBUG)
SECURE_HSTS_SECONDS = _int("DJANGO_SECURE_HSTS_SECONDS", 31536000 if SITE_IS_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Addresses of the proxies in front of the server (comma-separated; `*` for
# any) whose X-Forwarded-For names the client, so that REMOTE_ADDR (rate
# limits per address, the lockout, the audit log) is the client's, not the
# proxy's. None by default: a header anyone can send is believed from no one.
TRUSTED_PROXIES = env.list("DJANGO_TRUSTED_PROXIES", default=[])
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

SILENCED_SYSTEM_CHECKS = [
    # HSTS preload is a commitment to the browsers' preload list: the
    # operator's decision (DJANGO_SECURE_HSTS_PRELOAD=1), not a default.
    "security.W021",
    # DOT W008: http redirect URIs are allowed because MCP clients and native
    # apps use loopback ones (RFC 8252 §7.3); idp.Application.clean refuses
    # http for any other host.
    "oauth2_provider.W008",
    # W003 looks for Django's CsrfViewMiddleware by name; ours is a subclass
    # (config.middleware). tests/test_settings.py checks the CSRF cookie
    # settings that W016/W017 would have checked.
    "security.W003",
]

# --- OAuth 2.1 / OpenID Connect provider (django-oauth-toolkit) ---------------


def _read_signing_key() -> str:
    pem = env.str("OIDC_RSA_PRIVATE_KEY", default="", multiline=True)
    key_file = env.str("OIDC_RSA_PRIVATE_KEY_FILE", default="")
    if not pem and key_file:
        try:
            pem = Path(key_file).read_text()
        except OSError as exc:
            _fail(f"OIDC_RSA_PRIVATE_KEY_FILE names {key_file!r}, which cannot be read ({exc.strerror}).")
    if not pem:
        if not DEBUG:
            _fail("Set OIDC_RSA_PRIVATE_KEY (an RSA private key in PEM) or OIDC_RSA_PRIVATE_KEY_FILE.")
        return ""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        _fail("OIDC_RSA_PRIVATE_KEY must be an unencrypted RSA private key in PEM of 2048 bits or more.")
    return pem


OIDC_RSA_PRIVATE_KEY = _read_signing_key()

# Abuse limits (idp.ratelimit), each "<count>/<s|m|h|d>", counted in the
# cache above: failed client authentications at the token endpoint, per
# client_id and per address, and introspection requests, per caller.
IDP_TOKEN_AUTH_FAILURE_RATE_LIMIT = _rate("IDP_TOKEN_AUTH_FAILURE_RATE_LIMIT", "10/m")
IDP_INTROSPECTION_RATE_LIMIT = _rate("IDP_INTROSPECTION_RATE_LIMIT", "600/m")

# A refresh token presented again within this many seconds of its rotation
# is taken for a client's concurrent retry: refused (invalid_grant) without
# revoking its family. Later, reuse revokes the family (RFC 9700 §4.14.2).
# A duplicate that arrives while the rotation is still under way is refused
# the same way whatever this is. 0: every reuse after a rotation revokes the family.
IDP_REFRESH_RETRY_SECONDS = _int("IDP_REFRESH_RETRY_SECONDS", 5)

# Seconds a server process keeps the answer for an access token it checked
# (idp.token_cache), so that a token used again costs no database round trip.
# Any event that ends a token drops it at once on every process (PostgreSQL
# notices); this only bounds how long an answer lives without being used
# again. On PostgreSQL only; 0 turns the cache off.
IDP_TOKEN_CACHE_SECONDS = _int("IDP_TOKEN_CACHE_SECONDS", 30)

# --- Resources a token may be issued for (RFC 8707) ---------------------------
# A token names at most one of these as its audience (`resource`); one without
# any is for the REST API only, and is refused at /mcp.
MCP_PATH = "/mcp"  # served by config.asgi beside Django
MCP_RESOURCE_URL = f"{SITE_URL}{MCP_PATH}"
API_RESOURCE_URL = f"{SITE_URL}/api"
IDP_RESOURCES = {
    MCP_RESOURCE_URL: "Taskgate's MCP endpoint, through which AI assistants use task tools",
    API_RESOURCE_URL: "Taskgate's task API",
}

# Dynamic Client Registration attempts per client address: "<count>/<s|m|h|d>".
IDP_REGISTRATION_RATE_LIMIT = _rate("IDP_REGISTRATION_RATE_LIMIT", "20/h")

# Tests only: fetch Client ID Metadata Documents over plain http from a
# loopback address, which the SSRF guards otherwise refuse.
IDP_CIMD_ALLOW_LOOPBACK = env.bool("IDP_CIMD_ALLOW_LOOPBACK", default=False)
if IDP_CIMD_ALLOW_LOOPBACK and not DEBUG:
    _fail("IDP_CIMD_ALLOW_LOOPBACK=1 turns off SSRF guards for tests and is refused unless DJANGO_DEBUG=1.")

# RFC 7523 §2.2 / OpenID Connect Core §9: clients that publish keys (a
# jwks_uri or jwks in a metadata document or registration) authenticate with
# a JWT signed by their private key, as ChatGPT does when offered. Off, such
# clients are registered as public clients when their metadata allows it.
IDP_PRIVATE_KEY_JWT = env.bool("IDP_PRIVATE_KEY_JWT", default=True)

# CORS (django-cors-headers) for MCP clients that run in a browser (MCP
# Inspector, web playgrounds): discovery, keys, registration and the token
# endpoints, from any origin and never with credentials, so no cookie ever
# crosses origins. What uses the session cookie (login, consent, /account,
# the admin, /api from its docs page) stays same-origin: no CORS headers.
# /mcp gets the same policy in tasks.mcp (Starlette's CORS middleware).
CORS_ALLOW_ALL_ORIGINS = True
CORS_ALLOW_CREDENTIALS = False
CORS_URLS_REGEX = r"^/(\.well-known/[a-z-]+(/mcp)?|idp/(jwks|register(/[^/]+)?|token|revoke|userinfo))$"
CORS_ALLOW_HEADERS = ["authorization", "content-type", "mcp-protocol-version", "mcp-session-id", "last-event-id"]
CORS_EXPOSE_HEADERS = ["WWW-Authenticate", "Mcp-Session-Id", "MCP-Protocol-Version"]

TASK_SCOPES = {
    "tasks:read": "See your tasks",
    "tasks:write": "Create, change, complete and delete your tasks",
}

OAUTH2_PROVIDER_APPLICATION_MODEL = "idp.Application"
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": OIDC_RSA_PRIVATE_KEY,
    # The issuer is the public origin, stated explicitly so that every
    # discovery document and the RFC 9207 `iss` parameter agree.
    "OIDC_ISS_ENDPOINT": SITE_URL,
    "OAUTH2_SERVER_CLASS": "idp.oauth2_server.TaskgateServer",
    "OAUTH2_VALIDATOR_CLASS": "idp.oauth2_validators.TaskgateOAuth2Validator",
    "ACCESS_TOKEN_GENERATOR": "idp.oauth2_server.token_value",
    "REFRESH_TOKEN_GENERATOR": "idp.oauth2_server.token_value",
    "SCOPES_BACKEND_CLASS": "idp.scopes.ApplicationScopes",
    "APPLICATION_ADMIN_CLASS": "idp.admin.ApplicationAdmin",
    "SCOPES": {
        "openid": "Confirm who you are",
        "profile": "See your name and username",
        "email": "See your email address",
        **TASK_SCOPES,
    },
    # A client that asks for no scope gets the least: proof of identity.
    "DEFAULT_SCOPES": ["openid"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    "ID_TOKEN_EXPIRE_SECONDS": 3600,
    "REFRESH_TOKEN_EXPIRE_SECONDS": int(timedelta(days=30).total_seconds()),
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    # A consent once given is remembered for the same scopes (while a token
    # from it is alive); first-party apps skip the page altogether.
    "REQUEST_APPROVAL_PROMPT": "auto",
    # Per application: see TaskgateOAuth2Validator.is_pkce_required.
    "PKCE_REQUIRED": True,
    # http is only for loopback redirect URIs (RFC 8252); Application.clean
    # refuses it for other hosts.
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"],
    # Client secrets are 128 random characters: a fast salted hash is as
    # strong as PBKDF2 for them, and PBKDF2 costs ~1 s of CPU per token request.
    "CLIENT_SECRET_HASHER": "client_secret_sha256",
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["client_secret_basic", "client_secret_post", "none"],
    "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["client_secret_basic", "client_secret_post", "none"],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    # RFC 7591/7592 at /idp/register, open to anonymous clients as MCP clients
    # need; idp.views.registration.ClientRegistrationView adds our checks and a rate limit.
    "DCR_ENABLED": True,
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    # Client ID Metadata Documents: an https URL as client_id, fetched with
    # DOT's SSRF guards (idp.cimd adds the checks DOT leaves out).
    "CIMD_ENABLED": True,
    "CIMD_METADATA_FETCHER": "idp.cimd.MetadataFetcher",
    # RFC 9728 metadata of the MCP endpoint, the protected resource we serve.
    "OAUTH2_PROTECTED_RESOURCE_IDENTIFIER": MCP_RESOURCE_URL,
    "OAUTH2_PROTECTED_RESOURCE_AUTHORIZATION_SERVERS": [SITE_URL],
    "OAUTH2_PROTECTED_RESOURCE_BEARER_METHODS_SUPPORTED": ["header"],
    "OAUTH2_PROTECTED_RESOURCE_NAME": "Taskgate MCP",
    "OAUTH2_PROTECTED_RESOURCE_DOCUMENTATION": f"{SITE_URL}/docs/mcp",
}

# --- Task API (djangorestframework, drf-spectacular) -------------------------

REST_FRAMEWORK = {
    # The task API's views name their own authentication and permissions
    # (tasks.apis.TaskApiView); these defaults cover anything else.
    "DEFAULT_AUTHENTICATION_CLASSES": ["tasks.authentication.TaskTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tasks.authentication.HasTaskScope"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tasks.exceptions.api_exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Taskgate tasks",
    "DESCRIPTION": (
        "Your tasks in Taskgate: list, create, change, complete and delete them. "
        "The app acts for the person who signed in, within the scopes they allowed."
    ),
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    # GPT Actions require the OAuth URLs to be on the host of servers[0].
    "SERVERS": [{"url": SITE_URL}],
    "SCHEMA_PATH_PREFIX": "/api",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tasks.schema.reject_unknown_request_fields",
    ],
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    "ENUM_NAME_OVERRIDES": {
        "TaskStatus": "tasks.models.Task.Status",
        "TaskPriority": "tasks.models.Task.Priority",
    },
    # The document is public (a GPT imports it by URL, without a token).
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Only the bearer token is described: the browser session, which the
    # API also accepts for the docs page, is not for API clients.
    "AUTHENTICATION_WHITELIST": ["tasks.authentication.TaskTokenAuthentication"],
    # Swagger UI from our own static files: the site loads nothing from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# The text of /privacy, the policy a published GPT links to. Blank: the
# default text of templates/privacy.html.
PRIVACY_POLICY_TEXT = env.str("PRIVACY_POLICY_TEXT", default="", multiline=True)

# --- Audit log (idp.AuditEvent) -------------------------------------------------

# Days an audit event is kept; `manage.py prune_audit_log` deletes older ones.
AUDIT_RETENTION_DAYS = _int("AUDIT_RETENTION_DAYS", 90, minimum=1)

# --- Activity (idp.activity): what each connected app did ----------------------

# Counting of calls, refusals, errors and tokens per app and hour; ACTIVITY_COUNTING=0 turns
# it off (the benchmarks compare both). Activity records of writes are kept either way.
_counting = env.str("ACTIVITY_COUNTING", default="1").strip().lower()
if _counting not in ("1", "0", "true", "false", "on", "off", "yes", "no"):
    _fail(f"ACTIVITY_COUNTING must be 1 or 0; got {_counting!r}.")
ACTIVITY_COUNTING = _counting in ("1", "true", "on", "yes")
# Seconds between two flushes of a process's counters (to Redis, or to the database without
# REDIS_URL); 0: only when the process exits or the code asks (the tests).
ACTIVITY_FLUSH_SECONDS = _int("ACTIVITY_FLUSH_SECONDS", 5, minimum=0)
# Days activity records and hourly counts are kept; `manage.py prune_audit_log` deletes older ones.
ACTIVITY_RETENTION_DAYS = _int("ACTIVITY_RETENTION_DAYS", 90, minimum=1)

# --- Logging -----------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        # DOT logs request details at DEBUG, which may include credentials.
        "oauth2_provider": {"level": "INFO"},
        "oauthlib": {"level": "WARNING"},
        # The MCP SDK logs every stateless request's end at INFO ("Terminating session: None").
        "mcp.server.streamable_http": {"level": "WARNING"},
    },
}
