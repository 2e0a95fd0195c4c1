"""Blueprint 'upload' (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("upload", __name__)
