"""What a plugin registers with: :class:`Registrar`, :class:`Paper`, and the records they make.

Light and torch-free, with no dependency on the registry itself: a plugin's registration module
(and the builtin plugin's) imports only this. :class:`ComponentInfo` is what the registry keeps per
component; :class:`PluginStatus` is one plugin's load status.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from forwardkit.errors import PluginError
from forwardkit.kinds import KINDS

_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_YAML_RESOURCE = re.compile(r"^[A-Za-z_][\w.]*:[\w./-]+\.ya?ml$")


@dataclass(frozen=True)
class Paper:
    """The paper a component implements."""

    title: str
    arxiv: str | None = None
    url: str | None = None
    year: int | None = None

    def cite(self) -> str:
        ref = f"arXiv:{self.arxiv}" if self.arxiv else (self.url or "")
        return f"{self.title}" + (f" ({ref})" if ref else "")


def import_path(path: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the attribute."""
    module_name, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class ComponentInfo:
    """What the registry knows about one component, without importing it."""

    kind: str
    name: str
    target: str
    plugin: str
    summary: str = ""
    config: str | None = None
    paper: Paper | None = None
    functional: str | None = None
    distribution: str | None = None
    obj: Any = field(default=None, compare=False, repr=False)
    config_obj: Any = field(default=None, compare=False, repr=False)

    @property
    def qualname(self) -> str:
        return f"{self.kind}/{self.name}"

    def load(self) -> Any:
        """Import and return the component class (or factory)."""
        if self.obj is not None:
            return self.obj
        try:
            return import_path(self.target)
        except Exception as exc:
            raise PluginError(
                f"{self.qualname} from plugin {self.plugin!r}: cannot import {self.target!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def load_config(self) -> Any:
        """Import and return the component's pydantic Config class."""
        if self.config_obj is not None:
            return self.config_obj
        if self.config is None:
            return self.load().Config
        try:
            return import_path(self.config)
        except Exception as exc:
            raise PluginError(
                f"{self.qualname} from plugin {self.plugin!r}: cannot import config {self.config!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k not in ("obj", "config_obj")}
        data["paper"] = asdict(self.paper) if self.paper else None
        return data


@dataclass
class PluginStatus:
    """Load status of one plugin, for ``forwardkit doctor`` and ``forwardkit list``."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    ok: bool = True
    error: str | None = None
    components: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Registrar:
    """The narrow handle a plugin registers through: it can add components, nothing else."""

    def __init__(self, plugin: str, *, distribution: str | None = None) -> None:
        self.plugin = plugin
        self.distribution = distribution
        self.staged: list[ComponentInfo] = []
        self.problems: list[str] = []
        self.reproduction: str | None = None

    def add(
        self,
        kind: str,
        name: str,
        *,
        target: str,
        config: str | None = None,
        summary: str = "",
        paper: Paper | dict[str, Any] | None = None,
        functional: str | None = None,
    ) -> None:
        """Register component ``name`` of ``kind``; ``target``/``config`` are ``"module:Attr"`` paths."""
        if kind not in KINDS:
            self.problems.append(f"{kind}/{name}: unknown kind {kind!r} (allowed: {', '.join(KINDS)})")
            return
        if not isinstance(name, str) or not _NAME.match(name):
            self.problems.append(f"{kind}/{name}: names are lowercase [a-z0-9_.-], starting with a letter")
            return
        for label, path in (("target", target), ("config", config), ("functional", functional)):
            if path is not None and not (isinstance(path, str) and _TARGET.match(path)):
                self.problems.append(f"{kind}/{name}: {label} must be 'module:attr', got {path!r}")
                return
        if isinstance(paper, dict):
            paper = Paper(**paper)
        self.staged.append(
            ComponentInfo(
                kind=kind,
                name=name,
                target=target,
                plugin=self.plugin,
                summary=summary,
                config=config,
                paper=paper,
                functional=functional,
                distribution=self.distribution,
            )
        )

    def add_reproduction(self, spec: str) -> None:
        """Declare the plugin's miniature reproduction (run by ``forwardkit reproduce <plugin>``).

        ``spec`` is a path read without torch: ``"package.module:ATTR"`` naming a
        :class:`~forwardkit.reproduce.spec.ReproductionSpec` (or a mapping of its fields), or
        ``"package:file.yaml"`` naming a YAML file inside the package. One per plugin.
        """
        if not (isinstance(spec, str) and (_TARGET.match(spec) or _YAML_RESOURCE.match(spec))):
            self.problems.append(f"reproduction: spec must be 'module:attr' or 'package:file.yaml', got {spec!r}")
            return
        if self.reproduction is not None:
            self.problems.append(f"reproduction: declared twice ({self.reproduction!r}, then {spec!r})")
            return
        self.reproduction = spec
