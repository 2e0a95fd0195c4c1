"""Blueprint 'budget' (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("budget", __name__)
