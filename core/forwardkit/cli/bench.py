"""``forwardkit bench``: measure mixers and models (torch is imported only when a command runs)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from forwardkit.cli.common import friendly_errors

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


def _common(func: F) -> F:
    options = [
        click.option("--names", help="comma-separated component names (default: every installed one)"),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="parallel processes (default: cores, at most one per job); 1 runs in-process"),
        click.option("--repeats", type=click.IntRange(min=1), default=7, show_default=True,
                     help="timed repeats per measurement (fewer when one call takes long)"),
        click.option("--json", "as_json", is_flag=True, help="print the results JSON instead of tables"),
        click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
                     help="write results.json (and scaling.png for mixers) here"),
        click.option("--quick", is_flag=True,
                     help="fewer repeats (3, warm-up 1) and, unless --sizes is given, sizes "
                          + ",".join(map(str, QUICK_SIZES))),
    ]
    for option in reversed(options):
        func = option(func)
    return func


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


def _progress(as_json: bool) -> Callable[[list[dict[str, Any]]], None]:
    def report(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            where = f"{row['name']} rank {row.get('rank', '-')} N={row.get('tokens', '-')}"
            if row.get("status") == "ok":
                click.echo(f"  measured {where}: fwd+bwd {row['fwdbwd_ms']:.2f} ms", err=True)
            else:
                click.echo(f"  skipped {where}: {row['reason']}", err=True)

    return report


def _bench_mixers(kind: str, names: str | None, ranks: list[int], sizes: list[int] | None, dim: int, batch: int,
                  workers: int | None, repeats: int, as_json: bool, out_dir: Path | None, quick: bool) -> None:
    from forwardkit.bench import bench_components

    chosen_sizes = sizes or (QUICK_SIZES if quick else DEFAULT_SIZES)
    data = bench_components(kind, names=_names(names), ranks=ranks, sizes=chosen_sizes, dim=dim, batch=batch,
                            workers=workers, repeats=3 if quick else repeats, warmup=1 if quick else 2,
                            budget_s=1.0 if quick else 3.0, on_done=_progress(as_json))
    _emit(data, as_json, out_dir)


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
def models_cmd(names: str | None, batch: int, workers: int | None, repeats: int, as_json: bool,
               out_dir: Path | None, quick: bool) -> None:
    """Registered models at their default configs, on inputs from Model.example_batch."""
    from forwardkit.bench import bench_models

    data = bench_models(names=_names(names), batch=batch, workers=workers, repeats=3 if quick else repeats,
                        warmup=1 if quick else 2, budget_s=1.0 if quick else 3.0, on_done=_progress(as_json))
    _emit(data, as_json, out_dir)
