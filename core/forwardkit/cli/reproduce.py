"""``forwardkit reproduce``: run a plugin's declared miniature reproduction and give the verdict.

Importing this module imports neither torch nor plugin code; that happens when a reproduction runs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from forwardkit.cli.common import backend_options
from forwardkit.errors import ForwardkitError, close_matches


def repo_plugin_dir(slug: str) -> Path | None:
    """``plugins/<slug>`` of the repository checkout forwardkit is installed from (editable), if any."""
    import forwardkit

    folder = Path(forwardkit.__file__).resolve().parents[2] / "plugins" / slug
    return folder if (folder / "pyproject.toml").is_file() else None


def default_out(slug: str, *, smoke: bool, stamp: str) -> Path:
    """Full runs in a checkout write the reports to keep (plugins/<slug>/reports); anything else goes to runs/."""
    folder = None if smoke else repo_plugin_dir(slug)
    if folder is not None:
        return folder / "reports"
    return Path("runs") / "reproduce" / f"{slug}{'-smoke' if smoke else ''}-{stamp}"


def _unknown(slug: str, registry: Any) -> ForwardkitError:
    declared = sorted(registry.reproductions)
    if slug in registry.plugins:
        return ForwardkitError(f"plugin {slug!r} declares no reproduction. Plugins that do: "
                               f"{', '.join(declared) or '(none installed)'}.")
    close = close_matches(slug, sorted(set(declared) | set(registry.plugins)), n=3, cutoff=0.5)
    hint = ("Did you mean " + " or ".join(repr(c) for c in close) + "? ") if close else ""
    return ForwardkitError(f"no installed plugin {slug!r}. {hint}Plugins with a reproduction: "
                           f"{', '.join(declared) or '(none installed)'}.")


def journal_dir(job: str, *, out: Path | None, smoke: bool, seeds: int | None) -> Path:
    """Where a job (``job`` is the slug, or ``all``) records its finished runs until it is done: in
    ``out/.journal/`` when an output folder is given, else in ``runs/reproduce/.journal/``; one folder per
    command (slug or --all, --smoke, --seeds), so that the same command started again finds it."""
    parent = (out if out is not None else Path("runs") / "reproduce") / ".journal"
    return parent / f"{job}{'-smoke' if smoke else ''}{f'-seeds{seeds}' if seeds is not None else ''}"


def _run(slug: str, registry: Any, *, seeds: int | None, smoke: bool, out: Path, workers: int | None,
         verbose: bool = True, backend: str = "local", address: str | None = None,
         journal: Path | None = None) -> dict[str, Any]:
    from forwardkit.journal import RunJournal
    from forwardkit.parallel import cpu_cores
    from forwardkit.reproduce.runner import default_command, run_reproduction
    from forwardkit.reproduce.spec import load_spec

    spec = load_spec(registry.reproductions[slug])
    chosen = spec.seeds if seeds is None else spec.seeds[:seeds]
    if seeds is not None and seeds > len(spec.seeds):
        raise ForwardkitError(f"--seeds {seeds}: the reproduction of {slug!r} declares {len(spec.seeds)} seeds")
    if smoke and seeds is None:
        chosen = spec.seeds[:2]
    runs = RunJournal(folder=journal) if journal is not None else None
    results = run_reproduction(spec, slug=slug, out_dir=out, seeds=chosen, smoke=smoke,
                               workers=workers or cpu_cores(), registry=registry, verbose=verbose,
                               command=default_command(slug, seeds=len(chosen), smoke=smoke),
                               backend=backend, address=address, journal=runs)
    if journal is not None:
        forget(journal)  # the outputs are written: a later start computes afresh
    return results


def forget(journal: Path) -> None:
    """Delete a job's journal (and the ``.journal`` folder that held it when nothing else is left there)."""
    from forwardkit.journal import RunJournal

    RunJournal(folder=journal).clear()


def _line(slug: str, results: dict[str, Any]) -> str:
    v = results["verdict"]
    lines = [f"{slug}: {v['label']}{' (smoke)' if results['smoke'] else ''} - {v['reason']}"]
    lines += [f"  {c['index'] + 1}. {c['text']}: {c['outcome']}" for c in v["conditions"]]
    return "\n".join(lines)


@click.command("reproduce")
@click.argument("slug", required=False)
@click.option("--all", "run_all", is_flag=True, help="every installed plugin that declares a reproduction")
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="use the first N declared seeds (default: all; with --smoke: the first 2)")
@click.option("--smoke", is_flag=True, help="a tiny budget (the spec's smoke overrides); never written to plugins/")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="output folder (default: plugins/<slug>/reports/ for a full run in a checkout, else runs/)")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="parallel processes for the (arm, seed) runs (default: cores, capped at the number of runs); "
                   "with --backend ray, each run asks for cores // workers CPUs")
@backend_options
@click.option("--fresh", is_flag=True, help="start over: forget the finished runs of an interrupted earlier start "
              "of this same command (which are otherwise not run again)")
def reproduce(slug: str | None, run_all: bool, seeds: int | None, smoke: bool, out: Path | None,
              workers: int | None, backend: str, address: str | None, fresh: bool) -> None:
    """Run plugin SLUG's miniature reproduction of its paper and print the verdict.

    Writes report.md, results.json and figure.png. The verdict is computed from the measured numbers:
    reproduces / does not reproduce at this scale / inconclusive. Every finished run is recorded until
    the job is done, so a job that was interrupted and is started again (the same command) runs only what
    is left.
    """
    from forwardkit.journal import RunJournal
    from forwardkit.registry import default_registry

    try:
        if run_all == bool(slug):
            raise click.UsageError("give either a plugin SLUG or --all")
        registry = default_registry()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        journal = journal_dir(slug or "all", out=out, smoke=smoke, seeds=seeds)
        if fresh:
            forget(journal)
        options: dict[str, Any] = {"seeds": seeds, "smoke": smoke, "workers": workers, "backend": backend,
                                   "address": address}
        if slug:
            if slug not in registry.reproductions:
                raise _unknown(slug, registry)
            target = out or default_out(slug, smoke=smoke, stamp=stamp)
            results = _run(slug, registry, out=target, journal=journal, **options)
            click.echo(_line(slug, results))
            click.echo(f"report: {target / 'report.md'}")
            return
        root = out or Path("runs") / "reproduce" / f"all{'-smoke' if smoke else ''}-{stamp}"
        done = RunJournal(folder=journal / "_finished")  # the index row of each reproduction this job finished
        rows: list[dict[str, Any]] = []
        failed = False
        for name in sorted(p for p in registry.plugins if "#" not in p):
            if name not in registry.reproductions:
                click.echo(f"{name}: no reproduction declared")
                rows.append({"slug": name, "outcome": "no reproduction declared"})
                continue
            earlier = done.get(name)
            if earlier is not None:
                click.echo(f"{name}: {earlier['outcome']} - finished earlier in this job, not run again "
                           f"({earlier['report']})")
                rows.append(earlier)
                continue
            target = root / name if (out or smoke) else default_out(name, smoke=False, stamp=stamp)
            try:
                results = _run(name, registry, out=target, journal=journal / name, **options)
            except Exception as exc:  # one broken reproduction must not hide the others
                failed = True
                click.echo(f"{name}: error - {type(exc).__name__}: {exc}")
                rows.append({"slug": name, "outcome": "error", "reason": f"{type(exc).__name__}: {exc}"})
                continue
            click.echo(_line(name, results))
            row = {"slug": name, "outcome": results["verdict"]["label"], "measured": results["measured"],
                   "reason": results["verdict"]["reason"], "smoke": smoke, "report": str(target / "report.md")}
            rows.append(row)
            done.put(name, row, label=name)
        from forwardkit.reproduce.report import index_markdown

        root.mkdir(parents=True, exist_ok=True)
        (root / "index.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        (root / "index.md").write_text(index_markdown(rows, title="Reproductions" + (" (smoke)" if smoke else "")),
                                       encoding="utf-8")
        click.echo(f"index: {root / 'index.md'}")
        if failed:
            click.echo(f"the reproductions that finished are kept in {journal}: the same command runs only the others")
            sys.exit(1)
        forget(journal)
    except ForwardkitError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
