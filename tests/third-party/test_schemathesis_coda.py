"""Schemathesis against the fake Coda with Coda's own OpenAPI document
(tests/fixtures/coda/openapi.json, Coda API 1.5.0), on the operations the fake serves.

The checks are the ones that mean something for a fake: no 5xx, every status code is one
the document lists for that operation, the content type matches, and every body matches
its schema. Requests carry the fake's doc ID and real table IDs or names most of the time,
so the generated cases reach real tables instead of stopping at a 404.
"""

import json
import pathlib
import zlib

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import CODA_DOC, CODA_TOKEN

OPENAPI = pathlib.Path(__file__).parents[1] / "fixtures" / "coda" / "openapi.json"

# Every operation the fake Coda serves.
SERVED = [
    "whoami",
    "resolveBrowserLink",
    "listDocs",
    "getDoc",
    "listTables",
    "getTable",
    "listColumns",
    "getColumn",
    "listRows",
    "upsertRows",
    "deleteRows",
    "getRow",
    "updateRow",
    "deleteRow",
    "getMutationStatus",
]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# Enough to cover each operation's parameters; the whole run stays under a minute.
EXAMPLES = 20


def openapi():
    return json.loads(OPENAPI.read_text())


def served_only(doc):
    """Keeps only the operations the fake serves."""
    for path, item in list(doc["paths"].items()):
        for method, op in list(item.items()):
            if isinstance(op, dict) and "operationId" in op and op["operationId"] not in SERVED:
                del item[method]
        if not any(isinstance(op, dict) and "operationId" in op for op in item.values()):
            del doc["paths"][path]
    return doc


def without_contradictions(doc):
    """Undoes two defects of Coda's generated document that no server could satisfy, so the
    schema check tests the fake and not the document:

    - Subtypes are written `allOf: [Base, Extra]` with `additionalProperties: false` on
      both parts, which forbids any body carrying fields of both (a real upsert answers
      `{"requestId", "addedRowIds"}`, fixtures rows.upsert.202.observed.json). Each such
      `allOf` is merged into one closed object, as the generator meant.
    - `Table` requires a `viewId` it never defines (docs/coda-api.md §3).

    Unions keyed by a discriminator (`ColumnFormat`) are then checked as "any of the
    members, each only for the `type` values the discriminator maps to it"."""
    schemas = doc["components"]["schemas"]

    def resolve(node):
        while isinstance(node, dict) and "$ref" in node:
            node = schemas[node["$ref"].rsplit("/", 1)[1]]
        return node

    def merged(node):
        if not isinstance(node, dict) or "allOf" not in node:
            return node
        parts = [merged(resolve(p)) for p in node["allOf"]]
        if not all(p.get("type") == "object" or "properties" in p for p in parts):
            return node
        out = {k: v for k, v in node.items() if k != "allOf"}
        out["type"] = "object"
        out["properties"] = {}
        required = []
        for part in parts:
            out["properties"].update(part.get("properties", {}))
            required += part.get("required", [])
            if part.get("additionalProperties") is False:
                out["additionalProperties"] = False
        if required:
            out["required"] = sorted(set(required))
        return out

    for name in list(schemas):
        schemas[name] = merged(schemas[name])
    table = schemas["Table"]
    table["required"] = [r for r in table["required"] if r != "viewId"]
    for union in schemas.values():
        mapping = union.get("discriminator", {}).get("mapping")
        if not mapping or "oneOf" not in union:
            continue
        members = []
        for ref in union.pop("oneOf"):
            keys = [k for k, v in mapping.items() if v == ref["$ref"]]
            member = json.loads(json.dumps(resolve(ref)))
            member.setdefault("properties", {})["type"] = {"type": "string", "enum": keys}
            members.append(member)
        union["anyOf"] = members
        del union["discriminator"]
    return doc


def with_observed_400s(doc):
    """The document omits 400 from some operations (listDocs, getDoc, ...), but the real
    API answers 400 on every endpoint used for a malformed parameter, an invalid
    pageToken or a stale doc under `X-Coda-Doc-Version` (docs/coda-api.md §7, §10;
    fixtures error-400.*.observed.json). Only that code is added; the bodies still have
    to match Coda's error schema."""
    for path in doc["paths"].values():
        for op in path.values():
            if isinstance(op, dict) and op.get("operationId") in SERVED:
                op["responses"].setdefault(
                    "400", {"$ref": "#/components/responses/BadRequestError"}
                )
    return doc


@pytest.fixture
def coda_schema(fake_coda_unlimited):
    doc = without_contradictions(with_observed_400s(served_only(openapi())))
    return schemathesis.openapi.from_dict(doc)


schema = schemathesis.pytest.from_fixture("coda_schema")


def steer(case, fake):
    """Points most generated cases at the fake's doc and tables."""
    params = case.path_parameters or {}
    if "docId" in params:
        params["docId"] = CODA_DOC
    if "tableIdOrName" in params:
        tables = fake.control("dump")["tables"]
        seen = f"{case.query}{case.body}".encode()
        pick = zlib.crc32(seen) % (len(tables) + 1)
        if pick < len(tables):
            params["tableIdOrName"] = tables[pick]["id" if pick % 2 else "name"]


def test_every_served_operation_is_in_the_document():
    ids = {
        op.get("operationId")
        for path in openapi()["paths"].values()
        for op in path.values()
        if isinstance(op, dict)
    }
    assert set(SERVED) <= ids


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    # The same cases on every run, so CI fails only when the fake or the document changes.
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_fake_coda_conforms_to_coda_openapi(case, fake_coda_unlimited):
    steer(case, fake_coda_unlimited)
    case.call_and_validate(
        base_url=fake_coda_unlimited.url,
        headers={"Authorization": f"Bearer {CODA_TOKEN}"},
        checks=CHECKS,
    )


def test_generated_requests_reached_the_doc_tables_and_rows(fake_coda_unlimited):
    """Runs after the generated cases (same module fake): without steering they would all
    stop at 404, and the schema checks would have checked nothing but error bodies."""
    log = fake_coda_unlimited.control("requests")
    answered = {(e["method"], e["status"]) for e in log if "/tables/" in e["path"]}
    assert ("GET", 200) in answered, sorted(answered)
    assert ("POST", 202) in answered, sorted(answered)
