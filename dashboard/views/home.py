"""Blueprint 'home' (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("home", __name__)
