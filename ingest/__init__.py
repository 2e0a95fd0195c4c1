"""suitehealth's ingest library: parse test reports and store them. No web code lives here."""

from __future__ import annotations

__version__ = "0.1.0"
