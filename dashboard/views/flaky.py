"""Blueprint 'flaky' (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("flaky", __name__)
