"""The OpenAPI document a custom GPT imports: valid OpenAPI 3.1, within the GPT Action limits."""

from __future__ import annotations

import re
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from openapi_spec_validator import validate

OPERATIONS = {
    "listTasks": ("get", "/api/tasks", "tasks:read"),
    "createTask": ("post", "/api/tasks", "tasks:write"),
    "getTask": ("get", "/api/tasks/{task_id}", "tasks:read"),
    "updateTask": ("patch", "/api/tasks/{task_id}", "tasks:write"),
    "deleteTask": ("delete", "/api/tasks/{task_id}", "tasks:write"),
    "completeTask": ("post", "/api/tasks/{task_id}/complete", "tasks:write"),
    "getMe": ("get", "/api/me", "tasks:read"),
}
# GPT Actions: at most 300 characters for an operation's summary and description, 700 for a parameter's.
OPERATION_TEXT_LIMIT = 300
PARAMETER_TEXT_LIMIT = 700


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/schema")
    assert response.status_code == HTTPStatus.OK
    return response.json()


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_document_is_valid_openapi_3_1(schema):
    assert schema["openapi"] == "3.1.0"
    validate(schema)  # raises on any violation of the OpenAPI 3.1 schema


def test_drf_spectacular_generates_it_without_a_warning():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_it_is_public_and_also_served_as_yaml(client, schema):
    as_yaml = client.get("/api/schema?format=yaml")

    assert as_yaml.status_code == HTTPStatus.OK
    assert yaml.safe_load(as_yaml.content) == schema
    assert client.get("/api/schema", headers={"Authorization": "Bearer junk"}).status_code == HTTPStatus.OK


def test_operations_are_exactly_the_seven_with_camel_case_ids(schema):
    found = {operation["operationId"]: (method, path) for path, method, operation in operations(schema)}

    assert found == {operation_id: (method, path) for operation_id, (method, path, _) in OPERATIONS.items()}
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", operation_id) for operation_id in found)


def test_servers_is_the_site_and_the_oauth_urls_are_on_its_host(schema):
    """GPT Actions: the authorization and token URLs must share the host of servers[0]."""
    assert schema["servers"] == [{"url": settings.SITE_URL}]
    flow = schema["components"]["securitySchemes"]["oauth2"]["flows"]["authorizationCode"]
    assert schema["components"]["securitySchemes"]["oauth2"]["type"] == "oauth2"
    assert flow["authorizationUrl"] == f"{settings.SITE_URL}/idp"
    assert flow["tokenUrl"] == f"{settings.SITE_URL}/idp/token"
    assert flow["scopes"] == {
        "tasks:read": "See your tasks",
        "tasks:write": "Create, change, complete and delete your tasks",
    }
    assert {urlsplit(flow["authorizationUrl"]).netloc, urlsplit(flow["tokenUrl"]).netloc} == {
        urlsplit(settings.SITE_URL).netloc
    }
    assert list(schema["components"]["securitySchemes"]) == ["oauth2"], "one scheme: a GPT Action takes one"


def test_each_operation_requires_the_one_scope_it_needs(schema):
    for _, _, operation in operations(schema):
        _, _, scope = OPERATIONS[operation["operationId"]]
        assert operation["security"] == [{"oauth2": [scope]}], operation["operationId"]


def test_summaries_and_descriptions_are_within_the_gpt_action_limits(schema):
    for _, _, operation in operations(schema):
        assert 0 < len(operation["summary"]) <= OPERATION_TEXT_LIMIT, operation["operationId"]
        assert 0 < len(operation["description"]) <= OPERATION_TEXT_LIMIT, operation["operationId"]
        for parameter in operation.get("parameters", []):
            assert 0 < len(parameter["description"]) <= PARAMETER_TEXT_LIMIT, parameter["name"]


def test_no_operation_needs_a_custom_header_which_gpt_actions_cannot_send(schema):
    for _, _, operation in operations(schema):
        assert all(parameter["in"] != "header" for parameter in operation.get("parameters", []))


def test_deletes_are_consequential_and_reads_are_not(schema):
    for _, method, operation in operations(schema):
        flag = operation["x-openai-isConsequential"]
        if method == "delete":
            assert flag is True
        elif method == "get":
            assert flag is False


def test_request_bodies_have_examples_and_refuse_unknown_fields(schema):
    components = schema["components"]["schemas"]
    for _, _, operation in operations(schema):
        if "requestBody" not in operation:
            continue
        content = operation["requestBody"]["content"]["application/json"]
        assert content["examples"], operation["operationId"]
        component = components[content["schema"]["$ref"].rsplit("/", 1)[-1]]
        assert component["additionalProperties"] is False


def test_the_document_is_well_under_the_gpt_action_payload_limit(client):
    assert len(client.get("/api/schema").content) < 100_000
