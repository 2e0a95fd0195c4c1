"""Test levels (unit / integration / e2e): the rules, their defaults and the ``[tool.suitehealth]`` file.

Rules are checked in this order and the first match wins:

1. markers/keywords on the test (pytest marks, ``fixture:<name>`` for fixtures the plugin saw),
   looked up level by level: e2e, then integration, then unit (a test marked both ``integration``
   and ``e2e`` is an e2e test);
2. path globs over the test's file (pytest node ids carry it; for ``classname::name`` ids the dotted
   classname is read as a path, so ``com.acme.it.CartIT`` is ``com/acme/it/CartIT``), same level order;
3. the duration fallback: median duration <= ``unit_max_s`` is unit, <= ``integration_max_s`` is
   integration, anything slower is e2e. Without any duration the level is "unknown".

Configuration (``pyproject.toml`` under ``[tool.suitehealth]``, or ``suitehealth.toml`` with or
without the ``tool.suitehealth`` prefix)::

    [tool.suitehealth.levels]
    unit_max_s = 0.5
    integration_max_s = 5
    markers = {integration = ["integration", "needs_redis"]}
    paths = {e2e = ["tests/browser/**"]}
    # replace_defaults = true   # use only the lists above, not the built-in ones

A configured list replaces the default list of the same kind and level; other defaults stay.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

LEVELS = ("unit", "integration", "e2e")
UNKNOWN = "unknown"
# Most specific first: a test that is marked both ways belongs to the higher level.
CHECK_ORDER = ("e2e", "integration", "unit")

DEFAULT_MARKERS: dict[str, tuple[str, ...]] = {
    "e2e": ("e2e", "end_to_end", "acceptance", "system", "browser", "selenium", "playwright", "ui",
            "fixture:live_server", "fixture:page", "fixture:browser", "fixture:selenium"),
    "integration": ("integration", "integration_test", "django_db", "db", "database", "slow_integration",
                    "fixture:db", "fixture:transactional_db", "fixture:django_db_setup",
                    "fixture:postgresql", "fixture:redis", "fixture:docker"),
    "unit": ("unit", "unittest"),
}
DEFAULT_PATHS: dict[str, tuple[str, ...]] = {
    "e2e": ("**/e2e/**", "**/test_e2e*", "**/acceptance/**", "**/browser/**", "**/*E2E*", "**/*UITest*"),
    "integration": ("**/integration/**", "**/integration_tests/**", "**/it/**", "**/test_integration*",
                    "**/*IT", "**/*IntegrationTest*"),
    "unit": ("**/unit/**", "**/unit_tests/**", "**/test_unit*", "**/*UnitTest*"),
}
DEFAULT_UNIT_MAX_S = 0.1
DEFAULT_INTEGRATION_MAX_S = 2.0
CONFIG_NAMES = ("suitehealth.toml", "pyproject.toml")


@dataclass(frozen=True)
class Rules:
    """Level rules in the order they are checked; ``source`` says where they came from."""

    markers: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_MARKERS))
    paths: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_PATHS))
    unit_max_s: float = DEFAULT_UNIT_MAX_S
    integration_max_s: float = DEFAULT_INTEGRATION_MAX_S
    source: str = "built-in defaults"

    @cached_property
    def marker_table(self) -> tuple:
        """The marker lists in checking order, hashable (the key of the per-rules lookup caches)."""
        return _rules_key(self.markers)

    @cached_property
    def path_table(self) -> tuple:
        """The path globs in checking order, hashable."""
        return _rules_key(self.paths)

    def describe(self) -> list[dict]:
        """Return the rules as rows (kind, level, patterns) in checking order, for the page and the API."""
        rows = [{"kind": "marker", "level": lvl, "patterns": list(self.markers.get(lvl, ()))}
                for lvl in CHECK_ORDER]
        rows += [{"kind": "path", "level": lvl, "patterns": list(self.paths.get(lvl, ()))}
                 for lvl in CHECK_ORDER]
        rows.append({"kind": "duration", "level": "unit", "patterns": [f"median <= {self.unit_max_s:g} s"]})
        rows.append({"kind": "duration", "level": "integration",
                     "patterns": [f"median <= {self.integration_max_s:g} s"]})
        rows.append({"kind": "duration", "level": "e2e",
                     "patterns": [f"median > {self.integration_max_s:g} s"]})
        return rows


class ConfigError(ValueError):
    """The ``[tool.suitehealth]`` table is malformed."""


def find_config_file(path: str | os.PathLike | None = None) -> Path | None:
    """Return the config file: ``path`` if given, else suitehealth.toml or pyproject.toml in the cwd."""
    if path:
        return Path(path)
    for name in CONFIG_NAMES:
        candidate = Path.cwd() / name
        if candidate.is_file():
            return candidate
    return None


def load_settings(path: str | os.PathLike | None = None) -> dict:
    """Return the ``[tool.suitehealth]`` table of the config file (empty when there is none)."""
    found = find_config_file(path)
    if found is None or not found.is_file():
        return {}
    stat = found.stat()
    return dict(_read_settings(str(found.resolve()), stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=16)
def _read_settings(path: str, _mtime_ns: int, _size: int) -> dict:
    # Keyed on mtime and size so that an edited file is re-read without restarting the server.
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    table = data.get("tool", {}).get("suitehealth")
    if table is None and Path(path).name != "pyproject.toml":
        table = data  # suitehealth.toml may hold the settings at top level
    table = dict(table or {})
    table["_source"] = path
    return table


def level_rules(config: Mapping | None = None) -> Rules:
    """Build the rules from a ``[tool.suitehealth]`` table (``load_settings()``); defaults fill the gaps."""
    config = config or {}
    levels = config.get("levels") or {}
    if not isinstance(levels, Mapping):
        raise ConfigError("[tool.suitehealth.levels] must be a table")
    replace_all = bool(levels.get("replace_defaults", False))
    markers = _merge(DEFAULT_MARKERS, levels.get("markers"), "markers", replace_all)
    paths = _merge(DEFAULT_PATHS, levels.get("paths"), "paths", replace_all)
    try:
        unit_max = float(levels.get("unit_max_s", DEFAULT_UNIT_MAX_S))
        integration_max = float(levels.get("integration_max_s", DEFAULT_INTEGRATION_MAX_S))
    except (TypeError, ValueError) as exc:
        raise ConfigError("unit_max_s and integration_max_s must be numbers of seconds") from exc
    if integration_max < unit_max:
        raise ConfigError("integration_max_s must not be smaller than unit_max_s")
    source = "built-in defaults"
    if levels:
        source = f"{config.get('_source') or 'configuration'} [tool.suitehealth.levels]"
    return Rules(markers, paths, unit_max, integration_max, source)


def _merge(defaults: dict[str, tuple[str, ...]], configured, kind: str, replace_all: bool) -> dict:
    if configured is None:
        return {} if replace_all else dict(defaults)
    if not isinstance(configured, Mapping):
        raise ConfigError(f"levels.{kind} must map a level to a list, e.g. {{integration = [\"db\"]}}")
    merged = {} if replace_all else dict(defaults)
    for level, patterns in configured.items():
        if level not in LEVELS:
            raise ConfigError(f"levels.{kind}: unknown level {level!r} (use unit, integration or e2e)")
        if isinstance(patterns, str) or not isinstance(patterns, Iterable):
            raise ConfigError(f"levels.{kind}.{level} must be a list of strings")
        merged[level] = tuple(str(p) for p in patterns)
    return merged


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern:
    """Compile a path glob: ``**`` spans directories, ``*`` and ``?`` stay within one."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


@lru_cache(maxsize=64)
def _any_glob(patterns: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(f"(?:{glob_regex(p).pattern})" for p in patterns))


def path_candidates(nodeid: str, file: str | None = None, classname: str | None = None) -> list[str]:
    """Return the path-like spellings of a test that path globs are matched against."""
    paths = []
    if file:
        paths.append(file.replace("\\", "/"))
    head = nodeid.split("::", 1)[0].replace("\\", "/")
    if "/" in head or head.endswith(".py"):
        paths.append(head)
    else:  # a JUnit classname::name id: the dotted class is the closest thing to a path
        paths.append(head.replace(".", "/"))
    if classname:
        paths.append(classname.replace(".", "/"))
    return paths


def classify_with_reason(nodeid: str, markers: Iterable[str] | None, median_duration_s: float | None,
                         rules: Rules, *, file: str | None = None,
                         classname: str | None = None) -> tuple[str, str]:
    """Return (level, the rule that decided it)."""
    return (rule_level(nodeid, markers, rules, file=file, classname=classname)
            or duration_level(median_duration_s, rules))


def rule_level(nodeid: str, markers: Iterable[str] | None, rules: Rules, *, file: str | None = None,
               classname: str | None = None) -> tuple[str, str] | None:
    """Return (level, rule) decided by a marker or a path glob, or None when only the duration can tell."""
    if markers:
        decided = _marker_level(tuple(str(m) for m in markers), rules.marker_table)
        if decided is not None:
            return decided
    return _path_level(tuple(path_candidates(nodeid, file, classname)), rules.path_table)


def duration_level(median_duration_s: float | None, rules: Rules) -> tuple[str, str]:
    """Return (level, rule) from the duration fallback alone."""
    if median_duration_s is None:
        return UNKNOWN, "no marker, path or duration"
    if median_duration_s <= rules.unit_max_s:
        return "unit", f"duration <= {rules.unit_max_s:g} s"
    if median_duration_s <= rules.integration_max_s:
        return "integration", f"duration <= {rules.integration_max_s:g} s"
    return "e2e", f"duration > {rules.integration_max_s:g} s"


def _rules_key(table: Mapping[str, tuple[str, ...]]) -> tuple:
    return tuple((level, tuple(table.get(level, ()))) for level in CHECK_ORDER)


@lru_cache(maxsize=64)
def _marker_levels(table: tuple) -> dict[str, tuple[tuple[int, int], str, str]]:
    """Map each lower-cased marker to (its rank in checking order, level, pattern as configured)."""
    out: dict[str, tuple[tuple[int, int], str, str]] = {}
    for level_rank, (level, patterns) in enumerate(table):
        for pattern_rank, marker in enumerate(patterns):
            out.setdefault(marker.lower(), ((level_rank, pattern_rank), level, marker))
    return out


@lru_cache(maxsize=4096)
def _marker_level(markers: tuple, table: tuple) -> tuple[str, str] | None:
    # Many tests carry the same set of marks, so each set is looked up once per rules.
    by_marker = _marker_levels(table)
    # The first rule in checking order wins: the smallest (level rank, pattern rank) among the marks.
    hits = [hit for m in markers if (hit := by_marker.get(str(m).lower())) is not None]
    if not hits:
        return None
    _rank, level, marker = min(hits)
    return level, f"marker {marker}"


@lru_cache(maxsize=65536)
def _path_level(candidates: tuple[str, ...], table: tuple) -> tuple[str, str] | None:
    # Tests of one file share their candidates, so a suite costs one glob match per file, not per test.
    for level, patterns in table:
        # One alternation per level screens the test; the single globs run only to name the match.
        if patterns and any(_any_glob(patterns).fullmatch(p) for p in candidates):
            for pattern in patterns:
                if any(glob_regex(pattern).fullmatch(p) for p in candidates):
                    return level, f"path {pattern}"
    return None


def classify(nodeid: str, markers: Iterable[str] | None, median_duration_s: float | None,
             rules: Rules) -> str:
    """Return the level of one test: first matching marker, then path glob, then duration."""
    return classify_with_reason(nodeid, markers, median_duration_s, rules)[0]
