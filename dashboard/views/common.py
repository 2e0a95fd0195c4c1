"""Glue shared by the views: one data function serves a page and its /api/v1 JSON twin."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import date, datetime, time
from functools import wraps

from flask import Blueprint, current_app, jsonify, render_template, request
from sqlalchemy import select
from werkzeug.routing import IntegerConverter

from dashboard.analysis.window import Window
from dashboard.db import get_session
from dashboard.errors import BadRequest, NotFound
from ingest.models import Project


def page(bp: Blueprint, rule: str, template: str, *, api_rule: str | None = None,
         charts: Callable[[dict], dict] | None = None):
    """Register ``rule`` (HTML) and ``/api/v1`` + ``api_rule or rule`` (JSON) for one data function.

    The data function returns a dict. Keys starting with ``_`` are for the page only (objects a
    template needs but the API should not expose). ``charts(data)`` builds plotly figures for the
    page only; the template gets them as ``charts``.
    """

    # Project names may contain "/" (CI names projects "owner/repo"), so they match as paths.
    rule = rule.replace("<project>", "<path:project>")
    api_rule = api_rule.replace("<project>", "<path:project>") if api_rule else None

    def decorator(fn: Callable[..., dict]):
        @wraps(fn)
        def html_view(**kwargs):
            data = fn(**kwargs)
            figures = charts(data) if charts else {}
            return render_template(template, charts=figures, **data)

        def api_view(**kwargs):
            data = fn(**kwargs)
            return jsonify(jsonable({k: v for k, v in data.items() if not k.startswith("_")}))

        bp.add_url_rule(rule, fn.__name__, html_view)
        bp.add_url_rule("/api/v1" + (api_rule or rule), fn.__name__ + "_api", api_view)
        return html_view

    return decorator


def jsonable(value):
    """Turn dataclasses, datetimes, numpy/pandas scalars and NaN into plain JSON values."""
    # Fast path first: JSON twins of long lists are mostly plain scalars.
    if value is None or type(value) in (str, int, bool):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if hasattr(value, "item") and callable(value.item):  # numpy / pandas scalars
        return jsonable(value.item())
    if hasattr(value, "to_dict") and callable(value.to_dict):  # DataFrames: list of records
        try:
            return jsonable(value.to_dict(orient="records"))
        except TypeError:
            return jsonable(value.to_dict())
    return value


def project_or_404(name: str) -> Project:
    project = get_session().scalars(select(Project).where(Project.name == name)).first()
    if project is None:
        raise NotFound(f"no project named {name!r}")
    return project


# The largest row offset and id a request may name: both databases hold 64-bit integers, and an
# offset this far is already past any table (SQLite raised OverflowError on 99999999999999999999).
MAX_OFFSET = 10**9
MAX_ID = 2**63 - 1
# Dates a filter may name. Outside, ``until + 1 day`` and week arithmetic overflow Python's date.
MIN_DATE = date(1970, 1, 1)
MAX_DATE = date(2999, 12, 31)


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` in routes, limited to what a 64-bit id column holds: larger ids are a 404."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def arg_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = MAX_OFFSET) -> int:
    """Read an integer query parameter, refusing junk with a 400 that names the parameter."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    if len(raw) > 30:  # int() of a megabyte of digits is slow, and no answer needs it
        raise BadRequest(f"?{name}= is too long to be a number")
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"?{name}= must be a whole number, not {raw!r}") from None
    maximum = MAX_OFFSET if maximum is None else maximum
    if value < minimum or value > maximum:
        raise BadRequest(f"?{name}= must be between {minimum} and {maximum}")
    return value


def arg_date(name: str) -> date | None:
    """Read a YYYY-MM-DD query parameter between 1970 and 2999, refusing anything else with a 400."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"?{name}= must be a date like 2026-01-31, not {raw[:40]!r}") from None
    if not MIN_DATE <= value <= MAX_DATE:
        raise BadRequest(f"?{name}= must be between {MIN_DATE} and {MAX_DATE}, not {raw}")
    return value


def pagination(default: int | None = None) -> tuple[int, int]:
    """Return (limit, offset) from ?limit= and ?page= (1-based) or ?offset=."""
    cfg = current_app.config
    limit = arg_int("limit", default or cfg["PAGE_SIZE"], minimum=1, maximum=cfg["MAX_LIMIT"])
    if "offset" in request.args:
        offset = arg_int("offset", 0)
    else:
        offset = (arg_int("page", 1, minimum=1, maximum=MAX_OFFSET // limit + 1) - 1) * limit
    return limit, offset


@dataclasses.dataclass(frozen=True)
class Filters:
    """The common filters of list and trend pages."""

    suite: str | None = None
    branch: str | None = None
    since: date | None = None
    until: date | None = None

    @property
    def window(self) -> Window:
        """``?since=`` and ``?until=`` (both days included) as the half-open window analyses take."""
        return Window.from_dates(self.since, self.until)


def listing(project: Project, f: Filters, total: int, limit: int, offset: int, **items) -> dict:
    """Return what every filtered, paginated list page holds (JSON keys and filter form), plus ``items``."""
    return {"project": project.name, "filters": f, "total": total, "limit": limit, "offset": offset,
            "_filters": f, **items}


def filters() -> Filters:
    return Filters(
        suite=request.args.get("suite") or None, branch=request.args.get("branch") or None,
        since=arg_date("since"), until=arg_date("until"),
    )
