"""``suitehealth confirm``: re-run interference suspects in a checkout and record the verdicts."""

from __future__ import annotations

import shlex

import click

from ingest.cli import AppContext, pass_app


@click.command()
@click.option("--project", required=True, help="Project whose suspects to confirm.")
@click.option("--server", envvar="SUITEHEALTH_URL", metavar="URL",
              help="Fetch suspects from this suitehealth server and record verdicts there "
                   "[env SUITEHEALTH_URL; default: the database of --db].")
@click.option("--token", envvar="SUITEHEALTH_TOKEN", metavar="TOKEN",
              help="The project's upload token, needed to record on a server [env SUITEHEALTH_TOKEN].")
@click.option("--checkout", default=".", show_default=True, type=click.Path(exists=True, file_okay=False),
              help="Checkout of the project under test, where pytest runs.")
@click.option("--python", "python", metavar="PATH",
              help="Python that runs pytest [default: this one]; use the project's virtualenv.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=1),
              help="Confirm at most this many suspects (strongest first).")
@click.option("--timeout", default=300.0, show_default=True, type=click.FloatRange(min=1),
              help="Seconds one pytest run may take.")
@click.option("--again", is_flag=True, help="Also re-run suspects that already have a verdict.")
@click.option("--dry-run", is_flag=True, help="Print the pytest commands; run and record nothing.")
@click.option("--unexplained", is_flag=True,
              help="Instead of suspects, take flaky tests that have none: rebuild the order that ran before "
                   "the victim in a stored run, re-run it and bisect it (ddmin) down to the test that flips "
                   "it. The history is read from --db, or from the server with --server (no --db needed).")
@click.option("--victim", metavar="NODEID", help="With --unexplained: only this flaky test.")
@click.option("--pytest-arg", "pytest_args", multiple=True, metavar="ARG",
              help="Extra argument for every pytest run (repeatable), e.g. --pytest-arg=-p "
                   "--pytest-arg=no:xdist.")
@pass_app
def confirm(app: AppContext, project: str, server: str | None, token: str | None, checkout: str,
            python: str | None, limit: int, timeout: float, again: bool, dry_run: bool,
            pytest_args: tuple[str, ...], unexplained: bool, victim: str | None) -> None:
    """Re-run the project's interference suspects with pytest and record what happened.

    A polluter is proven when the victim passes alone and fails after it; a state-setter when the
    victim fails alone and passes after it; a group is bisected down to the test that does it.
    Nothing in the checkout is changed (no cache, no bytecode, no shuffling plugin).

    \b
    Example:
      cd ~/src/shop && suitehealth --db sqlite:///suitehealth.db confirm --project shop --limit 5
      suitehealth confirm --project shop --server https://health.example.com --token "$SUITEHEALTH_TOKEN"
      suitehealth --db sqlite:///suitehealth.db confirm --project shop --unexplained --limit 3
      suitehealth confirm --project shop --unexplained --server https://health.example.com --token "$T"
    """
    from dashboard import confirm as lib

    if victim is not None and not unexplained:
        raise click.UsageError("--victim goes with --unexplained")
    if unexplained:
        _confirm_unexplained(app, project, server, token, checkout, python, limit, timeout, again, dry_run,
                             pytest_args, victim)
        return
    try:
        if server:
            targets = lib.targets_from_server(server, project, token)
        else:
            targets = lib.targets_from_db(app.engine, project)
    except (LookupError, lib.ServerError) as exc:
        raise click.ClickException(str(exc)) from exc
    if server and not token and not dry_run:
        raise click.UsageError("recording on a server needs --token (or SUITEHEALTH_TOKEN)")
    todo = [t for t in targets if again or not t.verdict][:limit]
    if not todo:
        click.echo(f"Nothing to confirm: {len(targets)} suspects of {project!r}, "
                   f"{sum(1 for t in targets if t.verdict)} already with a verdict (--again re-runs them).")
        return
    runner = lib.Runner(checkout, python=python, timeout=timeout, extra_args=pytest_args)
    if dry_run:
        for i, t in enumerate(todo, 1):
            click.echo(f"[{i}/{len(todo)}] {t.kind} {t.tier}: {t.victim}")
            for argv in lib.planned_commands(t, runner):
                click.echo("  " + shlex.join(argv))
        click.echo("Dry run: nothing was run or recorded.")
        return
    commit = lib.current_commit(checkout)
    rows = []
    for i, t in enumerate(todo, 1):
        click.echo(f"[{i}/{len(todo)}] {t.kind} {t.victim} <- {_group(t.polluters)} …", nl=False)
        outcome = lib.confirm_target(t, runner)
        text = _record(app, server, token, project, outcome, commit)
        click.echo(f" {text} ({outcome.runs} pytest runs)")
        rows.append((t, outcome, text))
    _summary(rows)


def _confirm_unexplained(app: AppContext, project: str, server: str | None, token: str | None, checkout: str,
                         python: str | None, limit: int, timeout: float, again: bool, dry_run: bool,
                         pytest_args: tuple[str, ...], only: str | None) -> None:
    import time

    from dashboard import confirm as lib
    from dashboard import confirm_unexplained as unx

    if server and not token and not dry_run:
        raise click.UsageError("recording on a server needs --token (or SUITEHEALTH_TOKEN)")
    try:
        if server:  # the server's stored analysis: no database here
            found = unx.victims_from_server(server, project, token, only=only, again=again, limit=limit)
        else:
            found = unx.victims_from_db(app.engine, project, only=only, again=again, limit=limit)
    except (LookupError, lib.ServerError) as exc:
        raise click.ClickException(str(exc)) from exc
    victims = found.victims
    if not victims:
        click.echo(f"Nothing to confirm: every flaky test of {project!r} has a suspect or a verdict "
                   "(--again re-runs those with a verdict).")
        return
    more = (f"{found.left_off} more flaky tests without a suspect were left off ({found.limit} at a time)."
            if found.left_off else None)
    runner = lib.Runner(checkout, python=python, timeout=timeout, extra_args=pytest_args)
    if dry_run:
        for i, v in enumerate(victims, 1):
            label = "flaky, has a suspect" if v.has_suspect else "flaky, no suspect"
            click.echo(f"[{i}/{len(victims)}] {label}: {v.nodeid}")
            click.echo("  " + shlex.join(runner.argv([v.nodeid])) + f"   (x{unx.ALONE_RUNS})")
            for stored, when in ((v.passed_run, "if it fails alone"), (v.failed_run, "if it passes alone")):
                if stored is not None and stored.before:
                    click.echo(f"  {when}: the {len(stored.before)} tests before it in run #{stored.run_id} "
                               f"(it {stored.outcome} there), then it, then ddmin:")
                    click.echo("    " + shlex.join(runner.argv([*stored.before, v.nodeid])))
        if more:
            click.echo(more)
        click.echo("Dry run: nothing was run or recorded.")
        return
    commit = lib.current_commit(checkout)
    rows = []
    for i, v in enumerate(victims, 1):
        label = "flaky, has a suspect" if v.has_suspect else "flaky, no suspect"
        click.echo(f"[{i}/{len(victims)}] {label}: {v.nodeid} …", nl=False)
        started = time.monotonic()
        outcome = unx.confirm_unexplained(v, runner)
        seconds = time.monotonic() - started
        text = _record(app, server, token, project, outcome, commit)
        if outcome.verdict == "proven":
            click.echo(f" {outcome.target.kind}: {text} ({outcome.runs} pytest runs, {seconds:.1f} s)")
        elif outcome.verdict == "not-reproduced":
            click.echo(f" not order-dependent here (not reproduced) ({outcome.runs} pytest runs, "
                       f"{seconds:.1f} s)")
        else:
            click.echo(f" skipped ({outcome.runs} pytest runs, {seconds:.1f} s)")
        click.echo(f"    {outcome.detail}")
        rows.append((outcome.target, outcome, text))
    _summary(rows)
    if more:
        click.echo(more)


def _record(app: AppContext, server: str | None, token: str | None, project: str, outcome, commit) -> str:
    """Store ``outcome``'s verdict (on the server when one is given); return how it reads."""
    from dashboard import confirm as lib

    try:
        if server:
            return lib.record_to_server(server, project, token or "", outcome, commit)
        return lib.record_to_db(app.engine, project, outcome, commit)
    except lib.ServerError as exc:
        raise click.ClickException(f"could not record the verdict: {exc}") from exc


def _group(polluters: list[str]) -> str:
    return polluters[0] if len(polluters) == 1 else f"{polluters[0]} (+{len(polluters) - 1} more)"


def _summary(rows) -> None:
    click.echo("")
    width = min(60, max(len(t.victim) for t, _, _ in rows))
    click.echo(f"{'victim':<{width}}  {'kind':<12}  {'verdict':<15}  detail")
    for t, outcome, text in rows:
        click.echo(f"{t.victim[:width]:<{width}}  {t.kind:<12}  {outcome.verdict:<15}  "
                   f"{text}; {outcome.detail}")
    count = {v: sum(1 for _, o, _ in rows if o.verdict == v) for v in ("proven", "not-reproduced", "skipped")}
    click.echo(f"{count['proven']} proven, {count['not-reproduced']} not reproduced, "
               f"{count['skipped']} skipped.")
    skipped: dict[str, int] = {}
    for t, outcome, _ in rows:
        if outcome.verdict == "skipped":
            skipped[t.kind] = skipped.get(t.kind, 0) + 1
    if skipped:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(skipped.items()))
        click.echo(f"Skipped: {kinds}. The detail column says why each was skipped"
                   + (" (concurrent suspects need pytest-xdist: two tests at the same time)."
                      if "concurrent" in skipped else "."))
