"""The served OpenAPI document held to the running API by schemathesis, on SQLite and PostgreSQL.

For every operation schemathesis generates requests from the document (valid ones, and invalid
ones that break its schemas) and sends them to the app in-process with a funded account's key.
The API must never answer with a server error, and every answer must be documented: its status
code, its headers, its content type and its body's schema. The document is generated from the
operations' declarations (views/operations.py), so this holds those declarations to what the
views really do. (schemathesis's pytest plugin does not run under pytest 9, so the operations are
driven with hypothesis directly.)
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 20  # per operation and mode: about 700 requests per database


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_every_answer_is_documented_and_none_is_a_server_error(
    app: Flask, api_key: str, mode: GenerationMode
) -> None:
    served = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in served.get_all_operations()]
    assert len(operations) >= 18
    for operation in operations:
        takes_input = bool(len(operation.query) or len(operation.body) or len(operation.path_parameters))
        if mode is GenerationMode.NEGATIVE and not takes_input:
            continue  # nothing to break in a request without parameters

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,  # a busy machine must not fail a test on time
            suppress_health_check=list(HealthCheck),
            derandomize=True,  # the same requests every run: a failure here is reproducible
            database=None,
        )
        def answers_as_documented(case: Any) -> None:
            case.call_and_validate(headers={"X-API-Key": api_key}, checks=CHECKS)

        answers_as_documented()
