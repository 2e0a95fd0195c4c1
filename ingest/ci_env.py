"""Run metadata from the CI system's environment variables.

Order of precedence everywhere: explicit flags, then these variables, then the report itself,
then defaults. Only providers we can recognise reliably are read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def _github(env: Mapping[str, str]) -> dict:
    ref = env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME")
    server = env.get("GITHUB_SERVER_URL", "https://github.com")
    url = None
    if env.get("GITHUB_REPOSITORY") and env.get("GITHUB_RUN_ID"):
        url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return {"provider": "github-actions", "branch": ref, "commit": env.get("GITHUB_SHA"),
            "build_id": env.get("GITHUB_RUN_ID"), "build_url": url, "suite": env.get("GITHUB_JOB"),
            "project": env.get("GITHUB_REPOSITORY")}


def _gitlab(env: Mapping[str, str]) -> dict:
    return {"provider": "gitlab-ci",
            "branch": env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or env.get("CI_COMMIT_REF_NAME"),
            "commit": env.get("CI_COMMIT_SHA"), "build_id": env.get("CI_JOB_ID") or env.get("CI_PIPELINE_ID"),
            "build_url": env.get("CI_JOB_URL") or env.get("CI_PIPELINE_URL"), "suite": env.get("CI_JOB_NAME"),
            "project": env.get("CI_PROJECT_PATH")}


def _jenkins(env: Mapping[str, str]) -> dict:
    branch = env.get("CHANGE_BRANCH") or env.get("BRANCH_NAME") or env.get("GIT_BRANCH")
    if branch and branch.startswith("origin/"):
        branch = branch[len("origin/"):]
    return {"provider": "jenkins", "branch": branch, "commit": env.get("GIT_COMMIT"),
            "build_id": env.get("BUILD_NUMBER") or env.get("BUILD_ID"), "build_url": env.get("BUILD_URL"),
            "suite": env.get("STAGE_NAME"), "project": env.get("JOB_NAME")}


def _circleci(env: Mapping[str, str]) -> dict:
    project = None
    if env.get("CIRCLE_PROJECT_USERNAME") and env.get("CIRCLE_PROJECT_REPONAME"):
        project = f"{env['CIRCLE_PROJECT_USERNAME']}/{env['CIRCLE_PROJECT_REPONAME']}"
    return {"provider": "circleci", "branch": env.get("CIRCLE_BRANCH"), "commit": env.get("CIRCLE_SHA1"),
            "build_id": env.get("CIRCLE_WORKFLOW_JOB_ID") or env.get("CIRCLE_BUILD_NUM"),
            "build_url": env.get("CIRCLE_BUILD_URL"), "suite": env.get("CIRCLE_JOB"), "project": project}


def _buildkite(env: Mapping[str, str]) -> dict:
    return {"provider": "buildkite", "branch": env.get("BUILDKITE_BRANCH"),
            "commit": env.get("BUILDKITE_COMMIT"),
            "build_id": env.get("BUILDKITE_BUILD_ID") or env.get("BUILDKITE_BUILD_NUMBER"),
            "build_url": env.get("BUILDKITE_BUILD_URL"), "suite": env.get("BUILDKITE_LABEL"),
            "project": env.get("BUILDKITE_PIPELINE_SLUG")}


_PROVIDERS = (
    ("GITHUB_ACTIONS", _github),
    ("GITLAB_CI", _gitlab),
    ("BUILDKITE", _buildkite),
    ("CIRCLECI", _circleci),
    ("JENKINS_URL", _jenkins),
)


def ci_metadata(env: Mapping[str, str] | None = None) -> dict:
    """Return {provider, project, suite, branch, commit, build_id, build_url} found in ``env``.

    Keys whose variable is unset are omitted; an empty dict means no known CI.
    """
    env = os.environ if env is None else env
    for marker, reader in _PROVIDERS:
        if env.get(marker):
            found = reader(env)
            # "HEAD" is what detached checkouts report; it names no branch.
            if found.get("branch") == "HEAD":
                found["branch"] = None
            return {k: v for k, v in found.items() if v}
    return {}
