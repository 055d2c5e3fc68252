"""What one schemathesis run found, read from its reports (for ``scripts/fuzz_api.py``).

schemathesis writes every request and its answer into a HAR file and its verdict into a JSON
report. From the HAR come the requests made and every server error (status >= 500), grouped
by operation and by what was odd about the request: text holding NUL (PostgreSQL refuses it)
or another control character or a lone surrogate, an integer beyond int4 (the id columns).
The shortest request of a group is its reproduction. From the JSON report come the requests
that got no answer and the other checks that failed.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

INT4 = range(-(2**31), 2**31)

# schemathesis' titles of errors that mean a request got no answer (a timeout, a reset).
NO_ANSWER = frozenset({"Network Error", "Unresponsive Operation", "Server Unavailable"})
# ...and the code of the check that a server error fails (listed separately, with details).
SERVER_ERROR_CHECK = "ST101"

NUL = "NUL"
CONTROL = "control character"
SURROGATE = "lone surrogate"
BEYOND_INT4 = "integer beyond int4"
UNCLASSIFIED = "nothing odd"


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    path_params: tuple[str, ...]
    query_params: frozenset[str]

    def parameters(self, path: str) -> dict[str, str]:
        match = self.pattern.match(path)
        assert match is not None
        return {
            name: unquote(raw) for name, raw in zip(self.path_params, match.groups(), strict=True)
        }


def operations_of(openapi: dict[str, Any]) -> list[Operation]:
    found = []
    for template, methods in openapi["paths"].items():
        names = tuple(re.findall(r"{([^}]+)}", template))
        regex = re.sub(r"\\{[^}]+\\}", "([^/]*)", re.escape(template))
        for method, operation in methods.items():
            query = frozenset(
                str(parameter["name"])
                for parameter in operation.get("parameters", [])
                if parameter.get("in") == "query"
            )
            found.append(
                Operation(method.upper(), template, re.compile(f"^{regex}$"), names, query)
            )
    return found


@dataclass(frozen=True, order=True)
class Odd:
    """Something in a request that the database cannot hold, and where it sits."""

    where: str  # "path partner_id", "query town", "body.person.given_name"
    kind: str
    detail: str  # the code point, or the integer


def _odd_text(text: str, where: str) -> list[Odd]:
    found = []
    points = sorted({ord(c) for c in text if unicodedata.category(c) in {"Cc", "Cs"}})
    for point in points:
        if point in (0x09, 0x0A):  # tab and newline are text, where a field allows them
            continue
        kind = NUL if point == 0 else SURROGATE if 0xD800 <= point <= 0xDFFF else CONTROL
        found.append(Odd(where, kind, f"U+{point:04X}"))
    return found


def odd_values(value: Any, where: str, *, from_text: bool = False) -> list[Odd]:
    """Every part of ``value`` PostgreSQL cannot take, named by where it sits.

    ``from_text``: the value came as text (a path or query parameter), so digits are the
    integer they will be read as.
    """
    if isinstance(value, bool):
        return []
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        # A float with nothing after the point passes for an int (pydantic's lax mode).
        return [] if int(value) in INT4 else [Odd(where, BEYOND_INT4, str(int(value)))]
    if isinstance(value, str):
        found = _odd_text(value, where)
        if from_text and re.fullmatch(r"\s*[+-]?\d+\s*", value) and int(value) not in INT4:
            found.append(Odd(where, BEYOND_INT4, value.strip()))
        return found
    if isinstance(value, dict):
        return [odd for key, item in value.items() for odd in odd_values(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [odd for i, item in enumerate(value) for odd in odd_values(item, f"{where}[{i}]")]
    return []


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    status: int | None
    body: str | None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def target(self) -> str:
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def operation(self, operations: Sequence[Operation]) -> Operation | None:
        for operation in operations:
            if operation.method == self.method and operation.pattern.match(self.path):
                return operation
        return None

    def odd(self, operation: Operation | None) -> list[Odd]:
        found: list[Odd] = []
        if operation is not None:
            for name, value in operation.parameters(self.path).items():
                found += odd_values(value, f"path {name}", from_text=True)
        for name, value in parse_qsl(urlsplit(self.url).query, keep_blank_values=True):
            # Parameters the operation does not declare are ignored by it.
            if operation is None or name in operation.query_params:
                found += odd_values(value, f"query {name}", from_text=True)
        if self.body:
            try:
                found += odd_values(json.loads(self.body), "body")
            except ValueError:
                found += odd_values(self.body, "body (not JSON)")
        return sorted(set(found))

    def size(self) -> int:
        return len(self.target) + len(self.body or "")


def requests_of(har: dict[str, Any]) -> list[Request]:
    found = []
    for entry in har["log"]["entries"]:
        request, response = entry["request"], entry.get("response") or {}
        status = response.get("status")
        found.append(
            Request(
                method=str(request["method"]).upper(),
                url=str(request["url"]),
                status=status if isinstance(status, int) and status > 0 else None,
                body=(request.get("postData") or {}).get("text"),
            )
        )
    return found


def shown(text: str, limit: int = 300) -> str:
    """``text`` on one line, control characters as escapes, cut at ``limit``."""
    try:
        text = json.dumps(json.loads(text), ensure_ascii=True)
    except ValueError:
        text = json.dumps(text, ensure_ascii=True)
    return text if len(text) <= limit else text[:limit] + "…"


Group = tuple[str, str, tuple[str, ...]]  # method, path template, kinds of odd values


@dataclass
class Findings:
    caller: str
    requests: int = 0
    server_errors: dict[Group, list[Request]] = field(default_factory=dict)
    odd: dict[Group, set[Odd]] = field(default_factory=dict)
    no_answer: int = 0
    errors: list[tuple[str, int]] = field(default_factory=list)
    failed_checks: list[tuple[str, str, int, list[str]]] = field(default_factory=list)
    service_errors: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    stopped_early: str | None = None
    seconds: float = 0.0

    @property
    def server_error_count(self) -> int:
        return sum(len(requests) for requests in self.server_errors.values())

    @property
    def failed(self) -> bool:
        return bool(
            self.server_errors or self.no_answer or self.requests == 0 or self.stopped_early
        )


def findings_of(
    caller: str,
    har: dict[str, Any] | None,
    report: dict[str, Any] | None,
    operations: Sequence[Operation],
) -> Findings:
    findings = Findings(caller)
    requests = requests_of(har) if har else []
    findings.requests = len(requests)
    for request in requests:
        if request.status is None or request.status < 500:
            continue
        operation = request.operation(operations)
        odd = request.odd(operation)
        kinds = tuple(sorted({o.kind for o in odd})) or (UNCLASSIFIED,)
        group = (request.method, operation.template if operation else request.path, kinds)
        findings.server_errors.setdefault(group, []).append(request)
        findings.odd.setdefault(group, set()).update(odd)
    for error in (report or {}).get("errors", []):
        title, count = str(error.get("title")), int(error.get("count") or 1)
        findings.errors.append((title, count))
        if title in NO_ANSWER:
            findings.no_answer += count
    for failure in (report or {}).get("failures", []):
        if failure.get("code") != SERVER_ERROR_CHECK:
            findings.failed_checks.append(
                (
                    str(failure.get("code")),
                    str(failure.get("title")),
                    int(failure.get("count") or 0),
                    [str(name) for name in failure.get("operations") or []],
                )
            )
    if report is None:
        findings.stopped_early = "schemathesis wrote no report"
    elif report.get("stop_reason") == "server_unavailable":
        findings.stopped_early = "the service stopped answering"
    return findings


def describe(findings: Findings) -> list[str]:
    """The lines printed for one caller."""
    lines = [
        f"{findings.caller}: {findings.requests} requests, {findings.server_error_count} "
        f"server errors, {findings.no_answer} without an answer"
    ]
    for group, requests in sorted(findings.server_errors.items()):
        method, template, kinds = group
        example = min(requests, key=Request.size)
        statuses = ",".join(str(s) for s in sorted({r.status for r in requests if r.status}))
        lines.append(f"  {statuses} x{len(requests)}  {method} {template}  [{', '.join(kinds)}]")
        odd = sorted(findings.odd[group])
        if odd:
            named = [f"{o.where} {o.detail}" for o in odd[:8]]
            lines.append(f"      in: {'; '.join(named)}{' …' if len(odd) > 8 else ''}")
        lines.append(f"      e.g. {method} {example.target[:300]}")
        if example.body:
            lines.append(f"           body {shown(example.body)}")
    for (method, route, error_type, place), count in sorted(findings.service_errors.items()):
        lines.append(f"  service log x{count}: {method} {route}: {error_type} at {place}")
    for title, count in findings.errors:
        lines.append(f"  error x{count}: {title}")
    for code, title, count, operations in findings.failed_checks:
        lines.append(f"  check {code} {title} x{count}: {', '.join(operations)}")
    if findings.stopped_early:
        lines.append(f"  stopped early: {findings.stopped_early}")
    return lines
