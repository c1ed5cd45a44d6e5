"""The README stays true: its module map matches the code, and its full programs type-check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import doubao_vision

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PACKAGE = Path(doubao_vision.__file__).parent


def _map() -> str:
    start = README.index("### Where things live")
    end = README.find("\n## ", start)
    return README[start : end if end != -1 else len(README)]


def test_module_map_names_every_module_and_no_other() -> None:
    """The "where things live" map lists each module of the package once, and nothing that is gone."""
    listed = re.findall(r"^- `([\w.]+\.py)`", _map(), flags=re.M)
    actual = sorted(path.name for path in PACKAGE.rglob("*.py") if path.name != "_version.py")
    assert sorted(listed) == actual


def _programs() -> list[str]:
    """The python blocks that are whole programs (they start with an import and run main)."""
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    return [b for b in blocks if b.startswith(("import ", "from ")) and "asyncio.run(main())" in b]


def test_readme_programs_pass_mypy_strict(tmp_path: Path) -> None:
    """The quickstart and the other whole programs in the README pass mypy --strict."""
    api = pytest.importorskip("mypy.api")
    programs = _programs()
    assert len(programs) >= 2
    paths = []
    for index, program in enumerate(programs):
        path = tmp_path / f"readme_{index}.py"
        path.write_text(program, encoding="utf-8")
        paths.append(str(path))
    out, err, status = api.run(
        [
            "--strict",
            "--warn-unreachable",
            "--ignore-missing-imports",  # pyautogui in the UI-TARS example
            "--no-incremental",
            "--cache-dir=/dev/null",
            *paths,
        ]
    )
    assert status == 0, out + err
