"""Generated text: blocks and quoted values are rewritten from kept JSON, and a stale page is caught."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from generated import fill_block, fill_values, has_block, resolve_pointer, sync_file  # noqa: E402

PAGE = """# A plugin

<!-- BEGIN generated: reproduction (make sync) -->
old text
<!-- END generated: reproduction -->

A speed-up of <!-- value: reports/speed.json#/speedup/batch~164 .2f -->9.99<!-- /value -->x and
<!-- value: reports/speed.json#/runs/1 d -->0<!-- /value --> runs.

```markdown
an example <!-- value: reports/missing.json#/x .2f -->1<!-- /value --> left alone
```
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "speed.json").write_text(json.dumps({"speedup": {"batch/64": 2.6149}, "runs": [3, 5]}))
    (tmp_path / "README.md").write_text(PAGE)
    return tmp_path


def test_blocks_are_replaced_whole():
    text = fill_block(PAGE, "reproduction", "new text\n")
    assert "new text\n<!-- END generated: reproduction -->" in text and "old text" not in text
    assert has_block(PAGE, "reproduction") and not has_block(PAGE, "papers")
    with pytest.raises(KeyError):
        fill_block(PAGE, "papers", "x")


def test_values_follow_json_pointers_and_formats(folder):
    problems: list[str] = []
    text = fill_values(PAGE, folder, problems, "README.md")
    assert "-->2.61<!-- /value -->x" in text and "-->5<!-- /value --> runs" in text
    assert "missing.json#/x .2f -->1<!--" in text and not problems  # fenced examples are not touched
    assert resolve_pointer({"a": [{"b/c": 1}]}, "/a/0/b~1c") == 1


def test_a_missing_key_or_file_is_a_problem_not_a_crash(folder):
    problems: list[str] = []
    fill_values("x <!-- value: reports/speed.json#/nope .2f -->1<!-- /value --> "
                "<!-- value: reports/none.json#/a -->1<!-- /value -->", folder, problems, "page")
    assert len(problems) == 2 and "KeyError" in problems[0] and "none.json" in problems[1]


def test_check_mode_reports_a_stale_page_and_leaves_it(folder):
    path = folder / "README.md"
    stale: list[Path] = []
    sync_file(path, lambda t: fill_values(t, folder, [], "README.md"), check=True, stale=stale)
    assert stale == [path] and path.read_text() == PAGE
    sync_file(path, lambda t: fill_values(t, folder, [], "README.md"), check=False, stale=[])
    again: list[Path] = []
    sync_file(path, lambda t: fill_values(t, folder, [], "README.md"), check=True, stale=again)
    assert again == [] and "2.61" in path.read_text()
