"""private_key_jwt: a client proves who it is with a JWT signed by its own private key.

RFC 7523 §2.2 (client authentication with a JWT), §3 (the claims), RFC 7521
§4.2, and OpenID Connect Core §9. ChatGPT authenticates this way when a
server offers it. The client publishes its public keys (a `jwks_uri` or an
inline `jwks`, recorded in idp.models.ClientKeys); a JWKS at a URI is fetched
with the same SSRF guards and limits as a metadata document (idp.fetch),
cached for as long as its Cache-Control allows (within DOT's CIMD bounds),
and fetched again, once, when an assertion names a key it does not hold
(the client rotated its keys).

Signatures are checked by PyJWT with the algorithm fixed by us, never read
from the token alone: only the asymmetric algorithms we advertise, so neither
`none` nor an HMAC "signed" with the public key as the secret can pass.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta

import jwt
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from oauth2_provider.cimd import CIMDError

from idp.fetch import GuardedFetcher
from idp.models import ClientKeys, UsedClientAssertion

log = logging.getLogger(__name__)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# Advertised as token_endpoint_auth_signing_alg_values_supported. Asymmetric
# only: an HMAC would need a shared secret, which these clients do not have.
ALGORITHMS = ("RS256", "PS256", "ES256")
_KEY_TYPES = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC"}

# RFC 7523 §3 item 4 lets the server limit how far ahead `exp` may be: an
# assertion is made for one request, so a long-lived one is a stolen one's
# gift. An hour is what client libraries make by default (Authlib's
# private_key_jwt does), and bounds how long a jti must be remembered.
MAX_LIFETIME = timedelta(hours=1)
CLOCK_SKEW = timedelta(seconds=30)
MAX_ASSERTION_LENGTH = 8 * 1024
MAX_KEYS = 20
# Private and symmetric key members must never be published (RFC 7517 §6.3, §6.4).
_SECRET_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# An unknown `kid` fetches the JWKS again, at most this often per URI, so that
# made-up key IDs cannot make us fetch on every request.
REFETCH_INTERVAL_SECONDS = 10


class ClientAssertionError(Exception):
    """Why an assertion or a key set was refused, in one sentence for the log.

    The client only ever sees `invalid_client` (RFC 6749 §5.2).
    """


def signing_algorithms() -> tuple[str, ...]:
    return ALGORITHMS


def public_key_set(jwks) -> list[dict]:
    """The keys of a published JWKS, refused if it holds anything but usable public signing keys."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ClientAssertionError('a JWKS must be an object with a non-empty "keys" array')
    if len(jwks["keys"]) > MAX_KEYS:
        raise ClientAssertionError(f"a JWKS may hold at most {MAX_KEYS} keys")
    for key in jwks["keys"]:
        if not isinstance(key, dict):
            raise ClientAssertionError("each key of a JWKS must be an object")
        if key.get("kty") not in ("RSA", "EC"):
            raise ClientAssertionError(f"key type {key.get('kty')!r} is not accepted; publish RSA or EC keys")
        if _SECRET_MEMBERS & key.keys():
            raise ClientAssertionError("a published key must not contain private or symmetric key material")
    try:
        jwt.PyJWKSet.from_dict(jwks)
    except (jwt.PyJWKSetError, jwt.PyJWKError, ValueError, TypeError) as error:
        raise ClientAssertionError(f"the JWKS holds no usable key: {error}") from None
    return jwks["keys"]


def assertion_issuer(assertion: str) -> str | None:
    """The unverified `iss` of an assertion: which client to load before checking it."""
    if not isinstance(assertion, str) or len(assertion) > MAX_ASSERTION_LENGTH:
        return None
    try:
        issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None
    return issuer if isinstance(issuer, str) else None


def client_assertion_verify(*, assertion: str, client_id: str, keys: ClientKeys, audiences: list[str]) -> None:
    """Accept `assertion` as proof that the caller is `client_id`, once, or raise ClientAssertionError.

    RFC 7523 §3: `iss` and `sub` are the client ID (items 1, 2); `aud`
    names us (item 3: the token endpoint's URL or the issuer); `exp` is
    present (item 4), and here no more than MAX_LIFETIME ahead; the
    signature is valid (item 5); `jti` is used once until the assertion
    expires (item 7), recorded in the database so that every worker and
    instance sees it.
    """
    if len(assertion) > MAX_ASSERTION_LENGTH:
        raise ClientAssertionError(f"the assertion is longer than {MAX_ASSERTION_LENGTH} characters")
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as error:
        raise ClientAssertionError(f"the assertion is not a JWT: {error}") from None
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise ClientAssertionError(f"alg {algorithm!r} is not accepted; sign with one of {', '.join(ALGORITHMS)}")
    if keys.signing_alg and algorithm != keys.signing_alg:
        raise ClientAssertionError(f"alg {algorithm!r} differs from the registered {keys.signing_alg!r}")
    kid = header.get("kid")
    candidates = _matching_keys(_key_set(keys), kid, algorithm)
    if not candidates and kid is not None and keys.jwks_uri and _may_refetch(keys.jwks_uri):
        candidates = _matching_keys(_key_set(keys, refetch=True), kid, algorithm)
    if not candidates:
        raise ClientAssertionError(f"no key of the client's JWKS matches kid {kid!r} and alg {algorithm!r}")
    claims = None
    for key in candidates:
        try:
            claims = jwt.decode(
                assertion,
                key.key,
                algorithms=[algorithm],
                audience=audiences,
                issuer=client_id,
                leeway=CLOCK_SKEW,
                options={"require": ["iss", "sub", "aud", "exp", "jti"]},
            )
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as error:
            raise ClientAssertionError(f"the assertion was refused: {error}") from None
    if claims is None:
        raise ClientAssertionError("the assertion's signature matches none of the client's keys")
    if claims["sub"] != client_id:
        raise ClientAssertionError("the assertion's sub must be the client ID (RFC 7523 §3 item 2)")
    expires = datetime.fromtimestamp(claims["exp"], tz=UTC)
    if expires > timezone.now() + MAX_LIFETIME + CLOCK_SKEW:
        raise ClientAssertionError(f"the assertion's exp is more than {MAX_LIFETIME} ahead")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise ClientAssertionError("the assertion's jti must be a string of 1 to 255 characters")
    _spend(client_id, jti, expires + CLOCK_SKEW)


def _spend(client_id: str, jti: str, until: datetime) -> None:
    checksum = hashlib.sha256(f"{client_id}\n{jti}".encode()).hexdigest()
    try:
        with transaction.atomic():
            UsedClientAssertion.objects.create(checksum=checksum, expires_at=until)
    except IntegrityError:
        raise ClientAssertionError("the assertion's jti was used before (RFC 7523 §3 item 7)") from None


def used_client_assertions_clear() -> int:
    """Forget the jti of assertions that have expired: they are refused for their `exp` anyway."""
    deleted, _ = UsedClientAssertion.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted


def _matching_keys(keys: list[dict], kid, algorithm: str) -> list[jwt.PyJWK]:
    """The published keys that may have signed with `algorithm` under `kid` (any, without a kid)."""
    matches = []
    for data in keys:
        if kid is not None and data.get("kid") != kid:
            continue
        if data.get("kty") != _KEY_TYPES[algorithm] or data.get("use", "sig") != "sig":
            continue
        if data.get("alg") not in (None, algorithm):
            continue
        if algorithm == "ES256" and data.get("crv") != "P-256":
            continue
        try:
            matches.append(jwt.PyJWK(data, algorithm=algorithm))
        except jwt.PyJWTError:
            continue
    return matches


def _cache_key(uri: str) -> str:
    return "idp:jwks:" + hashlib.sha256(uri.encode()).hexdigest()


def _key_set(keys: ClientKeys, *, refetch: bool = False) -> list[dict]:
    if not keys.jwks_uri:
        return public_key_set(keys.jwks)
    cache_key = _cache_key(keys.jwks_uri)
    published = None if refetch else cache.get(cache_key)
    if published is None:
        try:
            jwks, max_age = GuardedFetcher().fetch(keys.jwks_uri)
        except CIMDError as error:
            raise ClientAssertionError(f"the JWKS at {keys.jwks_uri} could not be fetched: {error}") from None
        # Checked once, when fetched: the cache holds only key sets that passed.
        published = public_key_set(jwks)
        cache.set(cache_key, published, max_age)
    return published


def _may_refetch(uri: str) -> bool:
    return cache.add("idp:jwks-refetch:" + hashlib.sha256(uri.encode()).hexdigest(), True, REFETCH_INTERVAL_SECONDS)
