"""Domain refusals (R71): one error type carrying a machine code that names the rule."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    NOT_AFFIRMATIVE = "not_affirmative"  # R17
    INELIGIBLE_PERSON = "ineligible_person"  # R4-R6, R9
    UNKNOWN_WORDING = "unknown_wording"  # R18
    WRONG_CHANNEL = "wrong_channel"  # R1, R18
    INACTIVE_WORDING = "inactive_wording"  # R18
    OCCURRED_IN_FUTURE = "occurred_in_future"  # R21
    OCCURRED_BEFORE_WORDING = "occurred_before_wording"  # R21
    OCCURRED_TOO_OLD = "occurred_too_old"  # R21
    FORM_NOT_PENDING = "form_not_pending"  # R26
    FORM_WRONG_CLIENT = "form_wrong_client"  # R26
    FORM_REFERENCE_MISMATCH = "form_reference_mismatch"  # R26: the scan is of another form
    SIGNED_BEFORE_FORM = "signed_before_form"  # R25: a paper date before the form existed
    UNKNOWN_FORM = "unknown_form"
    NOT_ALLOWED = "not_allowed"  # R55: not this staff member's to do
    CONFLICT = "conflict"  # R45, R37
    INVALID_TRANSITION = "invalid_transition"  # R12 "—" cells
    JOURNEY_NOT_ALLOWED = "journey_not_allowed"  # R35: a rule refusal (422), not a scope
    UNKNOWN_CLIENT = "unknown_client"
    INVALID_DECISION = "invalid_decision"
    WORDING_IN_USE = "wording_in_use"  # R57
    BATCH_TOO_LARGE = "batch_too_large"  # R48
    LINK_NOT_VALID = "link_not_valid"  # R36: a used, expired or superseded confirmation link
    UNKNOWN_MASTER_KEY = "unknown_master_key"  # a client key no configured master key unwraps
    ERASED = "erased"  # R64: the client's data were erased; the number is known to the log only
    FILE_DELETED = "file_deleted"  # R63, R64: a form's file was deleted, its hash kept


class IneligibleReason(StrEnum):
    """Sub-reasons of `ineligible_person` (R4)."""

    MINOR = "minor"
    PROTECTED_ADULT = "protected_adult"
    NOT_NATURAL_PERSON = "not_natural_person"
    ERASED = "erased"


# The HTTP status a refusal maps to; everything not listed is a rule refusal (422).
HTTP_STATUS = {
    ErrorCode.BATCH_TOO_LARGE: 400,
    ErrorCode.CONFLICT: 409,
    ErrorCode.UNKNOWN_CLIENT: 404,
    ErrorCode.UNKNOWN_FORM: 404,
    ErrorCode.NOT_ALLOWED: 403,
    ErrorCode.ERASED: 410,
    ErrorCode.FILE_DELETED: 410,
}


class DomainError(Exception):
    """A refusal by a rule. Raised inside the writer's transaction, so nothing is written."""

    def __init__(self, code: ErrorCode, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 422)

    def as_dict(self) -> dict[str, Any]:
        return {"code": str(self.code), "message": self.message, **self.extra}

    def __repr__(self) -> str:
        return f"DomainError({self.code!s}, {self.message!r})"
