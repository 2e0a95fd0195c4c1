"""The ``ingest`` and ``backfill`` commands: output, errors, metadata precedence, bulk import."""

from __future__ import annotations

import gzip
import json

import pytest
from ingest_helpers import CORPUS, stored_counts

from ingest.cli import build_run_meta
from ingest.db import make_engine

CI_MARKERS = ("GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "CIRCLECI", "JENKINS_URL")
REPORT = CORPUS / "pytest/junit.gloo.elastic.xml"  # timestamp 2020-08-31T09:25:25, 14 tests


@pytest.fixture(autouse=True)
def no_ci_environment(monkeypatch):
    """The tests must not pick up the CI system they may themselves run on."""
    for name in CI_MARKERS:
        monkeypatch.delenv(name, raising=False)


def test_ingest_json_prints_the_run_summary(cli):
    result = cli("ingest", REPORT, "--project", "shop", "--suite", "unit", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {
        "run_id",
        "project",
        "suite",
        "tests",
        "passed",
        "failed",
        "errors",
        "skipped",
        "duplicate",
    } <= set(summary)
    assert (summary["project"], summary["suite"], summary["tests"], summary["duplicate"]) == (
        "shop",
        "unit",
        14,
        False,
    )
    again = json.loads(cli("ingest", REPORT, "--project", "shop", "--suite", "unit", "--json").stdout)
    assert again["duplicate"] is True and again["run_id"] == summary["run_id"]


def test_shards_given_together_are_one_run(cli, tmp_path):
    zipped = tmp_path / "standalone.xml.gz"
    zipped.write_bytes(gzip.compress((CORPUS / "pytest/junit.gloo.standalone.xml").read_bytes()))
    summary = json.loads(cli("ingest", REPORT, zipped, "--project", "shop", "--json").stdout)
    assert summary["tests"] == 14 + 97 and summary["files"] == 2


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("malformed/truncated-pytest.xml", "truncated-pytest.xml:11:22: invalid XML"),
        ("malformed/xxe-external-entity.xml", "xxe-external-entity.xml: DOCTYPE"),
        ("malformed/non-json.json", "non-json.json: not a report format"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line_naming_the_file_and_stores_nothing(cli, db_url, name, where):
    result = cli("ingest", REPORT, CORPUS / name, "--project", "shop")
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and where in lines[0]
    assert stored_counts(make_engine(db_url)) == {"runs": 0, "tests": 0, "results": 0}


def test_a_missing_file_is_reported(cli, tmp_path):
    result = cli("ingest", tmp_path / "nope.xml", "--project", "shop")
    assert result.exit_code != 0 and "nope.xml" in result.stderr


def test_a_bad_started_at_is_reported(cli):
    result = cli("ingest", REPORT, "--project", "shop", "--started-at", "last tuesday")
    assert result.exit_code != 0 and "--started-at" in result.stderr


def test_metadata_comes_from_flags_then_ci_then_report(cli, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_REF_NAME", "feature/x")
    monkeypatch.setenv("GITHUB_SHA", "c0ffee")
    monkeypatch.setenv("GITHUB_RUN_ID", "4711")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/shop")
    monkeypatch.setenv("GITHUB_JOB", "integration")
    assert cli("ingest", REPORT, "--branch", "main").exit_code == 0
    (run,) = json.loads(cli("runs", "--project", "acme/shop", "--json").stdout)["runs"]
    assert run["branch"] == "main"  # the flag wins over GITHUB_REF_NAME
    assert run["commit"] == "c0ffee" and run["build_id"] == "4711" and run["suite"] == "integration"
    assert run["build_url"] == "https://github.com/acme/shop/actions/runs/4711"
    assert run["started_at"].startswith("2020-08-31T09:25:25")  # from the report's timestamp
    assert cli("ingest", CORPUS / "pytest/report.xml", "--started-at", "2026-01-02T03:04:05Z").exit_code == 0
    runs = json.loads(cli("runs", "--project", "acme/shop", "--json").stdout)["runs"]
    assert runs[0]["started_at"] == "2026-01-02T03:04:05+00:00"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {
                "GITLAB_CI": "true",
                "CI_COMMIT_REF_NAME": "dev",
                "CI_COMMIT_SHA": "abc",
                "CI_JOB_ID": "7",
                "CI_JOB_NAME": "unit",
                "CI_PROJECT_PATH": "g/p",
            },
            ("g/p", "unit", "dev", "abc", "7"),
        ),
        (
            {
                "JENKINS_URL": "http://j",
                "GIT_BRANCH": "origin/main",
                "GIT_COMMIT": "def",
                "BUILD_NUMBER": "12",
                "JOB_NAME": "shop",
            },
            ("shop", "default", "main", "def", "12"),
        ),
        (
            {
                "CIRCLECI": "true",
                "CIRCLE_BRANCH": "b",
                "CIRCLE_SHA1": "s",
                "CIRCLE_BUILD_NUM": "3",
                "CIRCLE_JOB": "e2e",
                "CIRCLE_PROJECT_USERNAME": "o",
                "CIRCLE_PROJECT_REPONAME": "r",
            },
            ("o/r", "e2e", "b", "s", "3"),
        ),
        (
            {
                "BUILDKITE": "true",
                "BUILDKITE_BRANCH": "b",
                "BUILDKITE_COMMIT": "HEAD",
                "BUILDKITE_BUILD_ID": "u",
                "BUILDKITE_LABEL": "unit",
                "BUILDKITE_PIPELINE_SLUG": "shop",
            },
            ("shop", "unit", "b", "HEAD", "u"),
        ),
    ],
)
def test_each_ci_provider_fills_missing_metadata(env, expected):
    meta = build_run_meta(None, None, None, None, None, None, None, env=env)
    assert (meta.project, meta.suite, meta.branch, meta.commit, meta.build_id) == expected


def test_flags_win_over_the_ci_environment():
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REF_NAME": "ci-branch",
        "GITHUB_SHA": "ci-sha",
        "GITHUB_JOB": "ci-job",
    }
    meta = build_run_meta("p", "s", "b", "c", None, None, None, env=env)
    assert (meta.project, meta.suite, meta.branch, meta.commit) == ("p", "s", "b", "c")


# ---- backfill -------------------------------------------------------------------------------


def write_manifest(tmp_path) -> tuple:
    reports = tmp_path / "history"
    reports.mkdir()
    (reports / "a.xml").write_bytes((CORPUS / "pytest/junit.gloo.elastic.xml").read_bytes())
    (reports / "b.xml.gz").write_bytes(gzip.compress((CORPUS / "pytest/report.xml").read_bytes()))
    (reports / "bad.xml").write_bytes((CORPUS / "malformed/truncated-pytest.xml").read_bytes())
    absolute = str(CORPUS / "pytest-live/pytest-reportlog-xdist.jsonl")
    lines = [
        {
            "project": "shop",
            "suite": "unit",
            "branch": "main",
            "commit": "a1",
            "build_id": "1",
            "started_at": "2026-01-01T10:00:00Z",
            "files": ["history/a.xml"],
        },
        {
            "project": "shop",
            "suite": "unit",
            "branch": "main",
            "commit": "a2",
            "build_id": "2",
            "started_at": "2026-01-02T10:00:00Z",
            "files": ["history/b.xml.gz", absolute],
        },
        "this is not json",
        {"project": "shop", "suite": "unit", "files": ["history/missing.xml"]},
        {"project": "shop", "suite": "unit", "files": ["history/bad.xml"]},
        {"project": "shop", "suite": "e2e", "started_at": "2026-01-03T10:00:00Z", "files": ["history/a.xml"]},
    ]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return manifest, len(lines)


def test_backfill_stores_good_lines_and_reports_bad_ones_by_line_number(cli, db_url, tmp_path):
    manifest, _ = write_manifest(tmp_path)
    result = cli("backfill", manifest, "--json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["stored"], summary["failed"], summary["duplicates"]) == (3, 3, 0)
    by_line = {entry["line"]: entry for entry in summary["runs"]}
    assert {n for n, e in by_line.items() if "error" in e} == {3, 4, 5}
    assert "missing.xml" in by_line[4]["error"]
    assert "bad.xml:11:22" in by_line[5]["error"]
    assert by_line[2]["tests"] == 3 + 13
    assert summary["results"] == sum(by_line[n]["tests"] for n in (1, 2, 6))
    runs = json.loads(cli("runs", "--project", "shop", "--json").stdout)["runs"]
    assert [r["started_at"][:10] for r in runs] == ["2026-01-03", "2026-01-02", "2026-01-01"]
    assert stored_counts(make_engine(db_url))["runs"] == 3


def test_backfill_again_finds_every_run_already_stored(cli, tmp_path):
    manifest, _ = write_manifest(tmp_path)
    cli("backfill", manifest, "--json")
    summary = json.loads(cli("backfill", manifest, "--json").stdout)
    assert (summary["stored"], summary["duplicates"], summary["failed"]) == (0, 3, 3)


def test_backfill_without_json_prints_errors_on_stderr_and_a_summary(cli, tmp_path):
    manifest, _ = write_manifest(tmp_path)
    result = cli("backfill", manifest)
    assert result.exit_code == 1
    assert f"{manifest}:3:" in result.stderr and f"{manifest}:5:" in result.stderr
    assert "3 runs stored" in result.stdout
