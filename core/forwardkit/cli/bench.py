"""``forwardkit bench``: measure mixers and models (torch is imported only when a command runs)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from forwardkit.cli.common import backend_options, friendly_errors, set_path, split_set

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # keep the profiler's start/stop lines out of the tables

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_SIZES = [64, 256, 1024, 4096]
QUICK_SIZES = [16, 64, 256]


def _int_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        items = [int(v) for v in value.replace(" ", "").split(",") if v]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated positive integers, got {value!r}") from None
    if not items or any(v <= 0 for v in items):
        raise click.BadParameter(f"expected comma-separated positive integers, got {value!r}")
    return list(dict.fromkeys(items))


def _names(value: str | None) -> list[str] | None:
    return [v for v in value.replace(" ", "").split(",") if v] if value else None


def component_sets(kind: str, pairs: tuple[str, ...] | list[str], registry: Any = None) -> dict[str, dict[str, Any]]:
    """``("attention.head_dim=16",)`` -> ``{"attention": {"head_dim": 16}}`` (values read as YAML).

    The name is the longest registered ``kind`` name that the key starts with (names may hold dots),
    else the key's first part; the rest is the field path. The fields are validated later, against the
    component's Config (:func:`forwardkit.bench.check_configs`)."""
    from forwardkit.registry import default_registry

    if not pairs:
        return {}
    known = sorted((registry or default_registry()).names(kind), key=len, reverse=True)
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, value = split_set(pair)
        name = next((n for n in known if key.startswith(n + ".")), key.partition(".")[0])
        path = key[len(name) + 1:]
        if not path:
            raise click.BadParameter(f"expected NAME.FIELD=VALUE (e.g. attention.head_dim=16), got {pair!r}",
                                     param_hint="--set")
        set_path(out.setdefault(name, {}), path.split("."), value)
    return out


def _common(func: F) -> F:
    options = [
        click.option("--names", help="comma-separated component names (default: every installed one)"),
        click.option("--set", "sets", multiple=True, metavar="NAME.FIELD=VALUE",
                     help="a config field of one component, e.g. --set attention.head_dim=16 (repeatable; "
                          "values are YAML)"),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="parallel processes (default: cores, at most one per job); 1 runs in-process"),
        click.option("--repeats", type=click.IntRange(min=1), default=7, show_default=True,
                     help="timed repeats per measurement (fewer when one call takes long)"),
        click.option("--json", "as_json", is_flag=True, help="print the results JSON instead of tables"),
        click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
                     help="write results.json (and scaling.png for mixers) here"),
        click.option("--compile", "compile_", is_flag=True,
                     help="time each component through torch.compile, after its compilations (whose seconds are "
                          "reported as compile_s)"),
        click.option("--fresh", is_flag=True,
                     help="with --out: measure everything again, also the jobs an interrupted earlier start of this "
                          "command finished (which are otherwise taken from OUT/.journal)"),
        click.option("--quick", is_flag=True,
                     help="fewer repeats (3, warm-up 1) and, unless --sizes is given, sizes "
                          + ",".join(map(str, QUICK_SIZES))),
    ]
    for option in reversed(options):
        func = option(func)
    return backend_options(func)


def _mixer_options(func: F) -> F:
    options = [
        click.option("--ranks", callback=_int_list, default="1,2", show_default=True,
                     help="spatial ranks: 1 uses (B, N, C), 2 uses (B, sqrt N, sqrt N, C)"),
        click.option("--sizes", callback=_int_list, default=None,
                     help="token counts N  [default: 64,256,1024,4096]"),
        click.option("--dim", type=click.IntRange(min=1), default=64, show_default=True, help="channels C"),
        click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True, help="batch size B"),
    ]
    for option in reversed(options):
        func = option(func)
    return _common(func)


def _emit(data: dict[str, Any], as_json: bool, out_dir: Path | None) -> None:
    from forwardkit.bench.report import print_report, write

    written = write(data, out_dir) if out_dir is not None else []
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        for note in data["notes"]:
            click.echo(f"note: {note}", err=True)
    else:
        print_report(data)
    for path in written:
        click.echo(f"wrote {path}", err=True)


def _journal(out_dir: Path | None, kind: str, *, fresh: bool) -> Any:
    """With ``--out``, the journal of the finished jobs (``OUT/.journal/<kind>``), emptied first with
    ``--fresh``; without ``--out``, none (nothing is kept for a later start)."""
    if out_dir is None:
        return None
    from forwardkit.journal import RunJournal

    journal = RunJournal(folder=out_dir / ".journal" / kind)
    if fresh:
        journal.clear()
    return journal


def _progress(as_json: bool) -> Callable[[list[dict[str, Any]]], None]:
    def report(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            where = f"{row['name']} rank {row.get('rank', '-')} N={row.get('tokens', '-')}"
            if row.get("status") == "ok":
                click.echo(f"  measured {where}: fwd+bwd {row['fwdbwd_ms']:.2f} ms", err=True)
            else:
                click.echo(f"  skipped {where}: {row['reason']}", err=True)

    return report


def _bench_mixers(kind: str, names: str | None, sets: tuple[str, ...], ranks: list[int], sizes: list[int] | None,
                  dim: int, batch: int, workers: int | None, repeats: int, as_json: bool, out_dir: Path | None,
                  quick: bool, compile_: bool = False, backend: str = "local", address: str | None = None,
                  fresh: bool = False) -> None:
    from forwardkit.bench import bench_components

    journal = _journal(out_dir, kind, fresh=fresh)
    chosen_sizes = sizes or (QUICK_SIZES if quick else DEFAULT_SIZES)
    data = bench_components(kind, names=_names(names), ranks=ranks, sizes=chosen_sizes, dim=dim, batch=batch,
                            workers=workers, repeats=3 if quick else repeats, warmup=1 if quick else 2,
                            budget_s=1.0 if quick else 3.0, on_done=_progress(as_json),
                            configs=component_sets(kind, sets), compile=compile_, backend=backend,
                            address=address, journal=journal)
    _emit(data, as_json, out_dir)
    if journal is not None:
        journal.clear()  # the results are written: a later start measures afresh


@click.group("bench")
def bench() -> None:
    """Measure components: parameters, MACs, latency, throughput, peak memory and scaling."""


@bench.command("mixers")
@_mixer_options
@friendly_errors
def mixers_cmd(**kwargs: Any) -> None:
    """Token mixers (with builtin `attention` as the baseline) over token counts N."""
    _bench_mixers("token_mixer", **kwargs)


@bench.command("channel-mixers")
@_mixer_options
@friendly_errors
def channel_mixers_cmd(**kwargs: Any) -> None:
    """Channel mixers (with builtin `mlp` as the baseline) over token counts N."""
    _bench_mixers("channel_mixer", **kwargs)


@bench.command("models")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True, help="batch size")
@_common
@friendly_errors
def models_cmd(names: str | None, sets: tuple[str, ...], batch: int, workers: int | None, repeats: int,
               as_json: bool, out_dir: Path | None, quick: bool, compile_: bool = False, backend: str = "local",
               address: str | None = None, fresh: bool = False) -> None:
    """Registered models at their default configs (or with --set fields), on inputs from Model.example_batch."""
    from forwardkit.bench import bench_models

    journal = _journal(out_dir, "model", fresh=fresh)
    data = bench_models(names=_names(names), batch=batch, workers=workers, repeats=3 if quick else repeats,
                        warmup=1 if quick else 2, budget_s=1.0 if quick else 3.0, on_done=_progress(as_json),
                        configs=component_sets("model", sets), compile=compile_, backend=backend, address=address,
                        journal=journal)
    _emit(data, as_json, out_dir)
    if journal is not None:
        journal.clear()  # the results are written: a later start measures afresh
