"""The one pluggy hook a plugin implements.

A plugin's entry point (group ``forwardkit``) names a light module (no torch, no model code) with::

    from forwardkit.hookspecs import hookimpl

    @hookimpl
    def forwardkit_register(registry):
        registry.add("token_mixer", "pooling", target="forwardkit_x.mixer:Pooling",
                     config="forwardkit_x.config:PoolingConfig", summary="...", paper=PAPER)

A plain function named ``forwardkit_register`` without the decorator works as well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from forwardkit.registry import Registrar

PROJECT = "forwardkit"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def forwardkit_register(registry: Registrar) -> None:
    """Register this plugin's components with ``registry.add(kind, name, ...)``.

    The registrar records which plugin added what; it cannot remove or replace others' components.
    """
