"""Schemathesis against a real gunicorn server on both backends: every operation of the served
OpenAPI document, a bounded number of generated requests each, and every response must conform
(no 5xx, documented status, content type, headers and body schema)."""

from __future__ import annotations

import pytest
from input_helpers import NobodyServer, json_test, log_phases, pytest_json, reportlog

from ingest.db import ensure_schema, make_engine
from ingest.records import RunMeta
from ingest.sources import ReportSource
from ingest.store import ingest_sources
from ingest.tokens import create_token

pytestmark = pytest.mark.server
# Generated requests per operation and backend: enough to walk every parameter's edge cases, few
# enough that the run stays short on a shared machine.
EXAMPLES_PER_OPERATION = 25


@pytest.fixture
def seeded_url(db_url):
    """A database with project "shop": two runs, a failure, a rerun, a worker; both backends."""
    engine = make_engine(db_url)
    ensure_schema(engine)
    for n, data in enumerate([pytest_json(), pytest_json([json_test("t.py::test_ok"), json_test(
            "t.py::test_bad", "failed"), json_test("t.py::test_new", "skipped")], created=1.7e9),
            reportlog(*log_phases("t.py::test_ok", worker_id="gw0"))]):
        ingest_sources(engine, [ReportSource.from_bytes(f"r{n}.json", data)],
                       RunMeta(project="shop", suite="unit" if n < 2 else "log", branch="main"))
    token = create_token(engine, "shop")[1]
    engine.dispose()
    return db_url, token


def test_every_api_operation_conforms_to_the_served_openapi_document(seeded_url):
    import schemathesis

    # The document is OpenAPI 3.1 (type lists for nullable values); schemathesis 3.x reads it as experimental.
    schemathesis.experimental.OPEN_API_3_1.enable()
    url, token = seeded_url
    server = NobodyServer(url, workers=2)
    tried: dict[str, int] = {}
    failures: dict[str, str] = {}
    try:
        schema = schemathesis.from_uri(f"{server.url}/api/v1/openapi.json", base_url=server.url)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 12
        for operation in operations:
            label = f"{operation.method.upper()} {operation.path}"
            tried[label] = 0
            try:
                _exercise(operation, token, tried, label)
            except Exception as exc:  # collect every operation's first failure, not just the first one
                failures[label] = str(exc)[:2000]
    finally:
        log = server.stop()
    # Shown with -s: how many generated requests each operation got.
    print(f"schemathesis: {sum(tried.values())} requests over {len(tried)} operations: {tried}")
    assert failures == {}, "\n\n".join(f"{label}: {text}" for label, text in failures.items())
    assert "Traceback" not in log, log
    assert sum(tried.values()) >= 12 * 10, tried


def _exercise(operation, token: str, tried: dict[str, int], label: str) -> None:
    """Send ``EXAMPLES_PER_OPERATION`` generated requests for one operation and check each answer."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.specs.openapi.checks import ignored_auth

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(), real=st.booleans())
    def check(case, real):
        # Half the requests name the seeded project, so the pages run on real data, not only 404s.
        if real and case.path_parameters and "project" in case.path_parameters:
            case.path_parameters["project"] = "shop"
        headers = {"Authorization": f"Bearer {token}"} if case.method == "POST" else None
        response = case.call(headers=headers, timeout=60)
        tried[label] += 1
        # ignored_auth re-sends with the header we pass to call() still attached (a false "auth not
        # enforced"); tests/security/test_auth_required.py checks every guarded operation instead.
        case.validate_response(response, excluded_checks=(ignored_auth,))

    check()
