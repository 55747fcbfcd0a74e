"""R26: the reference printed on a form, and read back by the advisor from a scan.

References use Crockford's alphabet (no I, L, O, U), so what an advisor types is read
leniently: case, spaces and dashes do not matter, and O, I, L read as 0, 1, 1. Anything
else is another reference.
"""

from __future__ import annotations

import re

import pytest

from signatures.models import new_reference, normalize_reference


def test_references_are_unambiguous_and_printable() -> None:
    references = {new_reference() for _ in range(500)}
    assert len(references) == 500
    for reference in references:
        assert re.fullmatch(r"OPT-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", reference)


@pytest.mark.parametrize(
    "typed",
    [
        "OPT-0A1B-2C3D",
        "opt-0a1b-2c3d",
        " OPT 0A1B 2C3D ",
        "OPT0A1B2C3D",
        "0A1B2C3D",
        "OPT-OAIB-2C3D",
    ],
)
def test_what_the_advisor_types_is_read_as_the_printed_reference(typed: str) -> None:
    assert normalize_reference(typed) == "OPT-0A1B-2C3D"


@pytest.mark.parametrize("typed", ["OPT-0A1B-2C3E", "OPT-0A1B-2C3", "OPT-0A1B-2C3DX", ""])
def test_another_reference_stays_another_reference(typed: str) -> None:
    assert normalize_reference(typed) != "OPT-0A1B-2C3D"
