"""``forwardkit`` CLI entry point.

Listing, showing and validating never import torch or plugin model code. Errors that forwardkit
raises on purpose are printed as one paragraph and exit with status 2, without a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from forwardkit.cli.common import apply_sets, backend_options, friendly_errors
from forwardkit.errors import ForwardkitError
from forwardkit.kinds import KINDS


def _registry() -> Any:
    from forwardkit.registry import default_registry

    return default_registry()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="forwardkit", prog_name="forwardkit")
def cli() -> None:
    """Compose research-paper components (token mixers, learning rules, adapters, ...) into experiments."""


@cli.command("list")
@click.option("--kind", type=click.Choice(KINDS), help="only components of this kind")
@click.option("--plugin", "plugin_name", help="only components of this plugin")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@friendly_errors
def list_cmd(kind: str | None, plugin_name: str | None, as_json: bool) -> None:
    """List registered components (without importing torch or any model code)."""
    registry = _registry()
    comps = [c for c in registry.components(kind) if plugin_name in (None, c.plugin)]
    failed = registry.failed_plugins()
    if as_json:
        payload = {
            "components": [c.to_dict() for c in comps],
            "failed_plugins": [p.to_dict() for p in failed],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    from forwardkit.cli.render import components_table, console

    out = console()
    out.print(components_table(comps))
    for status in failed:
        out.print(f"[yellow]plugin {status.name!r} has problems:[/] {status.error or '; '.join(status.problems)}")
        out.print("  run [bold]forwardkit doctor[/] for details")


@cli.command("show")
@click.argument("name")
@click.option("--kind", type=click.Choice(KINDS), help="when the name exists under several kinds")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@friendly_errors
def show_cmd(name: str, kind: str | None, as_json: bool) -> None:
    """Show a component: kind, plugin, paper, and its config schema with defaults."""
    from forwardkit.cli.render import component_details

    registry = _registry()
    infos = [registry.get(kind, name)] if kind else registry.find(name)
    if not infos:
        from forwardkit.errors import UnknownComponentError
        from forwardkit.registry import install_hint

        known = sorted({c.name for c in registry.components()})
        hints = [h for h in (install_hint(k, name) for k in KINDS) if h]
        raise UnknownComponentError(kind="component", name=name, known=known, install_hint=hints[0] if hints else None)
    details = [component_details(info) for info in infos]
    if as_json:
        click.echo(json.dumps(details if len(details) > 1 else details[0], indent=2, default=str))
        return
    from forwardkit.cli.render import console, print_details

    for item in details:
        print_details(console(), item)


def deep_problems(registry: Any) -> list[dict[str, str]]:
    """Import every registered component's class and config (``doctor --deep``); what fails, and why."""
    found = []
    for info in registry.components():
        for what, load in (("class", info.load), ("config", info.load_config)):
            try:
                load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                found.append({"component": info.qualname, "plugin": info.plugin, "what": what,
                              "error": f"{type(exc).__name__}: {exc}"})
    return found


@cli.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--deep", is_flag=True, help="also import every component's class and config (imports torch)")
@friendly_errors
def doctor_cmd(as_json: bool, deep: bool) -> None:
    """Every plugin's load status and errors; exits 1 when a plugin has problems."""
    registry = _registry()
    statuses = list(registry.plugins.values())
    deep_found = deep_problems(registry) if deep else []
    if as_json:
        payload: Any = [s.to_dict() for s in statuses]
        click.echo(json.dumps({"plugins": payload, "imports": deep_found} if deep else payload, indent=2))
    else:
        from forwardkit.cli.render import console, plugins_table

        out = console()
        out.print(plugins_table(statuses))
        for status in statuses:
            for line in ([status.error] if status.error else []) + status.problems:
                out.print(f"[red]{status.name}[/]: {line}", markup=True, highlight=False)
        for item in deep_found:
            out.print(f"[red]{item['plugin']}[/]: {item['component']}: cannot import its {item['what']}: "
                      f"{item['error']}", highlight=False)
        if all(s.ok for s in statuses) and not deep_found:
            checked = f"; {len(registry.components())} components import" if deep else ""
            out.print(f"[green]all {len(statuses)} plugins loaded{checked}[/]")
    sys.exit(0 if all(s.ok for s in statuses) and not deep_found else 1)


@cli.command("schema")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="write to a file")
@friendly_errors
def schema_cmd(output: Path | None) -> None:
    """JSON Schema of an Experiment with every installed plugin's configs (for editors)."""
    from forwardkit.config import experiment_json_schema

    text = json.dumps(experiment_json_schema(), indent=2)
    if output:
        output.write_text(text + "\n")
        click.echo(f"wrote {output}")
    else:
        click.echo(text)


@cli.command("validate")
@click.argument("experiment", type=click.Path(path_type=Path))
@click.option("--build/--no-build", default=True, show_default=True,
              help="also build the experiment and run one forward pass on two samples (imports torch); "
              "--no-build checks the schema only")
@friendly_errors
def validate_cmd(experiment: Path, build: bool) -> None:
    """Validate an experiment file (or a multi-stage one) as ``forwardkit run`` will, and build it."""
    from forwardkit.config import load_experiment, read_mapping
    from forwardkit.config.stages import is_multi_stage, validate_stages

    data = read_mapping(experiment)
    if is_multi_stage(data):
        spec, stages = validate_stages(data, source=str(experiment))
        if build:
            from forwardkit.engine.check_build import check_build

            check_build(stages[0], source=f"{experiment}, stage {spec.stages[0].name!r}")
        click.echo(f"{experiment}: valid ({len(spec.stages)} stages: {', '.join(s.name for s in spec.stages)})")
        return
    exp = load_experiment(experiment)
    if build:
        from forwardkit.engine.check_build import check_build

        check_build(exp, source=str(experiment))
    parts = [f"data={exp.data.name}", f"model={exp.model.name}"]
    parts += [f"{label}={','.join(s.name for s in specs)}" for label, specs in
              (("adapters", exp.adapters), ("callbacks", exp.callbacks), ("compressors", exp.compressors)) if specs]
    click.echo(f"{experiment}: valid ({'; '.join(parts)})")


@cli.command("run")
@click.argument("experiment", required=False, type=click.Path(path_type=Path))
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, path_type=Path),
              help="continue the run in this directory from its latest checkpoint")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), help="where the run writes")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="override a field, e.g. --set trainer.epochs=3 (repeatable; values are YAML)")
@click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
              help="data-parallel processes (DDP: gloo on CPU, nccl on GPU)")
@click.option("--nnodes", type=click.IntRange(min=1), default=1, show_default=True,
              help="machines in the data-parallel run, each started with the same command and its own --node-rank "
                   "(torchrun semantics: --nproc processes per node)")
@click.option("--node-rank", type=click.IntRange(min=0), default=0, show_default=True,
              help="this machine's rank among the --nnodes (0 is the master, which alone writes the run)")
@click.option("--master-addr", default="127.0.0.1", show_default=True, metavar="HOST",
              help="address of the node of rank 0, reachable from every node (with --nnodes > 1)")
@click.option("--master-port", type=click.IntRange(min=1, max=65535), default=29500, show_default=True,
              help="a free port on the master node for the rendezvous (with --nnodes > 1)")
@click.option("--quiet", is_flag=True, help="no progress output")
@click.option("--overwrite", is_flag=True, help="start clean in a --run-dir that holds an earlier run (its outputs "
              "are deleted); for the bake-off: train every entry again, also those an interrupted start finished")
@backend_options
@friendly_errors
def run_cmd(experiment: Path | None, resume_dir: Path | None, run_dir: Path | None, sets: tuple[str, ...],
            nproc: int, nnodes: int, node_rank: int, master_addr: str, master_port: int, quiet: bool,
            overwrite: bool, backend: str, address: str | None) -> None:
    """Train an experiment (YAML/JSON). With no EXPERIMENT: the token-mixer bake-off on digits.

    The bake-off's entries run in local processes or, with --backend ray, as Ray tasks; started again
    after an interruption (with the same --run-dir, or none), it skips the entries already trained. One
    experiment runs data-parallel with --nproc processes, on --nnodes machines with --node-rank,
    --master-addr and --master-port as torchrun has them.

    Exit status: 0 when the run finished (or a resumed run had already finished), 2 for a bad input, 3
    when training diverged (a non-finite loss; the last finite checkpoint is kept)."""
    from forwardkit.config import read_mapping

    if node_rank >= nnodes:
        raise click.BadParameter(f"{node_rank} is not below --nnodes {nnodes} (ranks are 0..{nnodes - 1})",
                                 param_hint="--node-rank")
    if experiment is None and resume_dir is None:
        if nnodes > 1 or nproc > 1:
            raise click.BadParameter("the bake-off (no EXPERIMENT) trains its entries apart; spread them with "
                                     "--set workers=N or --backend ray",
                                     param_hint="--nnodes" if nnodes > 1 else "--nproc")
        from forwardkit.config import resolve_config
        from forwardkit.engine.bakeoff import BakeoffConfig, run_bakeoff

        data = apply_sets(BakeoffConfig().model_dump(), sets)
        cfg = resolve_config(BakeoffConfig, None, _quiet(data) if quiet else data)
        run_bakeoff(cfg, out_dir=run_dir, verbose=not quiet, backend=backend, address=address, fresh=overwrite)
        return
    if backend != "local":
        raise click.BadParameter("is for the many runs of the bake-off (forwardkit run without EXPERIMENT); one "
                                 "experiment spreads over machines with --nnodes", param_hint="--backend")
    if (resume_dir is not None and (resume_dir / "stages.json").is_file()) or (
            experiment is not None and resume_dir is None and _is_multi_stage_file(experiment)):
        if nnodes > 1:
            raise ForwardkitError("--nnodes is not supported for multi-stage experiments yet; run each stage's "
                                  "experiment with --nnodes, or use one machine")
        _run_stages(experiment, resume_dir, run_dir, sets, nproc, quiet, overwrite)
        return
    if resume_dir is not None:
        if overwrite:
            raise click.UsageError("--overwrite starts a run afresh; it cannot be combined with --resume")
        if not (resume_dir / "experiment.json").is_file():
            raise ForwardkitError(f"cannot resume: {resume_dir} is not a run directory (it has no experiment.json)")
        saved = resume_dir / "experiment.json"
        data = read_mapping(experiment if experiment else saved)
        run_dir = resume_dir
    else:
        assert experiment is not None
        data = read_mapping(experiment)
    from forwardkit.config import validate_experiment

    data = apply_sets(data, sets)
    data = _quiet(data) if quiet else data
    exp = validate_experiment(data, source=str(experiment or resume_dir))  # fail here, before any process starts
    from forwardkit.engine.rundir import prepare_run_dir
    from forwardkit.engine.trainer import new_run_dir

    run_dir = run_dir or new_run_dir(exp)
    if resume_dir is None and node_rank == 0:  # the master alone writes the run
        prepare_run_dir(run_dir, overwrite=overwrite)
    payload = (data, str(run_dir), resume_dir is not None)
    if nnodes > 1:
        from forwardkit.engine.distributed import launch_nodes, node_banner

        if not quiet:
            click.echo(node_banner(nnodes=nnodes, node_rank=node_rank, nproc=nproc, master_addr=master_addr,
                                   master_port=master_port, run_dir=str(run_dir)), err=True)
        launch_nodes(_train, *payload, nnodes=nnodes, node_rank=node_rank, nproc=nproc, master_addr=master_addr,
                     master_port=master_port)
    elif nproc > 1:
        from forwardkit.engine.distributed import launch

        launch(nproc, _train, *payload)
    else:
        _train(*payload)


def _quiet(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with ``trainer.progress: none`` where ``trainer`` is a mapping (an invalid one stays as it is)."""
    trainer = data.get("trainer", {})
    return {**data, "trainer": {**trainer, "progress": "none"}} if isinstance(trainer, dict) else data


def _is_multi_stage_file(path: Path) -> bool:
    from forwardkit.config import read_mapping
    from forwardkit.config.stages import is_multi_stage

    return is_multi_stage(read_mapping(path))


def _run_stages(experiment: Path | None, resume_dir: Path | None, run_dir: Path | None, sets: tuple[str, ...],
                nproc: int, quiet: bool, overwrite: bool) -> None:
    """``forwardkit run`` of a multi-stage experiment (``--set`` applies to its top level: base, seed, ...)."""
    from forwardkit.config import read_mapping
    from forwardkit.config.stages import validate_stages
    from forwardkit.engine.stages import run_stages

    if nproc > 1:
        raise ForwardkitError("--nproc is not supported for multi-stage experiments yet; run each stage's "
                              "experiment with --nproc, or use one process")
    path = experiment or (resume_dir / "stages.json" if resume_dir is not None else None)
    assert path is not None
    data = apply_sets(read_mapping(path), sets)
    if quiet and isinstance(data.get("stages"), list):
        data["stages"] = [_quiet(stage) if isinstance(stage, dict) else stage for stage in data["stages"]]
    validate_stages(data, source=str(path))  # fail here, before anything trains
    run_stages(data, run_dir=resume_dir or run_dir, resume=resume_dir is not None, verbose=not quiet,
               overwrite=overwrite)


def _train(experiment: dict[str, Any], run_dir: str, resume: bool) -> None:
    from forwardkit.engine.distributed import shutdown
    from forwardkit.engine.trainer import fit

    try:
        result = fit(experiment, run_dir=run_dir, resume=resume)
    finally:
        shutdown()
    if result.diverged:
        click.echo(f"error: training diverged ({result.stop_reason or 'a non-finite training loss'}); the last "
                   f"finite checkpoint is kept in {run_dir}", err=True)
        sys.exit(3)


@cli.group("plugin")
def plugin_group() -> None:
    """Write plugins."""


@plugin_group.command("new")
@click.argument("slug")
@click.option("--dir", "parent", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="folder in which the plugin folder is created")
@click.option("--title", default=None, help="the paper's title")
@click.option("--arxiv", default=None, help="the paper's arXiv id")
@friendly_errors
def plugin_new_cmd(slug: str, parent: Path, title: str | None, arxiv: str | None) -> None:
    """Scaffold plugin SLUG: pyproject with the entry point and a test extra, a working token mixer and
    callback, tests running the conformance kit, a reproduction spec, method card."""
    from forwardkit.cli.scaffold import scaffold_plugin

    folder = scaffold_plugin(slug, parent=parent, title=title, arxiv=arxiv)
    click.echo(f"created {folder}")
    click.echo(f"next: pip install -e \"{folder}[test]\" && pytest {folder} && forwardkit reproduce {slug} --smoke")


from forwardkit.cli.reproduce import reproduce as _reproduce  # noqa: E402, I001
cli.add_command(_reproduce)


from forwardkit.cli.bench import bench as _bench  # noqa: E402

cli.add_command(_bench)
from forwardkit.cli.sweep import sweep as _sweep  # noqa: E402, I001
cli.add_command(_sweep)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="forwardkit")


if __name__ == "__main__":  # pragma: no cover
    main()
