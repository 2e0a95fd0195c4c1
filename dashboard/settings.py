"""The one accessor of suitehealth's settings: ``Settings``, built once per request, CLI command or pass.

Two sources make it: the app configuration (defaults < SUITEHEALTH_* environment < the factory's dict,
``dashboard.config``) and the ``[tool.suitehealth]`` table of the config file (budgets, level rules,
notify, quarantine policy; ``dashboard.analysis.levels.load_settings``). In a request use
``current_settings()``; the CLI and the worker build one explicitly (``Settings.from_environment()``
or ``Settings.from_config(config)``). Nothing else reads ``load_config()`` or the config file.

The file table is read on first use and then kept: one request, command or worker pass sees one
version of the file, and an edited file is seen by the next one without a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from dashboard.config import DEFAULTS, load_config
from dashboard.urls import Urls, report_urls


@dataclass(frozen=True)
class Settings:
    """What the analyses, reports and commands may read of the configuration."""

    # Wall-time budget of a suite without its own (seconds; the app's BUDGET_S).
    budget_s: float = float(DEFAULTS["BUDGET_S"])
    # Where [tool.suitehealth] is read from (None: pyproject.toml or suitehealth.toml in the cwd).
    config_file: str | None = None
    # Public base URL of the dashboard (None: unknown; pages then link relatively).
    base_url: str | None = None
    # Who may read: "none", "proxy" or "token" (checked by dashboard.auth).
    auth: str = "none"
    # Results an as-of page may replay per request (the app's REPLAY_LIMIT; ``week_findings.as_of_point``).
    replay_limit: int = int(DEFAULTS["REPLAY_LIMIT"])
    # The [tool.suitehealth] table when given rather than read from ``config_file`` (tests, scripts).
    file_table: Mapping | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_config(cls, config: Mapping) -> Settings:
        """Build from an app configuration (``app.config`` or ``load_config()``)."""
        budget = config.get("BUDGET_S")
        return cls(budget_s=float(DEFAULTS["BUDGET_S"] if budget is None else budget),
                   config_file=config.get("CONFIG_FILE") or None, base_url=config.get("BASE_URL") or None,
                   auth=str(config.get("AUTH") or "none").lower(),
                   replay_limit=int(config.get("REPLAY_LIMIT") if config.get("REPLAY_LIMIT") is not None
                                    else DEFAULTS["REPLAY_LIMIT"]))

    @classmethod
    def from_environment(cls, overrides: Mapping | None = None) -> Settings:
        """Build outside an app (CLI, worker): defaults, SUITEHEALTH_* variables, then ``overrides``."""
        return cls.from_config(load_config(overrides))

    @cached_property
    def table(self) -> Mapping:
        """The config file's ``[tool.suitehealth]`` table, read once (empty without a file).

        Raises ``ConfigError`` for a broken file (a 400 on pages, a clear error in the CLI).
        """
        from dashboard.analysis.levels import load_settings

        table = self.file_table if self.file_table is not None else load_settings(self.config_file)
        return dict(table)

    @property
    def budgets(self) -> Mapping:
        """``[tool.suitehealth.budgets]``: suite name -> seconds."""
        budgets = self.table.get("budgets")
        return budgets if isinstance(budgets, Mapping) else {}

    @property
    def source(self) -> str | None:
        """The config file the table came from (None without one)."""
        return self.table.get("_source")

    def level_rules(self):
        """The pyramid's level rules (``dashboard.analysis.levels.Rules``)."""
        from dashboard.analysis.levels import level_rules

        return level_rules(self.table)

    def report_urls(self, base_url: str | None = None) -> Urls:
        """Absolute links for a report or message: ``base_url``, the configured one, or serve's address."""
        return report_urls(base_url, self.base_url)

    @property
    def cache_key(self) -> str:
        """Everything here an analysis result may depend on, for cache keys."""
        return repr((self.budget_s, sorted((k, repr(v)) for k, v in self.table.items())))


def current_settings() -> Settings:
    """The settings of the current request's app, built once per request."""
    from flask import current_app, g

    settings = g.get("suitehealth_settings")
    if settings is None:
        settings = g.suitehealth_settings = Settings.from_config(current_app.config)
    return settings
