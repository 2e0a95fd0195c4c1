"""The OpenAPI 3.1 description of every /api/v1 endpoint, served at /api/v1/openapi.json.

Response schemas list the keys the pages promise (the cross-team contracts) and allow more:
the JSON twins grow with their pages, and clients should ignore keys they do not know.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from dashboard.analysis.runs import SORTS
from dashboard.analysis.unexplained import DEFAULT_VICTIMS, MAX_VICTIMS
from dashboard.views.common import MAX_DATE, MAX_ID, MAX_OFFSET, MIN_DATE
from ingest.records import OUTCOMES as _OUTCOMES

OUTCOMES = list(_OUTCOMES)
# ISO weeks of the years the app accepts (1970-2999); week 53 exists only in some years, so the
# document promises weeks 01-52 and the app answers 400 for a week 53 a year does not have.
WEEK_PATTERN = r"^(19[7-9][0-9]|2[0-9]{3})-W(0[1-9]|[1-4][0-9]|5[0-2])$"


def _version() -> str:
    try:
        return version("suitehealth")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0"


def _obj(required: list[str] | None = None, **props) -> dict:
    schema: dict = {"type": "object", "properties": props, "additionalProperties": True}
    if required:
        schema["required"] = required
    return schema


def _arr(items: dict) -> dict:
    return {"type": "array", "items": items}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
OPT_STR = {"type": ["string", "null"]}
OPT_NUM = {"type": ["number", "null"]}
OPT_INT = {"type": ["integer", "null"]}
DATETIME = {"type": "string", "format": "date-time"}
OPT_DATETIME = {"type": ["string", "null"], "format": "date-time"}
OPT_DATE = {"type": ["string", "null"], "format": "date"}
# How current the stored analysis behind a page is (null on ?until= pages, which compute their own).
ANALYSIS = {"oneOf": [
    _obj(["runs_behind", "up_to_date", "message"], runs_behind=INT, updated_at=OPT_DATETIME, up_to_date=BOOL,
         message={**STR, "example": "analysis 3 runs behind, updated 40 s ago"}),
    {"type": "null"}]}
# Which moment an as-of listing answers for (?until=): the one asked, or the nearest stored before it.
AS_OF = _obj(["asked", "answered", "exact"], asked=OPT_DATETIME, answered=OPT_DATETIME, exact=BOOL,
             message={"type": ["string", "null"], "description":
                      "why the answer is for another moment than asked (null when exact)"})


def _param(name: str, where: str, schema: dict, description: str, required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema,
            "description": description}


PROJECT = _param("project", "path", STR, "Project name; URL-encode a '/' in it as %2F (e.g. acme%2Fshop).")
SUITE = _param("suite", "query", STR, "Only this suite (CI job), e.g. integration.")
BRANCH = _param("branch", "query", STR, "Only runs of this branch.")
SINCE = _param("since", "query", {"type": "string", "format": "date"},
               f"First day included (YYYY-MM-DD, {MIN_DATE} to {MAX_DATE}).")
UNTIL = _param("until", "query", {"type": "string", "format": "date"},
               f"Last day included (YYYY-MM-DD, {MIN_DATE} to {MAX_DATE}).")
LIMIT = _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, "Rows per page.")
PAGE = _param("page", "query", {"type": "integer", "minimum": 1, "maximum": MAX_OFFSET // 1000 + 1},
              "1-based page number (page x limit at most 10^9).")
OFFSET = _param("offset", "query", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                "Rows to skip (instead of page).")
LIST_PARAMS = [LIMIT, PAGE, OFFSET]
FILTERS = [SUITE, BRANCH, SINCE, UNTIL]


def _json_response(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _get(summary: str, schema: dict, params: list[dict], tag: str, *, not_found: bool = True) -> dict:
    responses = {"200": _json_response("OK", schema)}
    if params:
        responses["400"] = {"$ref": "#/components/responses/BadRequest"}
    if not_found:
        responses["404"] = {"$ref": "#/components/responses/NotFound"}
    responses["503"] = {"$ref": "#/components/responses/Unavailable"}
    return {"get": {"summary": summary, "tags": [tag], "parameters": params, "responses": responses}}


def _schemas() -> dict:
    counts = {"tests": INT, "passed": INT, "failed": INT, "errors": INT, "skipped": INT, "xfailed": INT,
              "xpassed": INT, "reruns": INT}
    return {
        "Error": _obj(["error"], error={"type": "string", "description": "What is wrong; names the file for "
                                                                        "report errors."}, status=INT),
        "Run": _obj(["id", "suite", "started_at"], id=INT, suite=STR, branch=OPT_STR, commit=OPT_STR,
                    build_id=OPT_STR, build_url=OPT_STR, started_at=DATETIME,
                    duration_s={**OPT_NUM, "description": "Wall time of the session in seconds."}, **counts),
        "Result": _obj(["nodeid", "outcome"], nodeid=STR, outcome={"type": "string", "enum": OUTCOMES},
                       duration_s=OPT_NUM, setup_s=OPT_NUM, call_s=OPT_NUM, teardown_s=OPT_NUM,
                       order_index=OPT_INT, worker_id=OPT_STR, start_ts=OPT_NUM, stop_ts=OPT_NUM,
                       message=OPT_STR, attempt=INT, final=BOOL),
        "UploadResult": _obj(
            ["run_id", "project", "suite", "tests", "duplicate"], run_id=INT, project=STR, suite=STR,
            duration_s=OPT_NUM, started_at=DATETIME, files=INT, url={**STR, "description": "Dashboard page."},
            duplicate={**BOOL, "description": "True when this content was already stored (the run_id is the "
                                              "stored run's)."}, **counts),
        "LevelStats": _obj(["tests", "time_s"], tests=INT, time_s=NUM),
        "FlakyTest": _obj(["nodeid", "score", "runs", "failures", "status"], nodeid=STR, score=NUM, runs=INT,
                          failures=INT, status=STR, first_seen=OPT_DATETIME, last_flake=OPT_DATETIME,
                          failure_rate=NUM, flip_rate=NUM, ci_low=NUM, ci_high=NUM, signatures=_arr(_obj())),
        "BrokenTest": _obj(["nodeid"], nodeid=STR, since_run_id=OPT_INT, since_at=OPT_DATETIME,
                           consecutive_failures=INT, message=OPT_STR, last_seen=OPT_DATETIME),
        "Suspect": _obj(
            ["victim", "polluters", "kind", "confidence"], victim=STR,
            polluters={**_arr(STR), "description": "Node ids of the equivalence group, best first."},
            kind={"type": "string", "enum": ["polluter", "state-setter", "concurrent", "cascade"]},
            confidence={"type": "number", "minimum": 0, "maximum": 1},
            evidence={**_obj(model={"type": "string", "description": (
                "How the history shows it: 'before' (ran before the victim), 'last-of-module' (was its "
                "module's last test before the victim), 'last-writer' (the nearest module that writes "
                "shared state decides; p_value is then the permutation p of the whole fit, and "
                "'modules' lists the group's modules), 'confirm' (proven by re-running).")},
                modules={**_arr(STR), "description": "Model 'last-writer': the modules that decide it."}),
                "description": "The 2x2 counts (fail_with, pass_with, fail_without, pass_without), p_value, "
                               "q_value, tier, model, bisection plan and example runs."},
            reproduce={**STR, "description": "A pytest command that should reproduce it."},
            first_seen_at=OPT_DATETIME, last_seen_at=OPT_DATETIME,
            tier={"type": "string", "enum": ["proven", "strong", "likely"]},
            verdict={"oneOf": [_ref("Verdict"), {"type": "null"}]}),
        "StoredOrder": _obj(
            ["run_id", "outcome", "before"], run_id=INT,
            outcome={"type": "string", "enum": ["passed", "failed"],
                     "description": "The victim's outcome in that run (an error counts as failed)."},
            before={**_arr(STR), "description": "Node ids that ran before the victim in that run on its "
                                                "worker, in their order (whole: it can be thousands)."}),
        "UnexplainedVictim": _obj(
            ["nodeid", "suite", "passed_run", "failed_run", "has_suspect"], nodeid=STR, suite=OPT_STR,
            passed_run={"oneOf": [_ref("StoredOrder"), {"type": "null"}],
                        "description": "The newest stored run where it passed."},
            failed_run={"oneOf": [_ref("StoredOrder"), {"type": "null"}],
                        "description": "The newest stored run where it failed."},
            has_suspect={**BOOL, "description": "Only true for a ?victim= the detector names a suspect of."}),
        "Verdict": _obj(
            ["victim", "kind", "verdict"], victim=STR, kind=STR, tested=_arr(STR), culprits=_arr(STR),
            verdict={"type": "string", "enum": ["proven", "not-reproduced", "skipped"]},
            commit={"type": ["string", "null"]}, detail={"type": ["string", "null"]},
            recorded_at={**STR, "format": "date-time"}, text=STR),
    }


def _verdict_operation() -> dict:
    return {"post": {
        "summary": "Record what `suitehealth confirm` saw when it re-ran a suspect",
        "tags": ["flaky"], "security": [{"bearerToken": []}], "parameters": [PROJECT],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _obj(
            ["victim", "kind", "verdict"], victim=STR, kind=STR, tested=_arr(STR), culprits=_arr(STR),
            verdict={"type": "string", "enum": ["proven", "not-reproduced", "skipped"]},
            commit={"type": ["string", "null"]}, detail={"type": ["string", "null"]})}}},
        "responses": {
            "201": _json_response("Stored.", _ref("Verdict")),
            "400": {"$ref": "#/components/responses/BadRequest"},
            "401": _json_response("No, unknown or revoked token.", _ref("Error")),
            "403": _json_response("The token belongs to another project.", _ref("Error")),
            "404": {"$ref": "#/components/responses/NotFound"},
            "503": {"$ref": "#/components/responses/Unavailable"},
        },
    }}


def _upload_operation() -> dict:
    form_fields = {
        "file": {"type": "array", "items": {"type": "string", "contentMediaType": "application/octet-stream"},
                 "description": "One or more reports (JUnit XML, pytest JSON/JSONL, --durations text), plain "
                                "or gzip. All files of one request are ONE run."},
        "suite": {**STR, "description": "CI job name; default 'default'."},
        "branch": STR, "commit": STR, "build_id": STR, "build_url": STR,
        "started_at": {**STR, "format": "date-time", "description": "ISO 8601; default: from the report."},
        "ci": {**STR, "description": "CI provider name, kept in the run's environment."},
    }
    return {
        "summary": "Upload the reports of one CI run",
        "description": "Needs an upload token of this project (`suitehealth token create --project P`). "
                       "Idempotent: the same content again answers 200 with the stored run_id. Nothing is "
                       "stored on any error.",
        "tags": ["upload"],
        "security": [{"bearerToken": []}],
        "parameters": [PROJECT],
        "requestBody": {"required": True, "content": {"multipart/form-data": {
            "schema": {"type": "object", "properties": form_fields, "required": ["file"]},
            "encoding": {"file": {"contentType": "application/gzip, application/xml, application/json, "
                                                 "text/plain, application/octet-stream"}}}}},
        "responses": {
            "201": _json_response("Stored as a new run.", _ref("UploadResult")),
            "200": _json_response("This content was already stored; the existing run.", _ref("UploadResult")),
            "400": {"$ref": "#/components/responses/BadRequest"},
            "401": _json_response("No, unknown or revoked token.", _ref("Error")),
            "403": _json_response("The token belongs to another project.", _ref("Error")),
            "404": {"$ref": "#/components/responses/NotFound"},
            "413": _json_response("Body or a report (after gzip expansion) is over the size limit.",
                                  _ref("Error")),
            "422": _json_response("A report cannot be read; the error names the file and position.",
                                  _ref("Error")),
            "503": {"$ref": "#/components/responses/Unavailable"},
        },
    }


def openapi_document(auth: str = "none", cookie: str | None = None) -> dict:
    """Return the OpenAPI 3.1 document of the suitehealth JSON API (``auth``: SUITEHEALTH_AUTH's mode).

    With ``auth="token"`` every read needs a read token or the session cookie named ``cookie``.
    """
    runs_path = _get("Runs of a project, newest first", _obj(["runs"], runs=_arr(_ref("Run"))),
                     [PROJECT, *FILTERS, *LIST_PARAMS], "runs")
    runs_path["post"] = _upload_operation()
    paths = {
        "/healthz": {"get": {"summary": "Liveness and database reachability", "tags": ["meta"], "responses": {
            "200": _json_response("Database answers: ok, or read-only (pages served, uploads refused).",
                                  _obj(["status"], status={"type": "string", "enum": ["ok", "read-only"]},
                                       error=STR)),
            "503": {**_json_response("Database unreachable or its schema missing.",
                                     _obj(["status"], error=STR, status={"type": "string",
                                                                         "enum": ["unavailable"]})),
                    "headers": {"Retry-After": {"schema": {"type": "string"}}}}}}},
        "/api/v1/openapi.json": {"get": {"summary": "This document", "tags": ["meta"], "responses": {
            "200": _json_response("OpenAPI 3.1", {"type": "object"})}}},
        "/api/v1/projects": _get(
            "Projects with their last run and a health summary",
            _obj(["projects"], projects=_arr(_obj(
                ["name"], name=STR, last_run={"oneOf": [_ref("Run"), {"type": "null"}]}))),
            [], "projects", not_found=False),
        "/api/v1/projects/{project}": _get(
            "Project overview: latest run per suite, pass rate, budget status, top problems",
            _obj(["project"], project={**STR, "description": "The project's name."}, suites=_arr(_obj()),
                 recent_runs=_arr(_ref("Run")), analysis=ANALYSIS),
            [PROJECT], "projects"),
        "/api/v1/projects/{project}/runs": runs_path,
        "/api/v1/projects/{project}/runs/{run_id}": _get(
            "One run with its results (failures first), paginated",
            _obj(["run"], run=_ref("Run"), results=_arr(_ref("Result"))),
            [PROJECT, _param("run_id", "path", {**INT, "minimum": 0, "maximum": MAX_ID}, "Run id."),
             _param("sort", "query", {"type": "string", "enum": list(SORTS)}, "Order of the results."),
             _param("dir", "query", {"type": "string", "enum": ["asc", "desc"]}, "Sort direction."),
             _param("outcome", "query", {"type": "string", "enum": OUTCOMES}, "Only this outcome."),
             *LIST_PARAMS], "runs"),
        "/api/v1/projects/{project}/tests": _get(
            "With ?nodeid=: that test's history (outcomes, durations, phase split, failures, suspects); "
            "without: the project's tests matching ?q=, paginated",
            {"oneOf": [
                _obj(["project", "test"], project=STR, test=_obj(
                    ["nodeid", "runs"], nodeid=STR, runs=_arr(_obj()), first_seen_at=OPT_DATETIME,
                    last_seen_at=OPT_DATETIME), suspects=_obj(), analysis=ANALYSIS),
                _obj(["project", "tests", "total"], project=STR, q=STR, total=INT, limit=INT, offset=INT,
                     tests=_arr(_obj(["nodeid"], nodeid=STR))),
            ]},
            [PROJECT, _param("nodeid", "query", STR, "The pytest node id; without it, the list of tests."),
             _param("q", "query", STR, "Without nodeid: only tests whose node id contains this."),
             *FILTERS, *LIST_PARAMS], "tests"),
        "/api/v1/projects/{project}/pyramid": _get(
            "Distinct tests and test time per level, the shape verdict and its trend",
            _obj(["levels", "shape"], levels={"type": "object", "additionalProperties": _ref("LevelStats"),
                                              "description": "unit, integration, e2e (+unknown)."},
                 shape={**STR, "description": "pyramid, diamond, hourglass, ice-cream cone …"}),
            [PROJECT, *FILTERS], "pyramid"),
        "/api/v1/projects/{project}/budget": _get(
            "A suite's wall time against its budget, trend and forecast, slowest tests, regressions",
            _obj(["suite", "budget_s", "latest_s", "trend_s_per_week", "forecast_breach_date", "runs"],
                 suite=STR, budget_s=NUM, latest_s=OPT_NUM, median_s=OPT_NUM, trend_s_per_week=OPT_NUM,
                 forecast_breach_date=OPT_DATE, workers_needed=OPT_INT,
                 status={"type": "string", "enum": ["ok", "at-risk", "over"]}, runs=_arr(_obj())),
            [PROJECT, SUITE, BRANCH, SINCE, UNTIL], "budget"),
        "/api/v1/projects/{project}/flaky": _get(
            "Flaky tests, most flaky first (broken tests are listed separately)",
            _obj(["tests"], tests=_arr(_ref("FlakyTest")), broken=_arr(_ref("BrokenTest")),
                 analysis=ANALYSIS, as_of=AS_OF),
            [PROJECT, SUITE, SINCE, UNTIL, *LIST_PARAMS], "flaky"),
        "/api/v1/projects/{project}/suspects": _get(
            "Interference suspects, the strongest of each victim first",
            _obj(["suspects"], suspects=_arr(_ref("Suspect")), analysis=ANALYSIS, as_of=AS_OF,
                 without_suspect=_obj(["total", "tests"], total=INT, tests=_arr(_obj(
                     ["nodeid", "confirm"], nodeid=STR, suite=STR, score=NUM, failures=INT, runs=INT,
                     confirm={**STR, "description": "suitehealth confirm --unexplained for this test "
                                                    "(add --db or --server)"})))),
            [PROJECT, SINCE, UNTIL, *LIST_PARAMS], "flaky"),
        "/api/v1/projects/{project}/verdicts": _verdict_operation(),
        "/api/v1/projects/{project}/unexplained": _get(
            "Flaky tests without a suspect or verdict and the stored orders `confirm --unexplained` re-runs",
            _obj(["project", "victims", "total", "limit", "left_off"], project=STR,
                 victims=_arr(_ref("UnexplainedVictim")),
                 total={**INT, "description": "Victims found before the limit."}, limit=INT,
                 left_off={**INT, "description": "Victims not in this answer (total - returned)."},
                 analysis=ANALYSIS),
            [PROJECT,
             _param("victim", "query", STR, "Only this node id; it must be a flaky test (else 404), even one "
                                            "with a suspect or a verdict."),
             _param("again", "query", {"type": "integer", "enum": [0, 1]},
                    "1: also the flaky tests that already have a verdict."),
             _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_VICTIMS},
                    f"Victims at most (default {DEFAULT_VICTIMS}), most flaky first.")], "flaky"),
        "/api/v1/projects/{project}/weekly": _get(
            "The weekly suite-health review",
            _obj(["week"], week={**STR, "description": "ISO week, YYYY-Www."}, actions=_arr(_obj()),
                 analysis=_obj(["runs_behind", "up_to_date", "message"], runs_behind=INT,
                               updated_at=OPT_DATETIME, up_to_date=BOOL, message=STR, weekly_findings={
                                   "enum": ["stored", "stale", "computed", None], "description":
                                   "stored: flakiness and suspects read from the worker's week findings; "
                                   "stale: read from findings the worker is storing again after late runs "
                                   "(the history is too big to replay per request); "
                                   "computed: replayed for this request (worker behind); "
                                   "null: week without runs"},
                               weekly_parts={
                                   "enum": ["stored", "stale", "computed"], "description":
                                   "stored: slowdowns, slowest tests, pyramid drift, skips and failures read "
                                   "from the worker's week parts; stale: read from parts the worker is "
                                   "storing again (too big to summarise per request); computed: summarised "
                                   "from the results for this request (worker behind)"})),
            [PROJECT, _param("week", "query", {"type": "string", "pattern": WEEK_PATTERN},
                             "ISO week, 1970-W01 to 2999-W52; default: the last complete one.")], "weekly"),
    }
    from dashboard.openapi_action import action_paths

    paths.update(action_paths())
    document = {
        "openapi": "3.1.0",
        "info": {"title": "suitehealth API", "version": _version(),
                 "description": "Test-suite profiler and flakiness dashboard. Every page has a JSON twin "
                                "under /api/v1; errors are {\"error\": \"...\", \"status\": N}."},
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "responses": {
                "BadRequest": _json_response("A parameter or field is invalid.", _ref("Error")),
                "NotFound": _json_response("No such project, run or test.", _ref("Error")),
                "Unavailable": {**_json_response("The database is down, read-only or gone; retry later.",
                                                 _ref("Error")),
                                "headers": {"Retry-After": {"description": "Seconds to wait before retrying.",
                                                            "schema": {"type": "string"}}}},
            },
            "securitySchemes": {"bearerToken": {"type": "http", "scheme": "bearer",
                                                "description": "A per-project upload token."}},
        },
    }
    if auth == "token":
        _add_read_security(document, cookie or "suitehealth_session")
    return document


def _add_read_security(document: dict, cookie: str) -> None:
    """Sign-in mode: every operation without its own security reads with a token or the session cookie."""
    document["components"]["securitySchemes"].update({
        "readToken": {"type": "http", "scheme": "bearer",
                      "description": "A read token (`suitehealth token create --read`), or the project's "
                                     "upload token; also accepted as the X-Suitehealth-Token header."},
        "sessionCookie": {"type": "apiKey", "in": "cookie", "name": cookie,
                          "description": "The session cookie set by signing in at /signin."},
    })
    document["components"]["responses"]["SignInRequired"] = {
        **_json_response("No valid read token or session.", _ref("Error")),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}}
    document["security"] = [{"readToken": []}, {"sessionCookie": []}]
    for path, item in document["paths"].items():
        for operation in item.values():
            if path == "/healthz":
                operation["security"] = []  # always open
            elif "security" not in operation:
                operation["responses"]["401"] = {"$ref": "#/components/responses/SignInRequired"}
