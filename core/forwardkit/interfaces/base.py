"""What every component shares: a pydantic ``Config`` and declared expected failures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from forwardkit.config import ComponentConfig, resolve_config


class Component:
    """Mixin for every component class.

    ``Config`` is the pydantic model the component is created from; ``expected_failures`` maps a
    conformance check name (e.g. ``"check_batch_independence"``) to the reason it is expected to fail.
    ``conformance_configs`` pins the configs the conformance kit (``forwardkit.testing``) checks: a
    sequence of dicts of Config fields (the rest keep their defaults); empty means the kit uses the
    defaults and, for mixers, configs drawn from the Config's schema.
    Constructors take ``(config=None, **overrides)``, so ``Pooling(dim=64, pool_size=5)`` and
    ``Pooling(PoolingConfig(dim=64))`` both work.
    """

    Config: ClassVar[type[ComponentConfig]] = ComponentConfig
    expected_failures: ClassVar[Mapping[str, str]] = {}
    conformance_configs: ClassVar[Sequence[Mapping[str, Any]]] = ()
    config: Any

    def _init_config(self, config: Any, overrides: Mapping[str, Any]) -> Any:
        """Validate and store ``self.config``; call first in ``__init__`` (after ``nn.Module``'s)."""
        self.config = resolve_config(type(self).Config, config, overrides)
        return self.config

    @classmethod
    def from_config(cls, config: Any) -> Any:
        """Create the component from a Config instance (or mapping)."""
        factory: Any = cls
        return factory(config)
