"""The component registry: discovery through entry points, imports on first use.

Discovery imports only each plugin's light registration module (no torch, no model code), calls its
``forwardkit_register`` hook with a :class:`Registrar`, and records import *paths*. A component's class
is imported when it is first created. Plugins load one at a time, each in its own ``try``: a plugin
that fails to import, has a bad hook signature, raises while registering or registers a taken name is
recorded in :attr:`Registry.plugins` (shown by ``forwardkit doctor``) and every other plugin keeps
working.

Nothing is registered at import time: the default registry is filled on first use of
:func:`default_registry`.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import traceback
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from importlib.resources import files
from typing import Any

import pluggy

from forwardkit import hookspecs
from forwardkit.errors import ComponentConflictError, PluginError, UnknownComponentError, UnknownKindError
from forwardkit.kinds import KINDS
from forwardkit.registration import ComponentInfo, Paper, PluginStatus, Registrar, import_path

__all__ = ["BUILTIN_PLUGIN", "ENTRY_POINT_GROUP", "ComponentInfo", "Paper", "PluginStatus", "Registrar", "Registry",
           "catalog", "default_registry", "import_path", "install_hint", "iter_components", "set_default_registry"]

ENTRY_POINT_GROUP = "forwardkit"
BUILTIN_PLUGIN = "builtin"


class _PluginManager(pluggy.PluginManager):
    """Accepts a plain ``forwardkit_register`` function as an implementation (no decorator needed)."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name == "forwardkit_register" and callable(getattr(plugin, name, None)):
            return {}
        return opts


class Registry:
    """Components by (kind, name), plus the load status of every plugin that was tried."""

    def __init__(self, *, pins: Mapping[str, str] | None = None) -> None:
        self._components: dict[tuple[str, str], ComponentInfo] = {}
        #: names claimed by more than one plugin: every claim, in load order (none of them is used unpinned)
        self.conflicts: dict[tuple[str, str], list[ComponentInfo]] = {}
        #: ``"kind/name" -> plugin``: which claim of a conflicting name to use (default: ``FORWARDKIT_PIN``)
        self.pins: dict[str, str] = dict(pins) if pins is not None else pins_from_env()
        self.plugins: dict[str, PluginStatus] = {}
        #: plugin name -> the path of its declared reproduction spec (see Registrar.add_reproduction)
        self.reproductions: dict[str, str] = {}
        self._pm = _PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)

    def __deepcopy__(self, memo: dict[int, Any]) -> Registry:
        """A registry is shared, not copied: a deep copy of a model whose config holds component specs built
        against this registry (``copy.deepcopy(model)`` in an adapter or compressor) refers to the same one
        (its plugin manager holds imported modules, which cannot be copied)."""
        return self

    # ---- loading -------------------------------------------------------------------------------
    @classmethod
    def discover(cls, *, builtin: bool = True, entry_points: bool = True) -> Registry:
        """A registry with the builtin plugin and every installed ``forwardkit`` entry point."""
        registry = cls()
        if builtin:
            registry.load_plugin(BUILTIN_PLUGIN, lambda: importlib.import_module("forwardkit.builtin"))
        if entry_points:
            registry.load_entry_points()
        return registry

    def load_entry_points(self) -> None:
        """Load every ``forwardkit`` entry point; entry points that share a name are all loaded (the later
        ones as ``<name>#<distribution>``) and reported, so that neither silently displaces the other."""
        found = sorted(((ep, *distribution_of(ep)) for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)),
                       key=lambda item: (item[0].name, item[1] or ""))
        owners: dict[str, list[str]] = {}
        for ep, dist, _ in found:
            owners.setdefault(ep.name, []).append(dist or ep.value)
        for ep, dist, version in found:
            name = ep.name if ep.name not in self.plugins else f"{ep.name}#{dist or ep.value}"
            status = self.load_plugin(name, ep.load, module=ep.value, distribution=dist, version=version)
            if len(owners[ep.name]) > 1:
                status.ok = False
                status.problems.append(f"entry-point name {ep.name!r} is used by several distributions "
                                       f"({', '.join(owners[ep.name])}); uninstall all but one")

    def load_plugin(
        self,
        name: str,
        loader: Callable[[], Any],
        *,
        module: str | None = None,
        distribution: str | None = None,
        version: str | None = None,
    ) -> PluginStatus:
        """Import one plugin with ``loader()`` and run its hook, isolated from every other plugin."""
        status = PluginStatus(name=name, module=module or name, distribution=distribution, version=version)
        if name in self.plugins:
            status.ok = False
            status.error = f"a plugin named {name!r} is already loaded (from {self.plugins[name].module})"
            self.plugins[f"{name}#{len(self.plugins)}"] = status
            return status
        self.plugins[name] = status
        try:
            plugin = loader()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: a plugin cannot end every command
            return _fail(status, "import failed", exc)
        try:
            self._pm.register(plugin, name=name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            return _fail(status, "invalid hook", exc)
        impls = [i for i in self._pm.hook.forwardkit_register.get_hookimpls() if i.plugin_name == name]
        if not impls:
            status.ok = False
            status.error = "no forwardkit_register hook found in the entry-point module"
            return status
        registrar = Registrar(name, distribution=distribution)
        try:
            for impl in impls:
                impl.function(**{arg: registrar for arg in impl.argnames})
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            return _fail(status, "forwardkit_register raised", exc)
        status.problems.extend(registrar.problems)
        for info in registrar.staged:
            self._claim(info)
            status.components.append(info.qualname)
        if registrar.reproduction is not None:
            self.reproductions[name] = registrar.reproduction
        if status.problems:
            status.ok = False
        return status

    def _claim(self, info: ComponentInfo) -> None:
        """Record a plugin's claim of a name; a second claim makes the name a conflict that nobody wins."""
        key = (info.kind, info.name)
        if key not in self._components and key not in self.conflicts:
            self._components[key] = info
            return
        claims = self.conflicts.setdefault(key, [self._components.pop(key)] if key in self._components else [])
        claims.append(info)
        plugins = [c.plugin for c in claims]
        for claim in claims:
            status = self.plugins.get(claim.plugin)
            if status is None:
                continue
            others = ", ".join(repr(p) for p in plugins if p != claim.plugin)
            problem = (f"{info.qualname}: also registered by plugin {others}; the name is unusable until one is "
                       f"uninstalled or pinned (FORWARDKIT_PIN={info.qualname}=<plugin>)")
            status.problems = [x for x in status.problems if not x.startswith(f"{info.qualname}: also registered")]
            status.problems.append(problem)
            status.ok = False
        pinned = self.pins.get(info.qualname)
        chosen = [c for c in claims if c.plugin == pinned]
        if chosen:
            self._components[key] = chosen[0]

    def register_class(
        self, kind: str, name: str, cls: Any, *, config: Any = None, summary: str = "", plugin: str = "local"
    ) -> ComponentInfo:
        """Register a class defined in this process (a notebook, a test) without an import path.

        ``config`` defaults to ``cls.Config``. Unlike plugins, this replaces nothing: a taken name raises.
        """
        if kind not in KINDS:
            raise UnknownKindError(kind, KINDS)
        if (kind, name) in self._components:
            owner = self._components[(kind, name)].plugin
            raise PluginError(f"{kind}/{name} is already registered by plugin {owner!r}")
        module = getattr(cls, "__module__", "local")
        info = ComponentInfo(kind=kind, name=name, target=f"{module}:{getattr(cls, '__name__', 'object')}",
                             plugin=plugin, summary=summary, obj=cls, config_obj=config or cls.Config)
        self._components[(kind, name)] = info
        status = self.plugins.setdefault(plugin, PluginStatus(name=plugin, module="(registered in process)"))
        status.components.append(info.qualname)
        return info

    # ---- queries -------------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> ComponentInfo:
        """The component ``name`` of ``kind``; unknown names raise with close matches and hints."""
        if kind not in KINDS:
            raise UnknownKindError(kind, KINDS)
        try:
            return self._components[(kind, name)]
        except KeyError:
            if (kind, name) in self.conflicts:
                raise ComponentConflictError(kind=kind, name=name,
                                             plugins=[c.plugin for c in self.conflicts[(kind, name)]]) from None
            raise UnknownComponentError(
                kind=kind,
                name=name,
                known=self.names(kind),
                other_kinds=self.kinds_of(name),
                install_hint=install_hint(kind, name),
            ) from None

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._components

    def names(self, kind: str) -> list[str]:
        return sorted(n for k, n in self._components if k == kind)

    def kinds_of(self, name: str) -> list[str]:
        return [k for k in KINDS if (k, name) in self._components]

    def components(self, kind: str | None = None) -> list[ComponentInfo]:
        items = self._components.values()
        chosen = [c for c in items if kind is None or c.kind == kind]
        return sorted(chosen, key=lambda c: (KINDS.index(c.kind), c.name))

    def find(self, name: str) -> list[ComponentInfo]:
        """Every component called ``name``, of any kind (every claim of a conflicting name)."""
        found = [self._components[(k, name)] for k in self.kinds_of(name)]
        return found + [c for (k, n), claims in self.conflicts.items() if n == name and (k, n) not in self._components
                        for c in claims]

    def failed_plugins(self) -> list[PluginStatus]:
        return [p for p in self.plugins.values() if not p.ok]


_DIST_INFO = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)\.dist-info$")


def distribution_of(ep: Any) -> tuple[str | None, str | None]:
    """(name, version) of the distribution an entry point comes from, read from its ``.dist-info``
    folder name where it can be (parsing METADATA for each of 64 plugins costs more than everything else
    discovery does), else from the metadata."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    folder = getattr(dist, "_path", None)
    match = _DIST_INFO.match(getattr(folder, "name", "") or "")
    if match:
        return match.group("name").replace("_", "-"), match.group("version")
    return dist.name, dist.version


def pins_from_env() -> dict[str, str]:
    """``FORWARDKIT_PIN="token_mixer/pooling=metaformer-baselines,model/x=other"`` as a mapping."""
    out: dict[str, str] = {}
    for part in os.environ.get("FORWARDKIT_PIN", "").split(","):
        if "=" in part:
            key, _, plugin = part.partition("=")
            out[key.strip()] = plugin.strip()
    return out


def _fail(status: PluginStatus, what: str, exc: BaseException) -> PluginStatus:
    status.ok = False
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({tb[-1].filename}:{tb[-1].lineno})" if tb else ""
    status.error = f"{what}: {type(exc).__name__}: {exc}{where}"
    return status


# ---- the catalog of this repository's plugins (for "pip install" hints) ---------------------------
_catalog: dict[str, Any] | None = None


def catalog() -> dict[str, Any]:
    """Plugins of the forwardkit repository: ``{"plugins": {slug: {"components": ["kind/name"]}}}``."""
    global _catalog
    if _catalog is None:
        _catalog = json.loads(files("forwardkit").joinpath("catalog.json").read_text())
    return _catalog


def install_hint(kind: str, name: str) -> str | None:
    """The ``pip install`` command for a repository plugin that provides ``kind/name``, if any."""
    for slug, entry in catalog().get("plugins", {}).items():
        if f"{kind}/{name}" in entry.get("components", []):
            return f'pip install "forwardkit[{slug}]"'
    return None


# ---- the default registry, filled on first use -----------------------------------------------------
_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry of the builtin and all installed plugins (discovered once)."""
    global _default
    if _default is None:
        _default = Registry.discover()
    return _default


def set_default_registry(registry: Registry | None) -> None:
    """Replace (or with ``None``, forget) the process-wide registry; mostly for tests."""
    global _default
    _default = registry


def iter_components(kind: str | None = None) -> Iterable[ComponentInfo]:
    return default_registry().components(kind)
