"""Blueprint 'pyramid' (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pyramid", __name__)
