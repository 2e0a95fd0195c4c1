"""Slow clients do not take `suitehealth serve` down: real gunicorn, real sockets.

50 slowloris connections (a header line now and then, never the blank line) and 3 unauthenticated
upload bodies trickled a byte at a time stay open while /healthz is asked 20 times. With the old sync
workers (one request per process) /healthz answered 0 of 20.
"""

from __future__ import annotations

import pytest
from slow_clients import SlowClients, healthz_answers

pytestmark = [pytest.mark.server]

SLOW_HEADERS = 50
SLOW_UPLOADS = 3
CHECKS = 20


def test_healthz_answers_every_time_while_slow_clients_hold_connections_open(sqlite_url, server_factory):
    server = server_factory(sqlite_url, workers=2)
    slow = SlowClients("127.0.0.1", server.port, headers=SLOW_HEADERS, uploads=SLOW_UPLOADS,
                       upload_path="/api/v1/projects/shop/runs")
    try:
        # Let every slow socket be accepted and start trickling before the checks.
        assert healthz_answers(server.url, 1, timeout_s=30) == 1
        answered = healthz_answers(server.url, CHECKS, timeout_s=10)
        still_open = slow.open_count()
    finally:
        slow.close()
    print(f"slowloris: /healthz answered {answered}/{CHECKS} with {still_open} of "
          f"{SLOW_HEADERS + SLOW_UPLOADS} slow connections open")
    # The attack really was going on during the checks: the slow sockets were still connected.
    assert still_open == SLOW_HEADERS + SLOW_UPLOADS
    assert answered == CHECKS
