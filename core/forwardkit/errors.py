"""Errors that forwardkit raises on purpose, each with a message a user can act on.

Nothing here imports torch or pydantic: the CLI formats these without loading models.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


class ForwardkitError(Exception):
    """Base class of every error forwardkit raises deliberately (CLI exit code 2)."""


def close_matches(word: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """The candidates closest to ``word``, ignoring case (``MLP`` finds ``mlp``, ``Lr`` finds ``lr``)."""
    by_fold: dict[str, str] = {}
    for c in candidates:
        by_fold.setdefault(str(c).casefold(), str(c))
    return [by_fold[m] for m in difflib.get_close_matches(str(word).casefold(), list(by_fold), n=n, cutoff=cutoff)]


class ComponentConflictError(ForwardkitError, KeyError):
    """A component name that two or more plugins registered: none of them is used until one is pinned."""

    def __init__(self, *, kind: str, name: str, plugins: Sequence[str]) -> None:
        self.kind, self.name, self.plugins = kind, name, list(plugins)
        choices = " or ".join(f"{kind}/{name}={p}" for p in self.plugins)
        super().__init__(
            f"{kind} {name!r} is registered by several plugins ({', '.join(self.plugins)}), so none of them is used. "
            f"Uninstall one, or pin the one you mean with the environment variable FORWARDKIT_PIN={choices} "
            "(comma-separated pins; see forwardkit doctor)")

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownComponentError(ForwardkitError, KeyError):
    """A component name that no installed plugin registered under that kind."""

    def __init__(
        self,
        *,
        kind: str,
        name: str,
        known: Iterable[str],
        other_kinds: Sequence[str] = (),
        install_hint: str | None = None,
    ) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        self.close = close_matches(name, self.known)
        self.other_kinds = list(other_kinds)
        self.install_hint = install_hint
        super().__init__(self.message())

    def message(self) -> str:
        parts = [f"{self.kind} {self.name!r} is not registered."]
        if self.close:
            parts.append("Did you mean " + " or ".join(repr(c) for c in self.close) + "?")
        if self.other_kinds:
            parts.append(f"{self.name!r} exists as kind: " + ", ".join(self.other_kinds) + ".")
        if self.install_hint:
            parts.append(f"It is provided by a plugin that is not installed: {self.install_hint}")
        if not (self.close or self.other_kinds or self.install_hint):
            shown = ", ".join(self.known[:20]) + (" ..." if len(self.known) > 20 else "")
            parts.append(f"Known {self.kind} names: {shown or '(none installed)'}.")
        return " ".join(parts)

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.message()


class UnknownKindError(ForwardkitError, ValueError):
    """A component kind that does not exist."""

    def __init__(self, kind: str, allowed: Sequence[str]) -> None:
        self.kind = kind
        self.allowed = list(allowed)
        close = close_matches(kind, self.allowed, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(f"unknown kind {kind!r}; allowed kinds: {', '.join(self.allowed)}.{hint}")


@dataclass
class ConfigIssue:
    """One problem in a configuration: where (a dotted field path), what, and what is allowed."""

    loc: str
    msg: str
    allowed: list[str] = field(default_factory=list)

    def render(self) -> str:
        text = f"{self.loc or '<root>'}: {self.msg}"
        if self.allowed:
            text += f" (allowed: {', '.join(self.allowed)})"
        return text


#: the most problems a ConfigError message lists (all of them stay in ``issues``)
MAX_SHOWN = 25


class ConfigError(ForwardkitError, ValueError):
    """A configuration that does not validate; ``issues`` lists every problem with its field path."""

    def __init__(self, issues: Sequence[ConfigIssue], *, source: str | None = None) -> None:
        self.issues = list(issues)
        self.source = source
        head = f"invalid configuration{f' in {source}' if source else ''}"
        lines = [f"{head} ({len(self.issues)} problem{'s' if len(self.issues) != 1 else ''}):"]
        lines += ["  " + issue.render()[:500] for issue in self.issues[:MAX_SHOWN]]
        if len(self.issues) > MAX_SHOWN:
            lines.append(f"  ... and {len(self.issues) - MAX_SHOWN} more")
        super().__init__("\n".join(lines))


class PluginError(ForwardkitError):
    """A plugin could not be loaded or registered something invalid."""
