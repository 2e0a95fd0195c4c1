import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


import pytest  # noqa: E402


@pytest.fixture
def sqlite_app(sqlite_engine):
    from dashboard import create_app

    url = sqlite_engine.url.render_as_string(hide_password=False)
    return create_app({"DATABASE_URL": url, "TESTING": True})
