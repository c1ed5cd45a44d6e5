"""The command line's --schema (answers read into a class) and --resize (images sized to budget)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doubao_vision.emulator import Emulator

from ._cli import acli, cli, make_photos
from ._cli import results as read_results
from .conftest import API_KEY

SEED = "doubao-seed-1-6-vision-250815"
FACTS = """
import dataclasses

@dataclasses.dataclass
class Facts:
    width: int
    height: int
    format: str
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with photos and a facts.py defining the class to read answers into."""
    make_photos(tmp_path / "photos", 3)
    (tmp_path / "facts.py").write_text(FACTS)
    return tmp_path


async def test_batch_schema_writes_the_parsed_object_into_each_row(
    project: Path, emulator: Emulator
) -> None:
    """batch --schema facts:Facts sends the schema and writes each answer's object as 'parsed'."""
    code, out = await acli(
        "--base-url", emulator.base_url, "batch", "photos/*.png", "-p", "Facts?",
        "--model", SEED, "--schema", "facts:Facts", "-o", "out.jsonl",
        cwd=project, DOUBAO_VISION_API_KEY=API_KEY,
    )  # fmt: skip
    assert code == 0, out
    rows = read_results(project / "out.jsonl")
    assert len(rows) == 3
    assert all(row["parsed"]["format"] == "png" and row["parsed"]["width"] > 0 for row in rows)
    assert all(row["params"]["schema"] == "facts:Facts" for row in rows)
    bodies = [r.body for r in emulator.requests if r.path.endswith("/chat/completions")]
    assert all(body["response_format"]["type"] == "json_schema" for body in bodies)


async def test_ask_schema_prints_the_object_as_json(project: Path, emulator: Emulator) -> None:
    """ask --schema prints the parsed object as one JSON line."""
    code, out = await acli(
        "--base-url", emulator.base_url, "ask", "photos/p00.png", "-p", "Facts?",
        "--model", SEED, "--schema", "facts:Facts",
        cwd=project, DOUBAO_VISION_API_KEY=API_KEY,
    )  # fmt: skip
    assert code == 0, out
    assert json.loads(out)["format"] == "png"


@pytest.mark.parametrize("spec", ["facts", "facts:Nope", "nowhere:Facts"])
def test_a_bad_schema_is_a_usage_error(project: Path, spec: str) -> None:
    """--schema that is not MODULE:CLASS, or cannot be imported, exits 2 before anything is sent."""
    done = cli("--emulator", "batch", "photos/*.png", "-p", "x", "--schema", spec, cwd=project)
    assert done.returncode == 2, done.stderr
    assert "--schema" in done.stderr


def test_resize_sends_images_within_the_budget(project: Path) -> None:
    """--resize downscales a large photo to detail low's budget before upload."""
    from PIL import Image

    Image.new("RGB", (4000, 3000), "gray").save(project / "big.jpg", quality=95)
    done = cli("--emulator", "ask", "big.jpg", "-p", "Size?", "--resize", cwd=project)
    assert done.returncode == 0, done.stderr
    width, height = (int(n) for n in done.stdout.split("jpeg ")[1].split(" ")[0].split("x"))
    assert width * height <= 1_048_576 and width / height == pytest.approx(4 / 3, rel=0.01)
