"""Tables of stored analysis results (flakiness, interference suspects), on the shared Base.

Imported by ``ingest.models`` so that Alembic sees them. (Being written.)
"""

from __future__ import annotations
