"""Writes of the provider, a module per thing written: apps, GPT Actions, client keys, consents.

Callers import from the module that holds what they call. The names below
stay importable from `idp.services` for the token and bearer path (the
validator, the API's and MCP's authentication), which is rewritten apart;
the audit log is idp.audit.
"""

from idp.audit import audit_record
from idp.services.apps import application_mark_used
from idp.services.consents import consent_mark_used, consent_record, consent_use_noted_lately

__all__ = [
    "application_mark_used",
    "audit_record",
    "consent_mark_used",
    "consent_record",
    "consent_use_noted_lately",
]
