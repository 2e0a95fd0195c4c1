"""Blueprint 'runs' (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("runs", __name__)
