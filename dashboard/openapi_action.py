"""OpenAPI entries of the quarantine and CI-feedback endpoints (merged into ``openapi_document``)."""

from __future__ import annotations


def action_paths() -> dict:
    from dashboard.openapi import (
        BOOL,
        INT,
        OPT_NUM,
        OPT_STR,
        PROJECT,
        STR,
        _arr,
        _get,
        _json_response,
        _obj,
        _param,
        _ref,
    )

    listed = _obj(["nodeid"], nodeid=STR, suite=OPT_STR, reason=OPT_STR, added_by=STR, added_at=STR,
                  url=OPT_STR)
    document = _obj(["format", "version", "project", "tests"], format=STR, version=INT, project=STR,
                    generated_at=STR, tests=_arr(listed))
    refused = {"401": _json_response("No, unknown or revoked token.", _ref("Error")),
               "403": _json_response("The token belongs to another project.", _ref("Error"))}

    def token_post(summary: str, schema: dict, params: list[dict]) -> dict:
        return {"post": {"summary": summary, "tags": ["ci"], "parameters": params,
                         "security": [{"bearerToken": []}],
                         "responses": {"200": _json_response("OK", schema), **refused,
                                       "400": {"$ref": "#/components/responses/BadRequest"},
                                       "404": {"$ref": "#/components/responses/NotFound"},
                                       "503": {"$ref": "#/components/responses/Unavailable"}}}}

    failure = _obj(["nodeid", "category"], nodeid=STR, category={
        "type": "string", "enum": ["new", "new-flaky", "known-flaky", "quarantined"]}, message=OPT_STR)
    verdicts = _obj(["project", "suite", "run_id", "failures"], project=STR, suite=STR, run_id=INT,
                    url=OPT_STR, tests=INT, duration_s=OPT_NUM, budget_s=OPT_NUM, budget_source=OPT_STR,
                    failures=_arr(failure), rerun_flakes=_arr(STR), new_flaky=_arr(STR),
                    new_failures=_arr(STR), suspects=_arr(_obj()))
    change = _obj(["nodeid", "action", "actor", "at"], nodeid=STR, suite=OPT_STR, action=STR, actor=STR,
                  reason=OPT_STR, evidence_url=OPT_STR, at=STR, details=_obj())
    return {
        "/api/v1/projects/{project}/quarantine": _get(
            "Quarantined tests, the policy in force and the history of every change",
            _obj(["tests", "history"], project=STR, policy=_obj(auto_quarantine=BOOL),
                 tests=_arr(_obj()), history=_arr(change)),
            [PROJECT], "quarantine"),
        "/api/v1/projects/{project}/quarantine/export": token_post(
            "The quarantine list the pytest plugin reads (as `quarantine export --format json`)", document,
            [PROJECT]),
        "/api/v1/projects/{project}/runs/{run_id}/verdicts": token_post(
            "A run's failures as new, newly flaky, known flaky or quarantined; suspects; budget", verdicts,
            [PROJECT, _param("run_id", "path", INT, "Run id.")]),
    }
