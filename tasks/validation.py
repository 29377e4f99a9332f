from __future__ import annotations

from django.core.exceptions import ValidationError


class FieldErrors:
    """Collects every problem of an input, by field, to raise them together.

    A caller learns of all its mistakes at once, each next to the field it
    belongs to: `ValidationError({"title": [...], "due_at": [...]})`.
    """

    def __init__(self) -> None:
        self._errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self._errors.setdefault(field, []).append(message)

    def __bool__(self) -> bool:
        return bool(self._errors)

    def raise_if_any(self) -> None:
        if self._errors:
            raise ValidationError(self._errors)
