"""The documentation: the site builds in strict mode, every plugin folder gets its page, and the
commands and files the guides show exist and behave as shown."""

from __future__ import annotations

import html
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
MKDOCS = Path(sys.executable).parent / "mkdocs"
SNIPPETS = ROOT / "docs" / "snippets"
# Silence the banners that mkdocs-material and its neighbours print about MkDocs 2.0.
QUIET = {"NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}


def plugin_folders(parent: Path) -> list[Path]:
    """Folders that get a page: every folder directly under plugins/ except hidden and _private ones."""
    return sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def page_text(page: Path) -> str:
    """The text of a built page, without tags (code is split into highlighted spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def build_site(site_dir: Path, **env: str) -> subprocess.CompletedProcess:
    assert MKDOCS.exists(), f"{MKDOCS} is missing: install the dev extra (make setup)"
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT,
        env={**os.environ, **QUIET, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    result = build_site(site_dir)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return site_dir


def test_docs_build_strict(site: Path) -> None:
    for page in ("index", "concepts", "composing", "writing-a-plugin", "conformance", "cli"):
        assert (site / page / "index.html").is_file() if page != "index" else (site / "index.html").is_file()
    cli_page = (site / "cli" / "index.html").read_text()
    assert "forwardkit validate" in cli_page and "forwardkit plugin new" in cli_page  # mkdocs-click ran
    assert "forwardkit.registry.Registry" in (site / "api" / "registry" / "index.html").read_text()


def test_generated_measurement_pages(site: Path) -> None:
    """Benchmarks (from benchmarks/results/, kept by `make bench`) and Reproductions (plugins/*/reports)."""
    bench = (site / "benchmarks" / "index.html").read_text()
    kept = ROOT / "benchmarks" / "results" / "mixers" / "results.json"
    if kept.is_file():
        assert "Scaling exponents" in bench and "attention" in bench
        assert (site / "benchmarks" / "mixers.png").is_file()
    else:
        assert "make bench" in bench
    assert (site / "reproductions" / "index.html").is_file()


def test_every_plugin_folder_gets_a_page(site: Path) -> None:
    index = (site / "plugins" / "index.html").read_text()
    for folder in plugin_folders(ROOT / "plugins"):
        page = site / "plugins" / folder.name / "index.html"
        assert page.is_file(), f"no docs page generated for plugins/{folder.name}"
        assert f'pip install "forwardkit[{folder.name}]"' in page_text(page)
        assert f"{folder.name}/" in index, f"plugins/index.md does not link plugins/{folder.name}"


# 1x1 transparent PNG
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def test_a_new_plugin_folder_gets_a_page_without_breaking_the_strict_build(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    fake = plugins / "docs-fake"
    (fake / "forwardkit_docs_fake").mkdir(parents=True)
    (fake / "figures").mkdir()
    (fake / "figures" / "curve.png").write_bytes(_PNG)
    (fake / "pyproject.toml").write_text(
        '[project]\nname = "forwardkit-docs-fake"\nversion = "0.0.1"\ndescription = "a fake plugin"\n'
        'dependencies = ["forwardkit", "numpy"]\n'
        '[project.entry-points.forwardkit]\ndocs-fake = "forwardkit_docs_fake.plugin"\n'
    )
    (fake / "forwardkit_docs_fake" / "__init__.py").write_text("")
    (fake / "forwardkit_docs_fake" / "plugin.py").write_text(
        "def forwardkit_register(registry):\n"
        "    registry.add('token_mixer', 'docs_fake_mixer', target='forwardkit.builtin.mixers:Identity',\n"
        "                 config='forwardkit.builtin.config:IdentityConfig', summary='a fake | mixer',\n"
        "                 paper={'title': 'A Fake Paper', 'arxiv': '2401.00002'})\n"
    )
    (fake / "README.md").write_text(
        "# forwardkit-docs-fake\n\nSee [the mixer](forwardkit_docs_fake/plugin.py), [the card](../../papers/x.md),\n"
        "[results](#results), [nowhere](#no-such-heading) and <https://example.org>.\n\n"
        "![curves](figures/curve.png)\n\n## Results\n\n```bash\n# a comment, not a heading\n"
        "[not a link](nowhere.md)\n```\n\nSee the [spec card][card] and [arXiv][paper].\n\n"
        "[card]: ../../papers/docs-fake.md\n[paper]: https://arxiv.org/abs/2401.00002\n"
    )
    (plugins / "half-written").mkdir()  # no pyproject.toml, no README yet: still a page
    (plugins / ".hidden").mkdir()

    site_dir = tmp_path / "site"
    result = build_site(site_dir, FORWARDKIT_DOCS_PLUGINS=str(plugins))
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    built = site_dir / "plugins" / "docs-fake" / "index.html"
    text = page_text(built)
    assert "docs_fake_mixer" in text and "a fake | mixer" in text and "numpy" in text
    assert "the mixer (forwardkit_docs_fake/plugin.py)" in text  # a link to code became text
    assert "spec card (../../papers/docs-fake.md)" in text  # so did a reference-style one
    assert 'href="https://arxiv.org/abs/2401.00002"' in built.read_text()
    assert (site_dir / "plugins" / "docs-fake" / "figures" / "curve.png").is_file()
    assert (site_dir / "plugins" / "half-written" / "index.html").is_file()
    assert not (site_dir / "plugins" / ".hidden").exists()
    index = (site_dir / "plugins" / "index.html").read_text()
    assert "docs-fake/" in index and "half-written/" in index


# ---- the commands the guides show exist ------------------------------------------------------------
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
_SHELLS = {"bash", "sh", "shell", "console", "zsh"}
# In shell blocks a command starts a line or follows && | ;, elsewhere (text blocks) it follows a "$ " prompt.
_COMMAND = re.compile(r"(?:^|[;&|]\s*|\$\s+)(forwardkit\s+[a-z].*)$", re.M)
_PROMPTED = re.compile(r"\$\s+(forwardkit\s+[a-z].*)$", re.M)
DOC_FILES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def cli_invocations(path: Path) -> list[list[str]]:
    """The argument lists of every ``forwardkit <sub> ...`` command line in the file's code blocks."""
    found = []
    for lang, block in _FENCE.findall(path.read_text(encoding="utf-8")):
        for match in (_COMMAND if lang in _SHELLS else _PROMPTED).finditer(block):
            words = shlex.split(match.group(1), comments=True)
            for i, word in enumerate(words):
                if word in ("&&", "||", "|", ";"):
                    words = words[:i]
                    break
            found.append(words[1:])
    return found


def check_invocation(args: list[str]) -> str | None:
    """None when ``forwardkit ARGS`` names existing (sub)commands and parses; else the problem."""
    from forwardkit.cli.main import cli

    command: click.Command = cli
    name = "forwardkit"
    while isinstance(command, click.Group):
        if not args or args[0] not in command.commands:
            return f"{name} {args[0] if args else ''}: no such subcommand (have: {', '.join(sorted(command.commands))})"
        name, command, args = f"{name} {args[0]}", command.commands[args[0]], args[1:]
    try:
        command.make_context(name, list(args))
    except click.exceptions.Exit:  # --help, --version
        pass
    except click.UsageError as exc:
        return f"{name} {' '.join(args)}: {exc.format_message()}"
    return None


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_use_only_existing_cli_subcommands(path: Path) -> None:
    problems = [p for args in cli_invocations(path) if (p := check_invocation(args))]
    assert not problems, "\n".join(problems)


def test_readme_uses_the_cli_and_make_test() -> None:
    readme = (ROOT / "README.md").read_text()
    assert cli_invocations(ROOT / "README.md"), "the README's code blocks show no forwardkit command"
    assert re.search(r"^make test\b", readme, re.M), "the README's test command must be `make test`"


# ---- the example files the guides include behave as shown ----------------------------------------
def _validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "forwardkit", "validate", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_yaml_example_validates() -> None:
    result = _validate(SNIPPETS / "metaformer-per-stage.yaml")
    assert result.returncode == 0, result.stderr


def test_the_bad_yaml_example_fails_with_the_field_paths_shown_in_composing_md() -> None:
    result = _validate(SNIPPETS / "bad-experiment.yaml")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    shown = (ROOT / "docs" / "composing.md").read_text()
    paths = re.findall(r"^  (\S+): ", result.stderr, re.M)
    assert len(paths) >= 4
    missing = [p for p in paths if f"  {p}: " not in shown]
    assert not missing, f"docs/composing.md does not show the errors at {missing}; update it from:\n{result.stderr}"


# ---- the API reference covers the core -------------------------------------------------------------
def test_api_reference_documents_every_core_module() -> None:
    """Each module of core/forwardkit has a ``::: module`` block in docs/api/ (the CLI has docs/cli.md)."""
    pages = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs" / "api").glob("*.md"))
    package = ROOT / "core" / "forwardkit"
    missing = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        dotted = ".".join(parts)
        if rel.name in ("__init__", "__main__") or parts[:2] == ("forwardkit", "cli") or "templates" in parts:
            continue
        if not re.search(rf"^::: {re.escape(dotted)}\s*$", pages, re.M):
            missing.append(dotted)
    assert not missing, f"add a '::: module' block to the matching page in docs/api/ for: {', '.join(missing)}"


def test_builtin_page_lists_every_builtin_component() -> None:
    from forwardkit.registry import Registry

    page = (ROOT / "docs" / "api" / "builtin.md").read_text(encoding="utf-8")
    registry = Registry.discover(entry_points=False)
    missing = [c.qualname for c in registry.components() if f"`{c.name}`" not in page]
    assert not missing, f"docs/api/builtin.md does not list: {', '.join(missing)}"
