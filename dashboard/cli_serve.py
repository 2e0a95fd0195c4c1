"""`suitehealth serve`: the dashboard under real gunicorn, on the CLI's database."""

from __future__ import annotations

import gc
import os

import click

from ingest.cli import AppContext, pass_app
from ingest.db import ENV_VAR, database_url, ensure_schema, make_engine


def default_workers() -> int:
    """Return $WEB_CONCURRENCY, else 2 x CPUs + 1 capped at 8 (pages are short, DB-bound requests)."""
    raw = os.environ.get("WEB_CONCURRENCY")
    if raw and raw.isdigit() and int(raw) > 0:
        return int(raw)
    return min(8, 2 * (os.cpu_count() or 1) + 1)


def serve_app(db_url: str, host: str = "127.0.0.1", port: int = 8000, workers: int | None = None,
              auth: str | None = None) -> None:
    """Migrate ``db_url``, then run gunicorn with ``dashboard:create_app()`` on it (blocking)."""
    from gunicorn.app.base import BaseApplication

    url = database_url(db_url)
    engine = make_engine(url)
    try:
        # Migrate once in the master so that workers never race each other through Alembic.
        ensure_schema(engine)
    finally:
        engine.dispose()
    # Workers (and anything they spawn) find the database the same way the CLI does.
    os.environ[ENV_VAR] = url

    state: dict = {}

    def post_fork(server, worker) -> None:
        # The app was built in the master (preload): drop its pooled connections in the child
        # without closing them (they belong to the master), so each worker opens its own.
        state["app"].extensions["suitehealth_engine"].dispose(close=False)

    options = {
        "bind": f"{host}:{port}",
        "workers": workers or default_workers(),
        # Threads, not sync workers: a slow client (slowloris headers, a trickled upload body) holds one
        # thread, not a whole worker. A worker takes no more connections than it has threads, so a
        # connection is never queued behind slow ones in a busy worker while another has threads free:
        # 2 workers keep answering with 50+ slow sockets open. Past that, put a buffering proxy in
        # front (README, "Deployment").
        "worker_class": "gthread",
        "threads": 32,
        "worker_connections": 32,
        # ... and so no idle keep-alive connection can hold a thread either (nginx in the compose file
        # keeps its own keep-alives to clients). Said explicitly, gunicorn does not warn at start-up.
        "keepalive": 0,
        # Import Flask, plotly, pandas ... once in the master: workers start in milliseconds and share pages.
        "preload_app": True,
        "post_fork": post_fork,
        "accesslog": "-",
        "errorlog": "-",
        "timeout": 60,
        "graceful_timeout": 10,
        "proc_name": "suitehealth",
        # gunicorn 27's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl): two serves
        # on one box would take it from each other, and a killed master leaves it behind. Nothing uses it.
        "control_socket_disable": True,
    }

    class _Gunicorn(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                if key in self.cfg.settings:  # control_socket_disable is new in gunicorn 27
                    self.cfg.set(key, value)

        def load(self):
            from dashboard import compile_templates, create_app

            app = state["app"] = create_app({"DATABASE_URL": url, **({"AUTH": auth} if auth else {})})
            compile_templates(app)
            # create_app connected (schema check); fork with an empty pool.
            app.extensions["suitehealth_engine"].dispose()
            # The app's modules (Flask, SQLAlchemy, plotly ...) live as long as the workers: keep them
            # out of the cyclic garbage collector. Otherwise every full collection, which a page
            # building a few thousand rows sets off, walks them all again (~100 ms on a busy box).
            gc.freeze()
            return app

    _Gunicorn().run()


def resolve_sign_in(host: str) -> str:
    """Return the sign-in mode of a server on ``host`` (SUITEHEALTH_AUTH, else the default for the host)
    and print what it means."""
    from dashboard.auth import MODES, default_mode, open_to_the_network_warning, signin_default_note
    from dashboard.settings import Settings

    if os.environ.get("SUITEHEALTH_AUTH", "").strip():
        auth = Settings.from_environment().auth
    else:
        # Sign-in is off by default only on loopback: a dashboard reachable from the network shows every
        # failure message, build URL and CI host name, so reading there needs a token unless said otherwise.
        auth = default_mode(host)
        if auth != "none":
            click.echo(signin_default_note(host), err=True)
    if auth not in MODES:
        raise click.ClickException(f"SUITEHEALTH_AUTH must be one of {', '.join(MODES)}, not {auth!r}")
    warning = open_to_the_network_warning(host, auth)
    if warning:
        click.secho(warning, err=True, fg="yellow")
    return auth


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0: all).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="gunicorn worker processes [default: $WEB_CONCURRENCY, else 2 x CPUs + 1, at most 8].")
@click.option("--no-worker", is_flag=True,
              help="Do not start the analysis worker beside gunicorn (run `suitehealth worker` elsewhere).")
@pass_app
def serve(app: AppContext, host: str, port: int, workers: int | None, no_worker: bool) -> None:
    """Serve the dashboard with gunicorn on the --db database (migrating it first), and one
    analysis worker beside it.

    \b
    Example:
      suitehealth --db sqlite:///suitehealth.db serve --host 0.0.0.0 --port 8000 --workers 4
    """
    click.echo(f"suitehealth: serving {app.safe_url} on http://{host}:{port}/", err=True)
    auth = resolve_sign_in(host)
    if no_worker:
        serve_app(app.url, host=host, port=port, workers=workers, auth=auth)
        return
    from dashboard.worker_process import worker_beside

    app.engine  # noqa: B018  (migrate first: the worker and gunicorn's master must not race through Alembic)
    with worker_beside(app.url):
        serve_app(app.url, host=host, port=port, workers=workers, auth=auth)
