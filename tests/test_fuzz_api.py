"""schemathesis against the API as every role finds no server error (scripts/fuzz_api.py).

The run starts its own PostgreSQL, Temporal dev server and service in a temporary folder, so
it shares nothing with the other tests; 40 s of fuzzing over the five callers keeps it near
a minute. The reading of schemathesis' reports is tested on its own, without servers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts.fuzz_api import WEIGHTS
from scripts.fuzz_findings import (
    BEYOND_INT4,
    NUL,
    Findings,
    Odd,
    describe,
    findings_of,
    odd_values,
    operations_of,
)

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 40


@pytest.mark.timeout(600)
def test_fuzzing_the_api_as_every_role_finds_no_server_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.fuzz_api", "--budget", str(BUDGET)],
        cwd=ROOT,
        env=os.environ.copy(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    told = f"{result.stdout}\n{result.stderr[-4000:]}"
    for caller in WEIGHTS:
        found = re.search(rf"^{caller}: (\d+) requests, (\d+) server errors", result.stdout, re.M)
        assert found, told
        assert int(found[1]) > 0, told
        assert int(found[2]) == 0, told
    assert result.returncode == 0, told


OPENAPI: dict[str, Any] = {
    "paths": {
        "/api/v1/partners/{partner_id}": {"get": {"parameters": []}},
        "/api/v1/partners": {
            "get": {"parameters": [{"name": "town", "in": "query"}]},
            "post": {},
        },
    }
}


def _entry(method: str, url: str, status: int, body: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"method": method, "url": f"http://127.0.0.1:1{url}"}
    if body is not None:
        request["postData"] = {"mimeType": "application/json", "text": body}
    return {"request": request, "response": {"status": status}}


def _har(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"log": {"entries": list(entries)}}


def _findings(*entries: dict[str, Any]) -> Findings:
    report = {"stop_reason": "max_time", "errors": [], "failures": []}
    return findings_of("abh", _har(*entries), report, operations_of(OPENAPI))


def test_only_answers_below_500_pass() -> None:
    findings = _findings(
        _entry("GET", "/api/v1/partners/1", 200),
        _entry("GET", "/api/v1/partners/2147483648", 422),
        _entry("POST", "/api/v1/partners", 409, '{"name": "x"}'),
    )
    assert (findings.requests, findings.server_error_count, findings.failed) == (3, 0, False)


def test_a_server_error_fails_the_run_and_names_what_was_odd_where() -> None:
    findings = _findings(
        _entry("GET", "/api/v1/partners/1", 200),
        _entry("GET", "/api/v1/partners/2147483648", 500),
        _entry("GET", "/api/v1/partners/99999999999", 500),
        _entry("GET", "/api/v1/partners?town=A%00B&ignored=%00", 500),
        _entry("POST", "/api/v1/partners", 500, '{"name": "A\\u0000B", "kind": 1e10}'),
    )
    assert findings.failed
    assert findings.server_error_count == 4
    lines = describe(findings)
    assert lines[0] == "abh: 5 requests, 4 server errors, 0 without an answer"
    text = "\n".join(lines)
    # The shortest request of a group is its reproduction.
    assert "500 x2  GET /api/v1/partners/{partner_id}  [integer beyond int4]" in text
    assert "e.g. GET /api/v1/partners/2147483648" in text
    # An undeclared query parameter is not blamed; the declared one is.
    assert "in: query town U+0000" in text
    assert 'body {"name": "A\\u0000B", "kind": 10000000000.0}' in text
    assert "in: body.kind 10000000000; body.name U+0000" in text


def test_a_request_without_an_answer_fails_the_run() -> None:
    report = {
        "stop_reason": "max_time",
        "errors": [{"title": "Network Error", "count": 2}],
        "failures": [{"code": "ST103", "title": "Undocumented status code", "count": 1}],
    }
    findings = findings_of("ki", _har(), report, operations_of(OPENAPI))
    assert findings.no_answer == 2 and findings.failed
    assert "  check ST103 Undocumented status code x1: " in describe(findings)


def test_odd_values_are_named_by_where_they_sit() -> None:
    value = {"person": {"given_name": "A\x00B\tC\n", "children": [{"n": 2**31}]}, "ok": 2**31 - 1}
    assert odd_values(value, "body") == [
        Odd("body.person.given_name", NUL, "U+0000"),
        Odd("body.person.children[0].n", BEYOND_INT4, str(2**31)),
    ]
    assert odd_values("-2147483649", "path partner_id", from_text=True) == [
        Odd("path partner_id", BEYOND_INT4, "-2147483649")
    ]
    assert odd_values("-2147483648", "path partner_id", from_text=True) == []
    assert odd_values(True, "body.x") == []
