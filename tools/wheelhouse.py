"""Build the core ``forwardkit`` and every ``plugins/<slug>`` distribution as wheels into one folder.

``make wheelhouse`` runs this (into ``wheelhouse/``); outside the repository, in any environment::

    pip install --find-links wheelhouse "forwardkit[<slug>]"

then installs the core and that plugin (with the plugins it depends on, e.g. ``forwardkit-datasets``)
from the folder, and their other dependencies (torch, numpy, ...) from the package index.

Each project is copied without its build leftovers (``build/``, ``*.egg-info``, caches) into a
temporary folder and built there with ``python -m build --wheel --no-isolation``, so that a stale
``build/lib`` never ships a deleted module and nothing is written into the checkout. The build needs
``build``, ``setuptools`` and ``wheel`` in the running interpreter (the ``dev`` extra has them).

    python tools/wheelhouse.py                      # every distribution, into wheelhouse/
    python tools/wheelhouse.py --out /tmp/wh core datasets ibn-net
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = "core"
#: never copied into a build: build leftovers and caches
IGNORED = ("build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache", ".ruff_cache",
           ".hypothesis", "runs")
#: what the core's wheel is built from (the rest of the repository is not part of it)
CORE_FILES = ("pyproject.toml", "README.md", "core")


@dataclass(frozen=True)
class Project:
    """One distribution of the repository: ``core`` or a plugin slug, its folder and its name."""

    slug: str
    folder: Path
    name: str
    dependencies: tuple[str, ...]


def read_project(slug: str, folder: Path) -> Project:
    meta = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return Project(slug, folder, meta["name"], tuple(meta.get("dependencies", ())))


def projects(root: Path = ROOT) -> list[Project]:
    """The core first, then every ``plugins/<slug>`` with a pyproject.toml, sorted by slug."""
    plugins = sorted(p.parent for p in (root / "plugins").glob("*/pyproject.toml"))
    return [read_project(CORE, root), *(read_project(p.name, p) for p in plugins)]


def select(all_projects: Sequence[Project], slugs: Sequence[str]) -> list[Project]:
    """The projects named by ``slugs`` (``core`` or plugin slugs; none: all); unknown slugs exit 2."""
    if not slugs:
        return list(all_projects)
    by_slug = {p.slug: p for p in all_projects}
    unknown = [s for s in slugs if s not in by_slug]
    if unknown:
        raise SystemExit(f"error: no distribution {', '.join(unknown)} (have: {', '.join(by_slug)})")
    return [by_slug[s] for s in dict.fromkeys(slugs)]


def stage(project: Project, into: Path) -> Path:
    """Copy the files the wheel is built from into ``into``; the staged source folder."""
    ignore = shutil.ignore_patterns(*IGNORED)
    if project.slug != CORE:
        return Path(shutil.copytree(project.folder, into / project.slug, ignore=ignore))
    target = into / CORE
    target.mkdir(parents=True)
    for name in CORE_FILES:
        source = project.folder / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)
    return target


def build_wheel(project: Project, out: Path) -> Path:
    """Build ``project``'s wheel into ``out``; the wheel's path. Raises RuntimeError with the build log."""
    with tempfile.TemporaryDirectory(prefix=f"wheelhouse-{project.slug}-") as tmp:
        source = stage(project, Path(tmp))
        built = Path(tmp) / "dist"
        proc = subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(built), str(source)],
            capture_output=True, text=True, cwd=tmp,
        )
        wheels = sorted(built.glob("*.whl"))
        if proc.returncode != 0 or len(wheels) != 1:
            raise RuntimeError(f"building {project.name} ({project.folder}) failed:\n{proc.stdout[-3000:]}\n"
                               f"{proc.stderr[-3000:]}")
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob(f"{wheels[0].name.split('-')[0]}-*.whl"):
            old.unlink()  # one version of each distribution, so that pip never picks a stale one
        return Path(shutil.copy2(wheels[0], out / wheels[0].name))


def build_all(chosen: Sequence[Project], out: Path, *, jobs: int = 2) -> list[Path]:
    """Build the wheels of ``chosen`` into ``out`` (``jobs`` builds at a time); their paths, in order."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda p: build_wheel(p, out), chosen))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("slugs", nargs="*", help="'core' and/or plugin slugs (default: every distribution)")
    parser.add_argument("--out", type=Path, default=ROOT / "wheelhouse", help="folder of the wheels")
    parser.add_argument("--jobs", type=int, default=2, help="builds at a time")
    args = parser.parse_args(argv)
    chosen = select(projects(), args.slugs)
    try:
        wheels = build_all(chosen, args.out, jobs=args.jobs)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for wheel in wheels:
        print(f"built {wheel}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
