"""DESIGN §5: the OpenAPI description documents every endpoint, field, error and scope.

`/api/schema/` answers, without a token, a valid OpenAPI 3 document that lists exactly the
operations of DESIGN §5, each with its token scheme, the scope it requires, its error answers
(the one error shape of R71) and, for the decision endpoint, the `Idempotency-Key` header of R37
and for the contact change the `If-Match` header of R45. drf-spectacular generates it without a
warning. `/api/docs/` serves Swagger UI from the vendored assets only, under the
Content-Security-Policy of every page.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client
from django.urls import resolve
from drf_spectacular.validation import validate_schema

from optin.api.permissions import required_scope
from optin.models import ApiScope

V1 = "/api/v1"

# Path → method → the scope it requires (DESIGN §5 and the API scopes of `create_api_client`).
OPERATIONS: dict[str, dict[str, str]] = {
    f"{V1}/clients": {"post": "consents:write"},
    f"{V1}/clients/{{client_number}}": {"get": "consents:read", "patch": "consents:write"},
    f"{V1}/clients/{{client_number}}/consents": {"get": "consents:read", "post": "consents:write"},
    f"{V1}/clients/{{client_number}}/history": {"get": "audit:read"},
    f"{V1}/clients/{{client_number}}/erasure": {"post": "consents:write"},
    f"{V1}/wordings": {"get": "consents:read"},
    f"{V1}/eligibility": {"post": "eligibility:read"},
    f"{V1}/optin-list": {"get": "optin-list:read"},
    f"{V1}/sms/stop": {"post": "consents:write"},
    f"{V1}/audit/verify": {"get": "audit:read"},
}
ALL_OPERATIONS = [(path, method) for path, methods in OPERATIONS.items() for method in methods]
WRITES = [(path, method) for path, method in ALL_OPERATIONS if method in ("post", "patch")]

# The request fields DESIGN §5 names, by operation.
REQUEST_FIELDS: dict[tuple[str, str], set[str]] = {
    (f"{V1}/clients", "post"): {
        "client_number",
        "kind",
        "first_name",
        "last_name",
        "birth_date",
        "legal_capacity",
        "email",
        "mobile",
        "branch",
    },
    (f"{V1}/clients/{{client_number}}", "patch"): {"email", "mobile"},
    (f"{V1}/clients/{{client_number}}/consents", "post"): {
        "channel",
        "decision",
        "journey",
        "wording_version",
        "affirmative_action",
        "occurred_at",
        "evidence",
    },
    (f"{V1}/sms/stop", "post"): {"mobile", "keyword", "message_id"},
    (f"{V1}/eligibility", "post"): {"channel", "client_numbers"},
}

REASONS = {
    "granted",
    "b2b_no_objection",
    "no_consent",
    "refused",
    "withdrawn",
    "pending_signature",
    "pending_confirmation",
    "minor",
    "protected_adult",
    "no_contact_point",
    "unknown_client",
    "erased",
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The served schema, parsed (YAML, the default rendering); no token, no database."""
    response = Client().get("/api/schema/")
    assert response.status_code == 200, response.content[:500]
    loaded = yaml.safe_load(response.content)
    assert isinstance(loaded, dict)
    return loaded


def resolve_ref(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follows `$ref` (and a lone `allOf` wrapper) to the component it names."""
    while True:
        if "$ref" in node:
            name = node["$ref"].removeprefix("#/components/schemas/")
            node = document["components"]["schemas"][name]
        elif len(node.get("allOf", ())) == 1:
            node = node["allOf"][0]
        else:
            return node


def operation(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    found = document["paths"][path][method]
    assert isinstance(found, dict)
    return found


def request_schema(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    body = operation(document, path, method)["requestBody"]["content"]["application/json"]
    return resolve_ref(document, body["schema"])


def response_schema(document: dict[str, Any], path: str, method: str, status: str) -> Any:
    content = operation(document, path, method)["responses"][status]["content"]
    return resolve_ref(document, content["application/json"]["schema"])


def enum_of(document: dict[str, Any], node: dict[str, Any]) -> set[str]:
    return set(resolve_ref(document, node)["enum"])


# --- the document --------------------------------------------------------------------------


def test_the_schema_is_served_without_a_token_as_an_openapi_3_document(
    document: dict[str, Any],
) -> None:
    assert str(document["openapi"]).startswith("3.")
    assert document["info"]["title"]
    assert document["info"]["version"]
    assert set(document) >= {"openapi", "info", "paths", "components"}


def test_a_stray_authorization_header_does_not_keep_the_schema_away() -> None:
    response = Client().get("/api/schema/", HTTP_AUTHORIZATION="Token not-a-token")

    assert response.status_code == 200


def test_the_schema_is_served_as_json_on_an_accept_header(document: dict[str, Any]) -> None:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert json.loads(response.content) == document


def test_the_schema_is_served_as_json_with_format_json(document: dict[str, Any]) -> None:
    response = Client().get("/api/schema/?format=json")

    assert response.status_code == 200
    assert "json" in response["Content-Type"]
    assert json.loads(response.content) == document


def test_the_schema_is_valid_against_the_openapi_3_json_schema(document: dict[str, Any]) -> None:
    # The OpenAPI Initiative's JSON Schema of OpenAPI 3.0, as bundled with drf-spectacular.
    validate_schema(document)


def test_every_reference_in_the_schema_names_an_existing_component(
    document: dict[str, Any],
) -> None:
    references = set(re.findall(r"#/components/schemas/([A-Za-z0-9_.-]+)", json.dumps(document)))

    assert references
    assert references <= set(document["components"]["schemas"])


def test_the_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [
        op["operationId"]
        for methods in document["paths"].values()
        for op in methods.values()
        if isinstance(op, dict) and "operationId" in op
    ]

    assert len(ids) == len(set(ids)) == len(ALL_OPERATIONS)


# --- paths, methods, scopes ----------------------------------------------------------------


def test_exactly_the_operations_of_the_design_are_documented(document: dict[str, Any]) -> None:
    documented = {
        (path, method)
        for path, methods in document["paths"].items()
        for method in methods
        if method in ("get", "post", "put", "patch", "delete")
    }

    assert documented == set(ALL_OPERATIONS)


def test_the_token_scheme_is_an_api_key_in_the_authorization_header(
    document: dict[str, Any],
) -> None:
    scheme = document["components"]["securitySchemes"]["TokenAuth"]

    assert scheme["type"] == "apiKey"
    assert scheme["in"] == "header"
    assert scheme["name"] == "Authorization"
    assert "Token <token>" in scheme["description"]


@pytest.mark.parametrize(("path", "method"), ALL_OPERATIONS)
def test_each_operation_requires_the_token(
    document: dict[str, Any], path: str, method: str
) -> None:
    assert operation(document, path, method)["security"] == [{"TokenAuth": []}]


@pytest.mark.parametrize(("path", "method"), ALL_OPERATIONS)
def test_each_operation_names_its_scope(document: dict[str, Any], path: str, method: str) -> None:
    scope = OPERATIONS[path][method]

    description = operation(document, path, method)["description"]

    assert description.startswith(f"Requires the scope `{scope}`.")
    others = set(ApiScope.values) - {scope}
    assert not any(f"`{other}`" in description for other in others)


@pytest.mark.parametrize(("path", "method"), ALL_OPERATIONS)
def test_the_documented_scope_is_the_one_the_view_requires(path: str, method: str) -> None:
    url = path.replace("{client_number}", "K-1")
    view = resolve(url).func.view_class  # type: ignore[attr-defined]

    assert required_scope(view, method.upper()) == OPERATIONS[path][method]


def test_every_scope_is_required_by_some_operation() -> None:
    used = {scope for methods in OPERATIONS.values() for scope in methods.values()}

    assert used == set(ApiScope.values)


# --- errors --------------------------------------------------------------------------------


def test_the_error_schema_is_the_one_error_shape(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    detail = resolve_ref(document, error["properties"]["error"])

    assert set(detail["properties"]) == {"code", "message", "fields"}
    assert set(detail["required"]) == {"code", "message", "fields"}
    assert detail["properties"]["fields"]["type"] == "object"


def error_statuses(document: dict[str, Any], path: str, method: str) -> set[str]:
    """The statuses whose answer is documented as the Error schema."""
    statuses = set()
    for status, response in operation(document, path, method)["responses"].items():
        content = response.get("content", {}).get("application/json", {})
        if content.get("schema") == {"$ref": "#/components/schemas/Error"}:
            assert response["description"], (path, method, status)
            statuses.add(status)
    return statuses


@pytest.mark.parametrize(("path", "method"), ALL_OPERATIONS)
def test_401_and_403_are_documented_with_the_error_schema(
    document: dict[str, Any], path: str, method: str
) -> None:
    assert {"401", "403"} <= error_statuses(document, path, method)


@pytest.mark.parametrize(("path", "method"), WRITES)
def test_writes_document_400_409_415_and_422(
    document: dict[str, Any], path: str, method: str
) -> None:
    assert {"400", "409", "415", "422"} <= error_statuses(document, path, method)


@pytest.mark.parametrize(("path", "method"), ALL_OPERATIONS)
def test_every_error_status_is_documented_with_the_error_schema(
    document: dict[str, Any], path: str, method: str
) -> None:
    responses = operation(document, path, method)["responses"]
    failures = {status for status in responses if status.startswith(("4", "5"))}

    assert failures == error_statuses(document, path, method)


@pytest.mark.parametrize(
    "path", [p for p in OPERATIONS if "{client_number}" in p], ids=lambda p: p.split("/")[-1]
)
def test_operations_on_a_client_document_404(document: dict[str, Any], path: str) -> None:
    for method in OPERATIONS[path]:
        assert "404" in error_statuses(document, path, method)


# --- headers and parameters ----------------------------------------------------------------


def header(document: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    parameters = operation(document, path, method).get("parameters", [])
    found = [p for p in parameters if p["in"] == "header" and p["name"] == name]
    assert len(found) == 1, parameters
    return dict(found[0])


def test_the_decision_documents_the_idempotency_key_header(document: dict[str, Any]) -> None:
    key = header(document, f"{V1}/clients/{{client_number}}/consents", "post", "Idempotency-Key")

    assert key["schema"]["type"] == "string"
    assert not key.get("required", False)
    assert "409" in key["description"]


def test_the_contact_change_documents_the_if_match_header(document: dict[str, Any]) -> None:
    if_match = header(document, f"{V1}/clients/{{client_number}}", "patch", "If-Match")

    assert if_match["schema"]["type"] == "string"
    assert not if_match.get("required", False)
    assert "version" in if_match["description"]


@pytest.mark.parametrize("path", [p for p in OPERATIONS if "{client_number}" in p])
def test_the_client_number_is_a_required_path_parameter(
    document: dict[str, Any], path: str
) -> None:
    for method in OPERATIONS[path]:
        parameters = operation(document, path, method)["parameters"]
        number = [p for p in parameters if p["in"] == "path"]
        assert number == [
            {"in": "path", "name": "client_number", "schema": {"type": "string"}, "required": True}
        ]


def test_the_optin_list_documents_its_query_parameters(document: dict[str, Any]) -> None:
    parameters = {
        p["name"]: p
        for p in operation(document, f"{V1}/optin-list", "get")["parameters"]
        if p["in"] == "query"
    }

    assert set(parameters) == {"channel", "branch", "kind", "format"}
    assert parameters["channel"]["required"] is True
    assert set(parameters["channel"]["schema"]["enum"]) == {"email", "sms_push"}
    assert not parameters["branch"].get("required", False)
    assert set(parameters["kind"]["schema"]["enum"]) == {"individual", "professional"}
    assert set(parameters["format"]["schema"]["enum"]) == {"csv", "ndjson"}
    assert parameters["format"]["schema"]["default"] == "csv"


def test_the_optin_list_documents_csv_and_ndjson_answers(document: dict[str, Any]) -> None:
    content = operation(document, f"{V1}/optin-list", "get")["responses"]["200"]["content"]

    assert set(content) == {"text/csv", "application/x-ndjson"}


def test_the_history_documents_its_pages(document: dict[str, Any]) -> None:
    parameters = {
        p["name"]: p
        for p in operation(document, f"{V1}/clients/{{client_number}}/history", "get")["parameters"]
        if p["in"] == "query"
    }

    assert set(parameters) == {"after", "limit"}
    assert parameters["limit"]["schema"]["maximum"] == 1000
    body = response_schema(document, f"{V1}/clients/{{client_number}}/history", "get", "200")
    assert set(body["properties"]) == {"entries", "next_after"}


# --- request and answer fields -------------------------------------------------------------


@pytest.mark.parametrize(("path", "method"), list(REQUEST_FIELDS), ids=lambda v: str(v))
def test_every_request_field_of_the_design_is_documented(
    document: dict[str, Any], path: str, method: str
) -> None:
    body = request_schema(document, path, method)

    assert body["type"] == "object"
    assert REQUEST_FIELDS[path, method] <= set(body["properties"])


@pytest.mark.parametrize(("path", "method"), WRITES)
def test_every_write_takes_a_json_body(document: dict[str, Any], path: str, method: str) -> None:
    assert set(operation(document, path, method)["requestBody"]["content"]) == {"application/json"}


def test_the_client_creation_fields(document: dict[str, Any]) -> None:
    body = request_schema(document, f"{V1}/clients", "post")
    fields = body["properties"]

    assert {"client_number", "kind", "last_name", "branch"} <= set(body["required"])
    assert enum_of(document, fields["kind"]) == {"individual", "professional"}
    assert enum_of(document, fields["legal_capacity"]) == {"full", "protected"}
    assert fields["birth_date"]["format"] == "date"


def test_the_decision_fields(document: dict[str, Any]) -> None:
    body = request_schema(document, f"{V1}/clients/{{client_number}}/consents", "post")
    fields = body["properties"]

    assert set(body["required"]) == {"channel", "decision", "journey", "evidence"}
    assert enum_of(document, fields["channel"]) == {"email", "sms_push"}
    assert enum_of(document, fields["decision"]) == {"grant", "refuse", "withdraw"}
    assert {
        "digital_self_service",
        "digital_contact_update",
        "digital_account_opening",
    } <= enum_of(document, fields["journey"])
    assert fields["occurred_at"]["format"] == "date-time"
    # Any JSON value is accepted here: only the JSON true is an affirmative action (R17).
    assert "type" not in fields["affirmative_action"]
    assert "true" in fields["affirmative_action"]["description"]
    evidence = resolve_ref(document, fields["evidence"])
    assert {"ip", "user_agent"} <= set(evidence["properties"])
    assert {"ip", "user_agent"} <= set(evidence["required"])


def test_the_eligibility_fields_and_its_twelve_reasons(document: dict[str, Any]) -> None:
    body = request_schema(document, f"{V1}/eligibility", "post")
    assert body["properties"]["client_numbers"]["maxItems"] == 10_000

    answer = response_schema(document, f"{V1}/eligibility", "post", "200")
    result = resolve_ref(document, answer["properties"]["results"]["items"])

    assert set(result["properties"]) == {"client_number", "eligible", "reason"}
    assert enum_of(document, result["properties"]["reason"]) == REASONS


def test_the_consents_answer_fields(document: dict[str, Any]) -> None:
    answer = response_schema(document, f"{V1}/clients/{{client_number}}/consents", "get", "200")

    assert set(answer["properties"]) == {"email", "sms_push"}
    consent = resolve_ref(document, answer["properties"]["email"])
    assert set(consent["properties"]) == {
        "status",
        "effective",
        "since",
        "journey",
        "wording_version",
    }
    assert enum_of(document, consent["properties"]["status"]) == {
        "none",
        "pending_signature",
        "pending_confirmation",
        "granted",
        "refused",
        "withdrawn",
    }


def test_the_client_answer_carries_its_version_and_consents(document: dict[str, Any]) -> None:
    client = response_schema(document, f"{V1}/clients/{{client_number}}", "get", "200")
    changed = response_schema(document, f"{V1}/clients/{{client_number}}", "patch", "200")

    assert {"client_number", "version", "consents"} <= set(client["properties"])
    assert "optin_invitation" in changed["properties"]
    assert "optin_invitation" in changed["required"]


def test_the_decision_answers_201_when_recorded_and_200_on_a_repeat(
    document: dict[str, Any],
) -> None:
    path = f"{V1}/clients/{{client_number}}/consents"

    recorded = response_schema(document, path, "post", "201")
    repeated = response_schema(document, path, "post", "200")

    assert recorded == repeated
    assert {"status", "effective", "recorded", "seq"} <= set(recorded["properties"])


def test_the_audit_verification_answer(document: dict[str, Any]) -> None:
    answer = response_schema(document, f"{V1}/audit/verify", "get", "200")

    assert set(answer["properties"]) == {"ok", "entries", "head", "first_bad"}


def test_the_sms_stop_answer(document: dict[str, Any]) -> None:
    answer = response_schema(document, f"{V1}/sms/stop", "post", "200")

    assert set(answer["properties"]) == {"stop", "matched", "withdrawn"}


# --- generation without warnings -----------------------------------------------------------


def test_the_schema_generates_and_validates_without_a_warning(tmp_path: Path) -> None:
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    assert yaml.safe_load(target.read_text())["paths"]


def test_the_schema_command_validates_the_schema(tmp_path: Path) -> None:
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--file", str(target))

    assert set(yaml.safe_load(target.read_text())["paths"]) == set(OPERATIONS)


# --- the browsable docs --------------------------------------------------------------------


class Assets(HTMLParser):
    """The URLs a page loads (scripts, styles, icons) and its inline scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.urls.append(str(values["src"]))
        elif tag == "link" and values.get("href"):
            self.urls.append(str(values["href"]))
        elif tag in ("script", "style"):
            self._in = tag
        if values.get("style"):
            self.inline.append(f"style attribute on <{tag}>")

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in and data.strip():
            self.inline.append(f"<{self._in}>{data.strip()[:60]}")


@pytest.fixture(scope="module")
def docs_page() -> Any:
    return Client().get("/api/docs/")


@pytest.fixture(scope="module")
def docs_assets(docs_page: Any) -> Assets:
    parser = Assets()
    parser.feed(docs_page.content.decode())
    return parser


def test_the_docs_page_is_html_under_the_content_security_policy(docs_page: Any) -> None:
    assert docs_page.status_code == 200
    assert docs_page["Content-Type"].startswith("text/html")
    policy = docs_page["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy


def test_the_docs_page_loads_only_local_assets(docs_assets: Assets) -> None:
    assert docs_assets.urls
    for url in docs_assets.urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
    static = [u for u in docs_assets.urls if u.startswith(settings.STATIC_URL)]
    assert any(u.endswith("swagger-ui-bundle.js") for u in static)
    assert any(u.endswith("swagger-ui.css") for u in static)
    # Swagger UI from the vendored sidecar; its template's inline style moved to our own file.
    assert all("/drf_spectacular_sidecar/" in u or u.endswith("/css/api-docs.css") for u in static)


def test_no_cdn_is_named_anywhere_on_the_docs_page(docs_page: Any) -> None:
    assert not re.search(rb"https?://", docs_page.content)


def test_the_vendored_assets_of_the_docs_page_exist(docs_assets: Assets) -> None:
    static = [u for u in docs_assets.urls if u.startswith(settings.STATIC_URL)]

    assert len(static) >= 3
    for url in static:
        assert finders.find(url.removeprefix(settings.STATIC_URL)), url


def test_the_docs_script_is_served_locally_and_reads_the_local_schema(
    docs_assets: Assets,
) -> None:
    scripts = [u for u in docs_assets.urls if not u.startswith(settings.STATIC_URL)]
    assert scripts == ["/api/docs/?script="]

    response = Client().get(scripts[0])

    assert response.status_code == 200
    assert "javascript" in response["Content-Type"]
    assert b'"/api/schema/"' in response.content
    assert not re.search(rb"https?://", response.content)


def test_the_docs_page_has_no_inline_script_or_style(docs_assets: Assets) -> None:
    assert docs_assets.inline == []
