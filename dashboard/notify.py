"""Deliver the weekly review (and alerts) where the team already is: chat webhooks and e-mail.

Destinations come from ``[tool.suitehealth.notify]`` in the config file::

    [tool.suitehealth.notify]
    webhooks = [
      { kind = "slack", url_env = "SLACK_WEBHOOK_URL" },     # Slack-compatible {"text": ...}
      { kind = "teams", url = "https://example.webhook.office.com/..." },   # Adaptive Card
      { kind = "json",  url = "https://ci.example.com/hooks/suitehealth" }, # the review as JSON
    ]
    [tool.suitehealth.notify.email]
    smtp_host = "smtp.example.com"   # smtp_port (25), starttls (false), ssl (false)
    from = "suitehealth@example.com"
    to = ["team@example.com"]
    username = "suitehealth"         # optional; the password comes from password_env only
    password_env = "SUITEHEALTH_SMTP_PASSWORD"

Secrets (webhook URLs, SMTP passwords) can stay out of the file: ``url_env``/``password_env`` name an
environment variable. Every destination is tried; each gets its own outcome, so one dead webhook does
not keep the mail from going out.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage

from dashboard.analysis.levels import ConfigError

WEBHOOK_KINDS = ("slack", "teams", "json")
# Chat services cap a message (Slack: 40,000 characters of text); longer reviews end with a link.
MAX_CHAT_CHARS = 35_000
TIMEOUT_S = 15


@dataclass(frozen=True)
class Webhook:
    kind: str
    url: str

    @property
    def label(self) -> str:
        # Never print the whole URL: for Slack and Teams the URL is the secret.
        return f"{self.kind} webhook {self.url.split('://', 1)[-1].split('/', 1)[0]}"


@dataclass(frozen=True)
class EmailSettings:
    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    starttls: bool = False
    use_ssl: bool = False
    username: str | None = None
    password: str | None = None

    @property
    def label(self) -> str:
        return f"mail to {', '.join(self.to)} via {self.host}:{self.port}"


@dataclass(frozen=True)
class Destinations:
    webhooks: tuple[Webhook, ...] = ()
    email: EmailSettings | None = None

    def __bool__(self) -> bool:
        return bool(self.webhooks or self.email)


@dataclass(frozen=True)
class Delivery:
    """What became of one destination."""

    destination: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Message:
    """One review in every shape a destination may want."""

    subject: str
    markdown: str
    html: str
    data: dict  # the generic JSON webhook's fields besides event, subject and url
    url: str
    event: str = "weekly_review"


def destinations(settings: Mapping, environ: Mapping[str, str] | None = None) -> Destinations:
    """Read the ``notify`` table of ``[tool.suitehealth]``; a ConfigError names what is wrong."""
    environ = os.environ if environ is None else environ
    notify = settings.get("notify") or {}
    if not isinstance(notify, Mapping):
        raise ConfigError("[tool.suitehealth.notify] must be a table")
    hooks = []
    raw_hooks = notify.get("webhooks") or []
    if not isinstance(raw_hooks, list):
        raise ConfigError("notify.webhooks must be a list of tables")
    for i, hook in enumerate(raw_hooks):
        where = f"notify.webhooks[{i}]"
        if not isinstance(hook, Mapping):
            raise ConfigError(f"{where} must be a table with kind and url (or url_env)")
        kind = hook.get("kind", "json")
        if kind not in WEBHOOK_KINDS:
            raise ConfigError(f"{where}.kind must be one of {', '.join(WEBHOOK_KINDS)}, not {kind!r}")
        url = _value(hook, "url", environ, where)
        if not url or not url.startswith(("https://", "http://")):
            raise ConfigError(f"{where}: an http(s) url (or url_env naming a variable that holds one) "
                              "is required")
        hooks.append(Webhook(kind, url))
    return Destinations(tuple(hooks), _email(notify.get("email"), environ))


def _value(table: Mapping, key: str, environ: Mapping[str, str], where: str) -> str | None:
    if table.get(f"{key}_env"):
        name = str(table[f"{key}_env"])
        if not environ.get(name):
            raise ConfigError(f"{where}.{key}_env: the environment variable {name} is not set")
        return environ[name]
    value = table.get(key)
    return None if value is None else str(value)


def _email(table, environ: Mapping[str, str]) -> EmailSettings | None:
    if not table:
        return None
    where = "notify.email"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table")
    to = table.get("to")
    to = [to] if isinstance(to, str) else to
    if not table.get("smtp_host") or not table.get("from") or not to:
        raise ConfigError(f"{where} needs smtp_host, from and to")
    try:
        port = int(table.get("smtp_port", 465 if table.get("ssl") else 25))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.smtp_port must be a port number") from None
    return EmailSettings(
        host=str(table["smtp_host"]), port=port, sender=str(table["from"]), to=tuple(map(str, to)),
        starttls=bool(table.get("starttls", False)), use_ssl=bool(table.get("ssl", False)),
        username=table.get("username"),
        password=_value(table, "password", environ, where) if table.get("password_env") else None,
    )


# ---- payloads -------------------------------------------------------------------------------

def _clipped(markdown: str, url: str) -> str:
    if len(markdown) <= MAX_CHAT_CHARS:
        return markdown
    return markdown[:MAX_CHAT_CHARS].rsplit("\n", 1)[0] + f"\n\n… the full review: {url}"


def webhook_payload(kind: str, message: Message) -> dict:
    """The JSON body a destination of ``kind`` expects."""
    if kind == "slack":
        return {"text": _clipped(message.markdown, message.url), "unfurl_links": False}
    if kind == "teams":
        # Teams workflows ("Post to a channel when a webhook request is received") take an Adaptive Card.
        card = {
            "type": "AdaptiveCard", "version": "1.4",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "body": [{"type": "TextBlock", "text": message.subject, "weight": "Bolder", "size": "Medium",
                      "wrap": True},
                     {"type": "TextBlock", "text": _clipped(message.markdown, message.url), "wrap": True}],
            "actions": [{"type": "Action.OpenUrl", "title": "Open the review", "url": message.url}],
        }
        return {"type": "message", "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}
    return {"event": message.event, "subject": message.subject, "url": message.url, **message.data}


# ---- sending --------------------------------------------------------------------------------

def post_webhook(hook: Webhook, message: Message) -> Delivery:
    body = json.dumps(webhook_payload(hook.kind, message)).encode()
    request = urllib.request.Request(hook.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "suitehealth"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as resp:
            return Delivery(hook.label, True, f"HTTP {resp.status}")
    except urllib.error.HTTPError as exc:
        return Delivery(hook.label, False, f"HTTP {exc.code} {exc.reason}")
    except (urllib.error.URLError, OSError) as exc:
        return Delivery(hook.label, False, str(getattr(exc, "reason", exc)))


def email_message(settings: EmailSettings, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = settings.sender
    mail["To"] = ", ".join(settings.to)
    mail.set_content(message.markdown)
    mail.add_alternative(message.html, subtype="html")
    return mail


def send_email(settings: EmailSettings, message: Message) -> Delivery:
    try:
        if settings.use_ssl:
            smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=TIMEOUT_S,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT_S)
        with smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            refused = smtp.send_message(email_message(settings, message))
    except (smtplib.SMTPException, OSError) as exc:
        return Delivery(settings.label, False, str(exc) or type(exc).__name__)
    if refused:
        return Delivery(settings.label, False, f"refused recipients: {', '.join(refused)}")
    return Delivery(settings.label, True, "sent")


def deliver(dest: Destinations, message: Message) -> list[Delivery]:
    """Send ``message`` to every destination; one outcome each, in order (webhooks, then mail)."""
    outcomes = [post_webhook(hook, message) for hook in dest.webhooks]
    if dest.email is not None:
        outcomes.append(send_email(dest.email, message))
    return outcomes
