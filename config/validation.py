"""A ValidationError as one sentence, for answers that are text: commands' errors, MCP tool errors."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def validation_sentence(error: ValidationError, *, by_field: bool = False) -> str:
    """Every message of `error`, in order; with `by_field`, each field's after its name ("title: ...")."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    if by_field:
        return " ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
    return " ".join(message for messages in error.message_dict.values() for message in messages)
