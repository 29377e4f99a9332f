"""Writes of the provider, a module per thing written: apps (idp.services.apps), GPT Actions
(idp.services.gpt_actions), client keys (idp.services.client_keys), consents
(idp.services.consents). Callers import from the module that holds what they call; the audit
log is idp.audit."""
