"""What the property-based fuzz tests share (tests/security/test_property_fuzz*.py): hypothesis
settings, strategies for any text or JSON, and the rows that must not appear."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = 150
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any text a form may carry, NUL and control characters included (no lone surrogates: not encodable).
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(TEXT, children, max_size=5),
    max_leaves=20,
)


def counts() -> dict[str, int]:
    from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

    from idp.models import Application, RedeemedCode
    from tasks.models import Task

    return {
        "access tokens": get_access_token_model().objects.count(),
        "refresh tokens": get_refresh_token_model().objects.count(),
        "grants": get_grant_model().objects.count(),
        "applications": Application.objects.count(),
        "redeemed codes": RedeemedCode.objects.count(),
        "tasks": Task.objects.count(),
    }
