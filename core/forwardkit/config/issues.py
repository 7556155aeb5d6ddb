"""Pydantic errors as :class:`ConfigIssue` lists with full dotted field paths (torch-free)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from forwardkit.errors import ConfigIssue


def issues_from_validation(err: ValidationError) -> list[ConfigIssue]:
    """Flatten a pydantic error (with nested component errors) into issues with full dotted paths."""
    issues: list[ConfigIssue] = []
    for e in err.errors():
        issues.extend(_expand(e["type"], e["msg"], e.get("ctx") or {}, tuple(e["loc"])))
    return issues


def _expand(kind: str, msg: str, ctx: dict[str, Any], loc: tuple[Any, ...]) -> list[ConfigIssue]:
    if kind == "component_config":
        out: list[ConfigIssue] = []
        for inner in ctx.get("errors", []):
            out.extend(_expand(inner["type"], inner["msg"], inner.get("ctx") or {}, loc + tuple(inner["loc"])))
        return out
    allowed: list[str] = []
    if "allowed" in ctx:
        allowed = [str(a) for a in ctx["allowed"]]
    if kind in ("unknown_component", "plugin_error"):
        msg = str(ctx.get("message", msg))
        allowed = [] if "Did you mean" in msg or "Known" in msg else allowed
    path = ".".join(str(p) for p in loc)
    return [ConfigIssue(path, msg, allowed)]


def reraisable(error: ErrorDetails) -> InitErrorDetails:
    """An error of a caught ValidationError, as a line of a new one (type, message, context and path kept)."""
    ctx = dict(error.get("ctx") or {})
    ctx["message"] = error["msg"]
    return InitErrorDetails(type=PydanticCustomError(error["type"], "{message}", ctx), loc=error["loc"],
                            input=error.get("input"))
