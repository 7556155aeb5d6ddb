"""How hard the conformance kit draws: named profiles, an example count, a seed (torch- and hypothesis-free).

Two profiles are built in:

``default``  :data:`DEFAULT_EXAMPLES` drawn examples per mixer property (after the explicit cases),
             under the fixed seed :data:`DEFAULT_SEED`. Every run draws the same examples, so CI is
             reproducible; a different seed draws different ones.
``deep``     :data:`DEEP_EXAMPLES` drawn examples per property under a fresh random seed for every
             check run, for a long hunt; a failure names the seed that replays it.

The active profile comes from, in order: :func:`configure` (what the pytest options
``--forwardkit-profile``, ``--forwardkit-examples`` and ``--forwardkit-seed`` call), then the
environment (:data:`ENV_PROFILE`, :data:`ENV_EXAMPLES`, :data:`ENV_SEED`, :data:`ENV_DATABASE`),
then the ``default`` profile. ``FORWARDKIT_EXAMPLES`` and ``FORWARDKIT_SEED`` override the
profile's example count and seed; a seed of ``random`` asks for a fresh one.

No hypothesis example database is used, so nothing is written in the working directory, unless a
directory is given with ``FORWARDKIT_HYPOTHESIS_DB`` (or ``configure(database=...)``).
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace

__all__ = [
    "DEEP_EXAMPLES",
    "DEFAULT_EXAMPLES",
    "DEFAULT_SEED",
    "ENV_DATABASE",
    "ENV_EXAMPLES",
    "ENV_PROFILE",
    "ENV_SEED",
    "PROFILES",
    "KitProfile",
    "active_profile",
    "configure",
    "replay_hint",
]

#: drawn examples per mixer property in the ``default`` profile
DEFAULT_EXAMPLES = 10
#: drawn examples per mixer property in the ``deep`` profile
DEEP_EXAMPLES = 200
#: the seed of the ``default`` profile
DEFAULT_SEED = 0

ENV_PROFILE = "FORWARDKIT_PROFILE"
ENV_EXAMPLES = "FORWARDKIT_EXAMPLES"
ENV_SEED = "FORWARDKIT_SEED"
ENV_DATABASE = "FORWARDKIT_HYPOTHESIS_DB"


@dataclass(frozen=True)
class KitProfile:
    """How the kit draws: examples per property, the seed (None: a fresh one per check run), a database."""

    name: str
    max_examples: int
    seed: int | None
    database: str | None = None

    @property
    def derandomized(self) -> bool:
        """True when every run draws the same examples (a fixed seed)."""
        return self.seed is not None

    def draw_seed(self) -> int:
        """The seed of one check run: the profile's, or a fresh random one."""
        if self.seed is not None:
            return self.seed
        return random.SystemRandom().randrange(2**32)

    def describe(self) -> str:
        """One line for reports: ``profile default: 10 drawn examples per property, seed 0``."""
        seed = f"seed {self.seed}" if self.seed is not None else "a random seed per check"
        db = f", example database {self.database}" if self.database else ""
        return f"profile {self.name}: {self.max_examples} drawn examples per property, {seed}{db}"


PROFILES: Mapping[str, KitProfile] = {
    "default": KitProfile("default", DEFAULT_EXAMPLES, DEFAULT_SEED),
    "deep": KitProfile("deep", DEEP_EXAMPLES, None),
}


@dataclass
class _Overrides:
    """What :func:`configure` set (None: not set; ``seed_set`` tells a random seed from an unset one)."""

    profile: str | None = None
    max_examples: int | None = None
    seed_set: bool = False
    seed: int | None = None
    database: str | None = None


_overrides = _Overrides()


def _parse_int(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _parse_seed(name: str, text: str) -> int | None:
    return None if text.strip().lower() in ("random", "none", "") else _parse_int(name, text)


def configure(
    *,
    profile: str | None = None,
    max_examples: int | None = None,
    seed: int | str | None = None,
    database: str | None = None,
    reset: bool = False,
) -> KitProfile:
    """Set the active profile for this process (overrides the environment); returns it.

    ``seed="random"`` asks for a fresh seed per check run. ``reset=True`` clears earlier calls first.
    """
    global _overrides
    if reset:
        _overrides = _Overrides()
    if profile is not None:
        if profile not in PROFILES:
            raise ValueError(f"unknown forwardkit profile {profile!r}; profiles are {sorted(PROFILES)}")
        _overrides.profile = profile
    if max_examples is not None:
        _overrides.max_examples = _parse_int("max_examples", str(max_examples))
    if seed is not None:
        _overrides.seed_set, _overrides.seed = True, _parse_seed("seed", str(seed))
    if database is not None:
        _overrides.database = database
    return active_profile()


def active_profile(environ: Mapping[str, str] | None = None) -> KitProfile:
    """The profile in force: :func:`configure`, else the environment, else ``default``."""
    env = os.environ if environ is None else environ
    name = _overrides.profile or env.get(ENV_PROFILE) or "default"
    if name not in PROFILES:
        raise ValueError(f"{ENV_PROFILE}={name!r} is not a forwardkit profile; profiles are {sorted(PROFILES)}")
    chosen = PROFILES[name]
    if _overrides.max_examples is not None:
        chosen = replace(chosen, max_examples=_overrides.max_examples)
    elif env.get(ENV_EXAMPLES):
        chosen = replace(chosen, max_examples=_parse_int(ENV_EXAMPLES, env[ENV_EXAMPLES]))
    if _overrides.seed_set:
        chosen = replace(chosen, seed=_overrides.seed)
    elif env.get(ENV_SEED) is not None:
        chosen = replace(chosen, seed=_parse_seed(ENV_SEED, env[ENV_SEED]))
    database = _overrides.database or env.get(ENV_DATABASE)
    if database:
        chosen = replace(chosen, database=database)
    return chosen


def replay_hint(check: str, component: str, seed: int, max_examples: int) -> str:
    """How to replay one check run exactly (the note the kit adds to a failure of drawn cases).

    ``component`` is written as given: ``"'token_mixer/attention'"`` for a registered one, or a class name.
    """
    return (
        f"forwardkit: {max_examples} drawn example(s) under seed {seed}; replay with "
        f"{ENV_SEED}={seed} {ENV_EXAMPLES}={max_examples} (pytest --forwardkit-seed {seed} "
        f"--forwardkit-examples {max_examples}), or in Python: "
        f"{check}({component}, seed={seed}, max_examples={max_examples})"
    )
