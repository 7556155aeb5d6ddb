"""``forwardkit plugin new SLUG``: write a working plugin from the templates in ``templates/plugin``."""

from __future__ import annotations

import json
import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from forwardkit.errors import ForwardkitError

_SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def names_for(slug: str) -> dict[str, str]:
    """Every name derived from a slug: distribution, package, class prefix, mixer and callback names."""
    if not _SLUG.match(slug):
        raise ForwardkitError(
            f"plugin slug {slug!r} is not valid: use lowercase letters, digits and single dashes, "
            "starting with a letter (e.g. 'my-paper')"
        )
    under = slug.replace("-", "_")
    return {
        "slug": slug,
        "dist": f"forwardkit-{slug}",
        "package": f"forwardkit_{under}",
        "Class": "".join(part.capitalize() for part in slug.split("-")),
        "mixer_name": f"{under}_mixer",
        "callback_name": f"{under}_loss_ema",
    }


def scaffold_plugin(slug: str, *, parent: Path, title: str | None = None, arxiv: str | None = None) -> Path:
    """Create ``parent/slug`` with a plugin that installs, registers and passes the conformance kit: a token
    mixer, a callback, their tests, a reproduction spec and the method card's outline."""
    values = names_for(slug)
    values["title"] = title or f"The paper behind {slug}"
    values["title_repr"] = json.dumps(values["title"])
    # a JSON string without ASCII escapes is also a TOML basic string, whatever quotes the title holds
    values["description_toml"] = json.dumps(f"forwardkit plugin: {values['title']}", ensure_ascii=False)
    values["arxiv_repr"] = json.dumps(arxiv) if arxiv else "None"
    values["arxiv_line"] = f" (arXiv:{arxiv})" if arxiv else ""
    target = Path(parent) / slug
    if target.exists():
        raise ForwardkitError(f"{target} already exists; choose another --dir or slug (nothing was written)")
    root = files("forwardkit.cli").joinpath("templates/plugin")
    written: list[tuple[Path, str]] = []
    for source, rel in _walk(root, Path()):
        out = target / Path(str(rel).replace("__package__", values["package"])).with_suffix("")
        written.append((out, Template(source.read_text(encoding="utf-8")).substitute(values)))
    for path, text in written:  # render everything first, then write: a bad template writes nothing
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


def _walk(node: Traversable, rel: Path) -> list[tuple[Traversable, Path]]:
    out: list[tuple[Traversable, Path]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.is_dir():
            if child.name != "__pycache__":
                out.extend(_walk(child, rel / child.name))
        elif child.name.endswith(".tmpl"):
            out.append((child, rel / child.name))
    return out
