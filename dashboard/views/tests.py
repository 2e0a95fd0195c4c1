"""Blueprint 'tests' (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("tests", __name__)
