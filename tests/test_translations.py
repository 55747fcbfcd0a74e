"""The back-office in English: the catalogue is complete, compiled, and used by the pages.

French is the source language of every page; `locale/en/LC_MESSAGES/django.po` gives each
string in English and the committed `django.mo` is what Django reads (no gettext needed at run
time). `make messages` regenerates both. The consent form's own texts stay in French whatever the
page language (R59: what is shown is what is recorded): only the page around them is translated.
"""

from __future__ import annotations

import ast
import gettext
import html as html_lib
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client as HttpClient
from django.urls import reverse

from clients.models import Client, StaffProfile
from signatures.services import BranchAnswer, collect_branch_answers
from tests.auth import login_verified

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES"
PO = CATALOGUE / "django.po"
MO = CATALOGUE / "django.mo"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
KEYWORD = re.compile(r'(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(".*")')


@dataclass
class Entry:
    """One message of a .po file."""

    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)


def read_po(path: Path) -> list[Entry]:
    """The messages of a .po file, header first; obsolete (#~) entries are left out."""
    entries: list[Entry] = []
    entry = Entry()
    key: tuple[str, int] | None = None
    started = False

    def value(text: str) -> str:
        return str(ast.literal_eval(text))

    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = line.strip()
        if not line:
            if started:
                entries.append(entry)
            entry, key, started = Entry(), None, False
        elif line.startswith("#,"):
            entry.flags.update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif match := KEYWORD.fullmatch(line):
            name, index, text = match.group(1), int(match.group(2) or 0), value(match.group(3))
            started = True
            key = (name, index)
            if name == "msgstr":
                entry.msgstr[index] = text
            else:
                setattr(entry, name, text)
        elif line.startswith('"') and key is not None:
            name, index = key
            if name == "msgstr":
                entry.msgstr[index] += value(line)
            else:
                setattr(entry, name, getattr(entry, name) + value(line))
        else:
            raise AssertionError(f"unexpected line in {path.name}: {line!r}")
    return entries


def mo_catalogue(path: Path) -> dict[Any, str]:
    with path.open("rb") as mo:
        return dict(gettext.GNUTranslations(mo)._catalog)  # type: ignore[attr-defined]


def po_catalogue(entries: list[Entry]) -> dict[Any, str]:
    """What msgfmt puts in the .mo, with the keys GNUTranslations reads, the header aside
    (msgfmt drops its POT-Creation-Date)."""
    catalogue: dict[Any, str] = {}
    for entry in entries[1:]:
        msgid = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            catalogue[msgid] = entry.msgstr[0]
        else:
            catalogue.update({(msgid, n): text for n, text in entry.msgstr.items()})
    return catalogue


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return read_po(PO)


# --- the catalogue -----------------------------------------------------------------------------


def test_every_message_is_translated_and_none_is_fuzzy(entries: list[Entry]) -> None:
    header, messages = entries[0], entries[1:]
    assert header.msgid == ""
    assert "Language: en\n" in header.msgstr[0]
    assert "fuzzy" not in header.flags
    assert len(messages) > 100
    untranslated = [e.msgid for e in messages if not all(e.msgstr.values())]
    fuzzy = [e.msgid for e in messages if "fuzzy" in e.flags]
    assert untranslated == []
    assert fuzzy == []
    plurals = [e for e in messages if e.msgid_plural is not None]
    assert plurals
    assert all(sorted(e.msgstr) == [0, 1] for e in plurals)


def test_translations_keep_the_placeholders(entries: list[Entry]) -> None:
    """A placeholder lost or misspelt would raise KeyError, or drop a value, at run time."""
    for entry in entries[1:]:
        if entry.msgid_plural is None:
            assert set(PLACEHOLDER.findall(entry.msgstr[0])) == set(
                PLACEHOLDER.findall(entry.msgid)
            ), entry.msgid
        else:
            wanted = set(PLACEHOLDER.findall(entry.msgid_plural))
            assert set(PLACEHOLDER.findall(entry.msgstr[1])) == wanted, entry.msgid
            assert set(PLACEHOLDER.findall(entry.msgstr[0])) <= wanted, entry.msgid


def test_translations_add_no_markup(entries: list[Entry]) -> None:
    """Templates put translated literals in attributes unescaped: no quote or tag of its own."""
    for entry in entries[1:]:
        for text in entry.msgstr.values():
            for char in '"<>':
                assert text.count(char) <= entry.msgid.count(char), (entry.msgid, text)


def test_the_committed_mo_is_the_po_compiled(entries: list[Entry]) -> None:
    compiled = mo_catalogue(MO)
    header = compiled.pop("")
    assert compiled == po_catalogue(entries)
    assert "Language: en\n" in header
    assert "Plural-Forms: nplurals=2; plural=(n != 1);\n" in header


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="needs GNU gettext's msgfmt")
def test_the_po_compiles_cleanly_into_the_committed_mo(tmp_path: Path) -> None:
    compiled = tmp_path / "django.mo"
    subprocess.run(  # noqa: S603
        ["msgfmt", "--check", "-o", str(compiled), str(PO)],  # noqa: S607
        check=True,
        capture_output=True,
    )
    assert mo_catalogue(compiled) == mo_catalogue(MO)


# --- pages in English --------------------------------------------------------------------------


@pytest.fixture
def english(advisor: Any) -> HttpClient:
    """The advisor, logged in with both factors, who chose English for the pages."""
    StaffProfile.objects.filter(user=advisor).update(language="en")
    http = HttpClient()
    login_verified(http, advisor)
    return http


def page(http: HttpClient, url: str) -> str:
    response = http.get(url)
    assert response.status_code == 200, response.status_code
    assert response["Content-Language"] == "en"
    html = response.content.decode()
    assert '<html lang="en"' in html
    return html_lib.unescape(html)


def test_the_search_page_is_in_english(english: HttpClient) -> None:
    html = page(english, reverse("clients:search"))
    assert "Search for a customer" in html
    assert "Forms to sign" in html
    assert "Rechercher un client" not in html


def test_the_account_page_is_in_english(english: HttpClient) -> None:
    html = page(english, reverse("clients:account"))
    assert "My account" in html
    assert "Page language" in html
    assert "Langue des pages" not in html


def test_a_form_page_is_in_english_around_the_french_form(
    english: HttpClient, advisor: Any, customer: Client
) -> None:
    form = collect_branch_answers(
        client=customer,
        answers={"email": BranchAnswer("yes", "email-v1")},
        advisor=advisor,
        journey="branch_account_opening",
    ).form
    assert form is not None
    args = [customer.client_number, form.reference]

    detail = page(english, reverse("signatures:detail", args=args))
    assert f"Form {form.reference}" in detail
    assert "Have the customer sign" in detail
    assert "Faire signer le client" not in detail
    # What the form states stays in French, as printed and signed (R59).
    assert '<article class="form-text" lang="fr">' in detail
    assert "☒ Oui" in detail
    assert form.content["lines"][0]["text"] in detail

    tablet = page(english, reverse("signatures:sign_tablet", args=args))
    assert 'data-msg-empty="The customer must sign in the box before submitting."' in tablet
    assert "I sign this form" in tablet
    assert "☒ Oui" in tablet
