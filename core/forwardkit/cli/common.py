"""What every CLI command shares."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from forwardkit.errors import ForwardkitError

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Turn ForwardkitError into a message on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ForwardkitError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def split_set(pair: str, *, option: str = "--set") -> tuple[str, Any]:
    """``"trainer.epochs=3"`` -> ``("trainer.epochs", 3)``: the dotted key and the value read as YAML."""
    import yaml

    from forwardkit.config.files import load_yaml

    key, sep, raw = pair.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=option)
    try:
        return key, load_yaml(raw)
    except yaml.YAMLError as exc:
        why = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise click.BadParameter(f"{pair!r}: the value is not valid YAML ({why})", param_hint=option) from None


def set_path(tree: dict[str, Any], parts: list[str], value: Any) -> None:
    """Put ``value`` at the nested path ``parts`` of ``tree`` (creating the mappings on the way)."""
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise click.BadParameter(f"{'.'.join(parts)}: {part!r} was already given a value", param_hint="--set")
        node = child
    node[parts[-1]] = value


def parse_sets(pairs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``("trainer.epochs=3", "model.dims=[8,16]")`` -> nested dict (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, value = split_set(pair)
        set_path(out, key.split("."), value)
    return out


def apply_sets(data: dict[str, Any], pairs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``data`` with each ``KEY=VALUE`` put at its dotted path; a number indexes into a list
    (``model.token_mixers.2.head_dim=8``), missing mappings are created, and a path that cannot be
    followed names the part that stops it."""
    import copy

    out = copy.deepcopy(data)
    for pair in pairs:
        key, value = split_set(pair)
        parts = key.split(".")
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise click.BadParameter(f"{key}: {'.'.join(parts[:i]) or '<root>'} is a list of {len(node)} "
                                             f"entries, so {part!r} is not one of its indices (0..{len(node) - 1})",
                                             param_hint="--set")
                if last:
                    node[int(part)] = value
                else:
                    if isinstance(node[int(part)], str):  # a component given by name: its config follows
                        node[int(part)] = {"name": node[int(part)]}
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    child = node.get(part)
                    if child is None:
                        child = node[part] = {}
                    elif isinstance(child, str) and not last:
                        child = node[part] = {"name": child}
                    node = child
            else:
                raise click.BadParameter(f"{key}: {'.'.join(parts[:i])} is {node!r}, not a mapping or a list, so "
                                         f"{where} cannot be set", param_hint="--set")
    return out


BACKEND_HELP = ("where the runs go: local worker processes, or Ray tasks (one per run, each asking for the threads it "
                'uses, and a GPU when it trains on CUDA; needs pip install "forwardkit[ray]")')
ADDRESS_HELP = ("the Ray cluster to run on, HOST:PORT of its head (`ray start --head` prints it) or auto; "
                "default: $RAY_ADDRESS, else a Ray instance started on this machine for the job")


def backend_options(func: F) -> F:
    """``--backend [local|ray]`` and ``--address HOST:PORT``, passed on as ``backend`` and ``address``.

    Checked before the command runs: ``--address`` without ``--backend ray``, or ``--backend ray`` where
    Ray is not installed, exit with status 2 and name the option (and how to install Ray)."""

    @functools.wraps(func)
    def checked(*args: Any, **kwargs: Any) -> Any:
        backend, address = kwargs.get("backend", "local"), kwargs.get("address")
        if address is not None and backend != "ray":
            raise click.BadParameter("is the address of a Ray cluster: give it with --backend ray",
                                     param_hint="--address")
        if backend == "ray":
            from forwardkit.parallel_ray import INSTALL_HINT, ray_available

            if not ray_available():
                raise click.BadParameter(INSTALL_HINT, param_hint="--backend")
        return func(*args, **kwargs)

    checked = click.option("--address", default=None, metavar="HOST:PORT", help=ADDRESS_HELP)(checked)
    checked = click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                           help=BACKEND_HELP)(checked)
    return checked  # type: ignore[return-value]
