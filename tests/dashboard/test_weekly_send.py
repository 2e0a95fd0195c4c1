"""`report weekly --send` delivers the review to a real SMTP server and real webhook receivers."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from history import case, store_run

from dashboard.analysis.levels import ConfigError
from dashboard.notify import destinations

WEEK = "2026-W10"  # 2026-03-02 .. 2026-03-08
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NODEID = "tests/test_cart.py::test_total[`` <img src=x onerror=alert(1)> ``]"


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's hook name)
        self.messages.append((envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture
def smtp(tcp_port):
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=tcp_port)
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def receiver(webhook_receiver):
    return webhook_receiver.url, webhook_receiver.requests


def _config(tmp_path, body: str):
    path = tmp_path / "suitehealth.toml"
    path.write_text(body)
    return {"SUITEHEALTH_CONFIG_FILE": str(path)}


def _history(engine):
    for day in range(3):
        store_run(engine, "shop", "unit",
                  [case("tests/test_cart.py::test_add"), case(NODEID, "failed" if day == 1 else "passed")],
                  started_at=MONDAY.replace(day=2 + day))


def test_send_reaches_mail_and_every_webhook_kind_with_the_review(engine, cli, tmp_path, smtp, receiver):
    _history(engine)
    controller, inbox = smtp
    url, received = receiver
    env = _config(tmp_path, f"""
[notify]
webhooks = [
  {{ kind = "slack", url = "{url}/slack" }},
  {{ kind = "teams", url_env = "TEAMS_HOOK" }},
  {{ kind = "json", url = "{url}/json" }},
]
[notify.email]
smtp_host = "127.0.0.1"
smtp_port = {controller.port}
from = "suitehealth@example.com"
to = ["team@example.com", "lead@example.com"]
""")
    result = cli("report", "weekly", "--project", "shop", "--week", WEEK, "--send",
                 "--base-url", "https://health.example.com", env={**env, "TEAMS_HOOK": f"{url}/teams"})
    assert result.exit_code == 0, result.output
    assert result.output.count("sent:") == 4

    by_path = {path: (ctype, body) for path, ctype, body in received}
    assert set(by_path) == {"/slack", "/teams", "/json"}
    assert all(ctype == "application/json" for ctype, _ in by_path.values())
    slack = by_path["/slack"][1]["text"]
    assert "shop" in slack and WEEK in slack and "https://health.example.com/projects/shop" in slack
    card = by_path["/teams"][1]["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["actions"][0]["url"] == f"https://health.example.com/projects/shop/weekly?week={WEEK}"
    review = by_path["/json"][1]
    assert review["event"] == "weekly_review" and review["review"]["week"] == WEEK
    assert review["review"]["runs"] == 3 and review["review"]["project"] == "shop"

    assert len(inbox.messages) == 1
    rcpts, raw = inbox.messages[0]
    assert sorted(rcpts) == ["lead@example.com", "team@example.com"]
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["Subject"] == f"Suite health {WEEK}: shop"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert WEEK in text and "<html" in html.lower()
    # The untrusted node id is text in the mail's HTML, never markup.
    assert "<img src=x" not in html


def test_one_failing_destination_does_not_stop_the_others_and_fails_the_command(
        engine, cli, tmp_path, receiver):
    _history(engine)
    url, received = receiver
    env = _config(tmp_path, f"""
[notify]
webhooks = [{{ kind = "json", url = "{url}/broken" }}, {{ kind = "json", url = "{url}/json" }}]
""")
    result = cli("report", "weekly", "--project", "shop", "--week", WEEK, "--send", env=env)
    assert result.exit_code == 1
    assert "FAILED: json webhook" in result.output and "HTTP 500" in result.output
    assert "1 of 2 destinations failed" in result.output
    assert [path for path, _, _ in received] == ["/broken", "/json"]


def test_send_without_destinations_says_where_to_configure_them(engine, cli, tmp_path):
    _history(engine)
    result = cli("report", "weekly", "--project", "shop", "--week", WEEK, "--send",
                 env=_config(tmp_path, "[levels]\n"))
    assert result.exit_code == 1 and "[tool.suitehealth.notify]" in result.output


@pytest.mark.parametrize("table, problem", [
    ({"notify": {"webhooks": [{"kind": "irc", "url": "https://x"}]}}, "kind must be one of"),
    ({"notify": {"webhooks": [{"kind": "slack", "url": "javascript:alert(1)"}]}}, "http(s) url"),
    ({"notify": {"webhooks": [{"kind": "slack", "url_env": "NOPE_UNSET"}]}}, "NOPE_UNSET is not set"),
    ({"notify": {"email": {"smtp_host": "x"}}}, "needs smtp_host, from and to"),
    ({"notify": {"email": {"smtp_host": "x", "from": "a@b", "to": "c@d", "smtp_port": "many"}}},
     "port number"),
    ({"notify": "yes"}, "must be a table"),
])
def test_bad_notify_settings_are_refused_with_the_setting_named(table, problem):
    with pytest.raises(ConfigError, match=None) as info:
        destinations(table, environ={})
    assert problem in str(info.value)
