"""The stdlib upload client: body format and retry policy, without a server where none is needed."""

from __future__ import annotations

import gzip
import io
import socket
from email.parser import BytesParser
from email.policy import HTTP

import pytest
from upload_helpers import GOOD

from ingest.upload_client import UploadError, runs_endpoint, upload_reports, write_multipart


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_is_retried_with_growing_backoff_then_reported(tmp_path):
    report = tmp_path / "junit.xml"
    report.write_bytes(GOOD.read_bytes())
    waits: list[float] = []
    with pytest.raises(UploadError) as info:
        upload_reports(f"http://127.0.0.1:{_closed_port()}", "sh_x", "shop", [report], retries=3,
                       backoff_s=1.0, sleep=waits.append)
    assert "gave up after 4 attempts" in str(info.value) and info.value.retryable
    assert len(waits) == 3
    # Exponential with jitter: each wait lies in [0.5, 1.5] x 1, 2, 4 seconds.
    for attempt, wait in enumerate(waits):
        assert 0.5 * 2 ** attempt <= wait <= 1.5 * 2 ** attempt


def test_multipart_body_carries_fields_and_each_file_gzipped_once(tmp_path):
    plain = tmp_path / "junit.xml"
    plain.write_bytes(GOOD.read_bytes())
    already = tmp_path / "other.xml.gz"
    already.write_bytes(gzip.compress(b"<testsuite/>"))
    body = io.BytesIO()
    write_multipart(body, "BOUNDARY", [plain, already], {"suite": "unit", "branch": None, "commit": "abc"})
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: multipart/form-data; boundary=BOUNDARY\r\n\r\n" + body.getvalue())
    parts = {(p.get_param("name", header="content-disposition"), p.get_filename()): p.get_payload(decode=True)
             for p in message.iter_parts()}
    assert parts[("suite", None)] == b"unit" and parts[("commit", None)] == b"abc"
    assert ("branch", None) not in parts  # empty fields are not sent
    assert gzip.decompress(parts[("file", "junit.xml")]) == GOOD.read_bytes()
    assert gzip.decompress(parts[("file", "other.xml.gz")]) == b"<testsuite/>"  # not gzipped twice


def test_project_names_are_url_encoded_in_the_endpoint():
    assert runs_endpoint("https://sh.example/", "acme/shop") == "https://sh.example/api/v1/projects/acme%2Fshop/runs"
