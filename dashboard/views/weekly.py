"""Blueprint 'weekly' (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("weekly", __name__)
