"""Generate the "Plugins" section of the documentation (run by mkdocs-gen-files at every build).

Every folder ``plugins/<slug>/`` becomes the page ``plugins/<slug>.md``: a header with the
distribution, the install command and the components the plugin registers (read from its light
registration module, so no torch and no model code is imported unless a Config lives with the model),
followed by the plugin's ``README.md``, its method card. ``plugins/index.md`` lists every plugin and the
section is added to the site navigation, so adding a plugin folder adds its page with no manual step.

Links in a README that point at files of the repository (code, figures, the spec card) cannot resolve
inside the site; figures are copied next to the page, every other relative link becomes plain text, so
that a plugin's README never breaks the strict build.

``FORWARDKIT_DOCS_PLUGINS`` may name another folder to read plugins from (the tests use it).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import mkdocs_gen_files
from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = Path(os.environ.get("FORWARDKIT_DOCS_PLUGINS") or ROOT / "plugins")
SECTION = "Plugins"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}

log = logging.getLogger("mkdocs.plugins.forwardkit.gen_plugin_pages")


def plugin_folders() -> list[Path]:
    """Every folder directly under ``plugins/`` (hidden and ``_private`` folders excluded)."""
    if not PLUGINS.is_dir():
        return []
    return sorted(p for p in PLUGINS.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def read_project(folder: Path) -> dict[str, Any]:
    """The ``[project]`` table of the plugin's pyproject.toml (empty when missing or unreadable)."""
    path = folder / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        log.info("%s: cannot read pyproject.toml: %s", folder.name, exc)
        return {}


def read_components(folder: Path, project: dict[str, Any]) -> tuple[list[Any], str | None]:
    """The components the plugin registers, by calling its hook with a recording registrar."""
    from forwardkit.registry import Registrar

    eps = project.get("entry-points", {}).get("forwardkit", {})
    if len(eps) != 1:
        return [], "no single `[project.entry-points.forwardkit]` entry in pyproject.toml"
    ((ep_name, module),) = eps.items()
    registrar = Registrar(ep_name, distribution=project.get("name"))
    sys.path.insert(0, str(folder))
    try:
        mod = importlib.import_module(module)
        mod.forwardkit_register(registrar)
    except Exception as exc:
        return [], f"reading the registrations failed: {type(exc).__name__}: {exc}"
    finally:
        sys.path.remove(str(folder))
    return registrar.staged, None


def config_rows(info: Any) -> list[dict[str, Any]] | None:
    """The config fields of one component as ``forwardkit show`` prints them (None when unavailable)."""
    try:
        from forwardkit.cli.render import component_details

        return component_details(info)["fields"]
    except Exception as exc:
        log.info("%s: config not documented: %s", info.qualname, exc)
        return None


def cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def paper_link(paper: Any) -> str:
    """The paper as a Markdown link (arXiv page, else its URL), or plain text."""
    if paper is None:
        return ""
    if paper.arxiv:
        return f"[{cell(paper.title)} (arXiv:{paper.arxiv})](https://arxiv.org/abs/{paper.arxiv})"
    if paper.url:
        return f"[{cell(paper.title)}]({paper.url})"
    return cell(paper.title)


def components_section(components: list[Any], problem: str | None) -> list[str]:
    lines = ["## Components", ""]
    if problem:
        lines += [f"!!! warning \"Registrations not read\"\n    {cell(problem)}", ""]
    if not components:
        lines += ["This plugin registers no components yet.", ""]
        return lines
    lines += ["| kind | name | summary | paper |", "|---|---|---|---|"]
    for c in components:
        lines.append(f"| {c.kind} | `{c.name}` | {cell(c.summary)} | {paper_link(c.paper)} |")
    lines.append("")
    for c in components:
        rows = config_rows(c)
        if rows is None:
            continue
        lines += [f"??? note \"`{c.qualname}` configuration\"", ""]
        lines += ["    | field | type | default | description |", "    |---|---|---|---|"]
        for r in rows:
            default = "(required)" if r["required"] else f"`{cell(repr(r['default']))}`"
            lines.append(f"    | `{r['name']}` | {cell(r['type'])} | {default} | {cell(r['description'])} |")
        lines.append("")
    return lines


_FENCE = re.compile(r"^\s*(```|~~~)")
_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)(\s+\"[^\"]*\")?\)")
_REFERENCE = re.compile(r"^\s{0,3}\[([^\]]+)\]:\s*<?([^\s>]+)>?")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def outside_fences(markdown: str) -> list[tuple[bool, str]]:
    """The lines of ``markdown``, each with whether it lies outside fenced code blocks."""
    lines, in_fence = [], False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            lines.append((False, line))
        else:
            lines.append((not in_fence, line))
    return lines


def split_title(markdown: str) -> tuple[str | None, str]:
    """The first level-1 heading outside code blocks, and the text without it."""
    lines = outside_fences(markdown)
    for i, (prose, line) in enumerate(lines):
        match = _HEADING.match(line) if prose else None
        if match and len(match.group(1)) == 1:
            return match.group(2), "\n".join(text for j, (_, text) in enumerate(lines) if j != i)
    return None, markdown


def rewrite_body(markdown: str, folder: Path, page_dir: str) -> str:
    """Put a README's headings under "Method card" and make its links valid inside the site."""
    lines = outside_fences(markdown)
    slugs = {slugify(m.group(2), "-") for prose, line in lines if prose and (m := _HEADING.match(line))}

    def fix(match: re.Match[str]) -> str:
        bang, text, target, title = match.group(1), match.group(2), match.group(3), match.group(4) or ""
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            return match.group(0)
        if target.startswith("#"):
            return match.group(0) if target[1:] in slugs else text
        path = (folder / target.split("#", 1)[0]).resolve()
        if bang and path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and path.is_relative_to(folder):
            rel = path.relative_to(folder).as_posix()
            with mkdocs_gen_files.open(f"{page_dir}/{rel}", "wb") as fh:
                fh.write(path.read_bytes())
            return f"{bang}[{text}]({Path(page_dir).name}/{rel}{title})"
        return text if bang else f"{text} (`{target}`)"

    # reference definitions that point into the repository are dropped, and their uses become text
    local_refs = {}
    for prose, line in lines:
        ref = _REFERENCE.match(line) if prose else None
        if ref and not re.match(r"^([a-z][a-z0-9+.-]*:|#)", ref.group(2), re.I):
            local_refs[ref.group(1).lower()] = ref.group(2)

    def fix_ref(match: re.Match[str]) -> str:
        text, key = match.group(1), (match.group(2) or match.group(1)).lower()
        return f"{text} (`{local_refs[key]}`)" if key in local_refs else match.group(0)

    out = []
    for prose, line in lines:
        if prose:
            ref = _REFERENCE.match(line)
            if ref and ref.group(1).lower() in local_refs:
                continue
            line = re.sub(r"^(#{2,5})(\s)", r"#\1\2", line)
            line = _LINK.sub(fix, line)
            if local_refs:
                line = re.sub(r"\[([^\]]+)\]\[([^\]]*)\]", fix_ref, line)
        out.append(line)
    return "\n".join(out) + "\n"


def plugin_page(folder: Path) -> tuple[str, dict[str, Any]]:
    """The Markdown page of one plugin folder, and a summary row for the index."""
    slug = folder.name
    project = read_project(folder)
    dist = project.get("name", f"forwardkit-{slug}")
    components, problem = read_components(folder, project) if project else ([], "no pyproject.toml yet")
    readme_path = folder / "README.md"
    readme = readme_path.read_text(encoding="utf-8") if readme_path.is_file() else ""
    heading, body = split_title(readme)
    title = heading or dist

    lines = [f"# {title}", ""]
    facts = [f"**Plugin** `{slug}`", f"**Distribution** `{dist}`"]
    if project.get("version"):
        facts.append(f"**Version** {project['version']}")
    lines += [" · ".join(facts), ""]
    if project.get("description"):
        lines += [cell(project["description"]), ""]
    lines += [
        "```bash",
        f'pip install "forwardkit[{slug}]"    # in a checkout of the repository: pip install -e plugins/{slug}',
        "```",
        "",
    ]
    deps = [d for d in project.get("dependencies", []) if not d.startswith("forwardkit") or d.startswith("forwardkit-")]
    if deps:
        lines += ["Dependencies besides the core: " + ", ".join(f"`{d}`" for d in deps) + ".", ""]
    lines += components_section(components, problem)
    if body.strip():
        lines += ["## Method card", "", "*From the plugin's `README.md`.*", ""]
        lines.append(rewrite_body(body, folder, f"plugins/{slug}"))
    else:
        lines += ["## Method card", "", f"`plugins/{slug}/README.md` is not written yet.", ""]
    papers = list(dict.fromkeys(paper_link(c.paper) for c in components if c.paper))
    row = {"slug": slug, "dist": dist, "summary": project.get("description", ""), "count": len(components),
           "papers": papers, "title": title}
    return "\n".join(lines), row


def index_page(rows: list[dict[str, Any]]) -> str:
    lines = [
        "# Plugins",
        "",
        "One page per folder under `plugins/` in the repository, generated at every docs build by",
        "`docs/gen_plugin_pages.py` from the plugin's `pyproject.toml`, its registration module and its",
        "`README.md` (the method card). Adding a plugin folder adds its page; there is nothing to edit here.",
        "",
        "Install one plugin with `pip install \"forwardkit[<slug>]\"`, or all of them with",
        "`pip install \"forwardkit[all]\"`.",
        "",
    ]
    if not rows:
        return "\n".join([*lines, "No plugin folders exist yet."]) + "\n"
    lines += ["| plugin | distribution | components | paper | summary |", "|---|---|---|---|---|"]
    for r in rows:
        papers = "; ".join(r["papers"])
        lines.append(
            f"| [{r['slug']}]({r['slug']}.md) | `{r['dist']}` | {r['count']} | {papers} | {cell(r['summary'])} |"
        )
    return "\n".join(lines) + "\n"


def add_to_nav(slugs: list[str]) -> None:
    """Fill the "Plugins" section of the configured nav with the generated pages."""
    nav = mkdocs_gen_files.config["nav"]
    if nav is None:
        return
    entries: list[Any] = ["plugins/index.md", *({slug: f"plugins/{slug}.md"} for slug in slugs)]
    for item in nav:
        if isinstance(item, dict) and SECTION in item:
            item[SECTION] = entries
            return
    nav.append({SECTION: entries})


def main() -> None:
    rows = []
    for folder in plugin_folders():
        page, row = plugin_page(folder)
        with mkdocs_gen_files.open(f"plugins/{folder.name}.md", "w") as fh:
            fh.write(page)
        rows.append(row)
    with mkdocs_gen_files.open("plugins/index.md", "w") as fh:
        fh.write(index_page(rows))
    add_to_nav([r["slug"] for r in rows])
    write_reproductions()
    write_benchmarks()


def write_reproductions() -> None:
    """The "Reproductions" page: every kept ``plugins/*/reports/results.json`` (see forwardkit reproduce)."""
    from forwardkit.reproduce.report import reproductions_page

    with mkdocs_gen_files.open("reproductions.md", "w") as fh:
        fh.write(reproductions_page(PLUGINS))
    nav = mkdocs_gen_files.config["nav"]
    if nav is not None and not any(isinstance(i, dict) and "Reproductions" in i for i in nav):
        nav.append({"Reproductions": "reproductions.md"})


BENCHMARKS = PLUGINS.parent / "benchmarks" / "results"


def benchmarks_page(results_dir: Path) -> str:
    """Markdown for the kept ``forwardkit bench`` results (``make bench`` writes them)."""
    lines = ["# Benchmarks", ""]
    found = False
    for label, folder in (("Token mixers", "mixers"), ("Channel mixers", "channel-mixers")):
        path = results_dir / folder / "results.json"
        if not path.is_file():
            continue
        found = True
        data = json.loads(path.read_text(encoding="utf-8"))
        st = data["settings"]
        lines += [f"## {label}", "",
                  f"Measured with `forwardkit bench {'mixers' if folder == 'mixers' else folder}` "
                  f"(`make bench`): batch {st['batch']}, C = {st['dim']}, {st['device']}, "
                  f"{st['workers']} worker(s) x {st['threads_per_worker']} thread(s), torch {st['torch']}. "
                  f"Timing: {st['timing_method']}. Memory: {st['memory_method']}.", ""]
        lines += [f"> {note}" for note in data.get("notes", [])] + [""]
        lines += ["| mixer | rank | N | params | MACs | fwd ms | fwd+bwd ms | tokens/s | peak MB |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in data["results"]:
            if r.get("status") != "ok":
                continue
            lines.append(f"| {r['name']} | {r['rank']} | {r['tokens']} | {r['params']:,} | {r['macs']:,} | "
                         f"{r['fwd_ms']:.3f} | {r['fwdbwd_ms']:.3f} | {r['tokens_per_s']:,.0f} | {r['peak_mb']:.1f} |")
        lines += ["", "Scaling exponents (least-squares slope of log time against log tokens):", "",
                  "| mixer | rank | sizes | fwd+bwd | fwd | MACs |", "|---|---|---|---|---|---|"]
        for e in data["exponents"]:
            fmt = [f"{e[k]:.2f}" if isinstance(e.get(k), int | float) else "-"
                   for k in ("fwdbwd_exponent", "fwd_exponent", "macs_exponent")]
            lines.append(f"| {e['name']} | {e['rank']} | {e['sizes']} | " + " | ".join(fmt) + " |")
        skipped = data.get("skipped", [])
        if skipped:
            lines += ["", "Skipped: " + "; ".join(f"{s.get('name')} rank {s.get('rank')} N={s.get('tokens')}: "
                                                  f"{s.get('reason')}" for s in skipped)]
        figure = results_dir / folder / "scaling.png"
        if figure.is_file():
            with mkdocs_gen_files.open(f"benchmarks/{folder}.png", "wb") as fh:
                fh.write(figure.read_bytes())
            lines += ["", f"![{label}: forward+backward time against tokens](benchmarks/{folder}.png)"]
        lines.append("")
    for section in (metaformer_speed_section, compile_section, kernels_section):
        part = section(results_dir)
        if part:
            found = True
            lines += [*part, ""]
    if not found:
        lines += ["No benchmark results are kept yet: run `make bench`."]
    return "\n".join(lines) + "\n"


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _shape(row: dict[str, Any]) -> str:
    return ", ".join(map(str, row["shape"]))


#: earlier runs of ``benchmarks/metaformer_speed.py`` shown beside the latest one, oldest first
SPEED_HISTORY = ("metaformer_speed_before.json", "metaformer_speed_rule.json")


def metaformer_speed_section(results_dir: Path) -> list[str]:
    """``benchmarks/metaformer_speed.py``: forwardkit's blocks and presets against the NCHW reference, with the
    ratios of the earlier runs kept beside it (:data:`SPEED_HISTORY`, one column each)."""
    data = _load(results_dir / "metaformer_speed.json")
    if data is None:
        return []
    history = [h for h in (_load(results_dir / name) for name in SPEED_HISTORY) if h is not None]
    old = [({(r["block"], tuple(r["shape"]), r["threads"]): r["ratio"] for r in h.get("blocks", [])},
            {(r["preset"], r["batch"], r["threads"]): r["ratio"] for r in h.get("presets", [])}) for h in history]
    st = data["settings"]
    earlier = "; ".join(f"{h.get('label', 'earlier')}: {h['worst_ratio']:.3f}" for h in history)
    choices = list(data.get("pointwise_choices", {}).values())
    lines = ["## MetaFormer blocks and presets against a reference", "",
             f"Measured with `benchmarks/metaformer_speed.py` (`make bench-metaformer`): {data['what']}; "
             f"{st['repeats']} repeats per block and shape, {st['model_repeats']} per preset and batch, "
             f"images of {st['image_size']} px; torch {data['torch']}, {data['cpu']}, {data['date']}. "
             f"Bar: {data['bar']}. Worst ratio: **{data['worst_ratio']:.3f}** ({data.get('label', 'latest')})"
             + (f"; earlier runs, {earlier}." if history else "."), ""]
    if choices:
        lines += [f"The projection kernels forwardkit measured in this run: {choices.count('conv1x1')} shapes on "
                  f"oneDNN's 1x1 conv, {choices.count('linear')} on sgemm.", ""]
    extra = "".join(f" {h.get('label', 'earlier')} |" for h in history)
    rule = "---|" * len(history)

    def cells(keyed: list[dict], key: tuple) -> str:
        return "".join(f" {k[key]:.3f} |" if key in k else " - |" for k in keyed)

    lines += ["| block | B, H, W, C | threads | ours ms | reference ms | ratio |" + extra,
              "|---|---|---|---|---|---|" + rule]
    for r in data["blocks"]:
        key = (r["block"], tuple(r["shape"]), r["threads"])
        lines.append(f"| {r['block']} | {_shape(r)} | {r['threads']} | {r['ours_ms']:.2f} | {r['reference_ms']:.2f} "
                     f"| {r['ratio']:.3f} |" + cells([o[0] for o in old], key))
    lines += ["", "| preset | batch | threads | ours ms | reference ms | ratio |" + extra,
              "|---|---|---|---|---|---|" + rule]
    for r in data["presets"]:
        key = (r["preset"], r["batch"], r["threads"])
        lines.append(f"| {r['preset']} | {r['batch']} | {r['threads']} | {r['ours_ms']:.1f} | {r['reference_ms']:.1f} "
                     f"| {r['ratio']:.3f} |" + cells([o[1] for o in old], key))
    return lines


def compile_section(results_dir: Path) -> list[str]:
    """``benchmarks/compile_speedup.py``: training steps with and without ``trainer.compile``."""
    data = _load(results_dir / "compile_speedup.json")
    if data is None:
        return []
    lines = ["## trainer.compile", "",
             f"Measured with `benchmarks/compile_speedup.py` (`make bench-compile`): {data['what']}; "
             f"{data['threads']} threads, torch {data['torch']}, {data['cpu']}, {data['date']}.", "",
             "| model | batch | eager ms/step | compiled ms/step | speed-up | compile s |", "|---|---|---|---|---|---|"]
    for name, r in data["models"].items():
        lines.append(f"| {name} | {r['batch_size']} | {r['eager_step_ms']:.1f} | {r['compiled_step_ms']:.1f} | "
                     f"{r['speedup']:.2f}x | {r['compile_s']:.1f} |")
    return lines


def kernels_section(results_dir: Path) -> list[str]:
    """``benchmarks/cpu_kernels.py``: the candidate kernels behind forwardkit.nn's CPU dispatch."""
    data = _load(results_dir / "cpu_kernels.json")
    if data is None:
        return []
    lines = ["## CPU kernels behind forwardkit.nn's choices", "",
             f"Measured with `benchmarks/cpu_kernels.py` (`make bench-kernels`): {data['what']}; torch "
             f"{data['torch']}, {data['cpu']}, {data['date']}. The faster pointwise kernel differs between "
             "processors (this table against the choices of the MetaFormer run above), so "
             "`forwardkit.nn.pointwise` measures both on each shape's first call; `GroupNorm1` uses the fused "
             "kernel measured here (see their docstrings).", "",
             "| piece | B, H, W, C | out | bias | threads | ms per candidate | fastest |",
             "|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        ms = ", ".join(f"{k} {v:.2f}" for k, v in r["ms"].items())
        piece = r["piece"] + (f" ({r['projection']})" if "projection" in r else "")
        lines.append(f"| {piece} | {_shape(r)} | {r.get('out_features', '')} | {r.get('bias', '')} | {r['threads']} "
                     f"| {ms} | {r['best']} |")
    return lines


def write_benchmarks() -> None:
    with mkdocs_gen_files.open("benchmarks.md", "w") as fh:
        fh.write(benchmarks_page(BENCHMARKS))
    nav = mkdocs_gen_files.config["nav"]
    if nav is not None and not any(isinstance(i, dict) and "Benchmarks" in i for i in nav):
        nav.append({"Benchmarks": "benchmarks.md"})


main()
