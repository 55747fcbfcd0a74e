"""The one place where a service's refusal becomes a form error (STYLE.md §5)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from optin.errors import DomainError


def add_service_error(form: forms.Form, exc: DomainError | ValidationError) -> None:
    """Show a DomainError or a service's ValidationError on the form, field by field where
    the form has the field, above the form otherwise."""
    if isinstance(exc, DomainError):
        form.add_error(None, ValidationError(exc.message, code=str(exc.code)))
        return
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)
