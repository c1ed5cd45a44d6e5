"""`doubao-vision ask`, run as a real subprocess against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from doubao_vision import MODEL_VISION_LITE
from doubao_vision.emulator import Emulator, Fault

from ._cli import acli, cli, make_photos
from ._expect import answer
from .conftest import API_KEY


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    return make_photos(tmp_path / "photos", 3)


def test_ask_against_the_embedded_emulator(photos: Path) -> None:
    """`ask IMAGE -p PROMPT --emulator` prints the answer about the image."""
    done = cli("ask", str(photos / "p00.png"), "-p", "What is this?", "--emulator")
    assert done.returncode == 0, done.stderr
    assert done.stdout == answer("What is this?", (photos / "p00.png").read_bytes()) + "\n"


def test_ask_streams_the_answer(photos: Path) -> None:
    """`ask --stream` prints the same answer, arriving piece by piece."""
    done = cli("--emulator", "ask", str(photos / "p01.png"), "-p", "Describe", "--stream")
    assert done.returncode == 0, done.stderr
    assert done.stdout == answer("Describe", (photos / "p01.png").read_bytes()) + "\n"


def test_ask_reports_a_bad_image(tmp_path: Path) -> None:
    """A missing image is a one-line typed error and exit code 1."""
    done = cli("--emulator", "ask", str(tmp_path / "nope.png"), "-p", "hi")
    assert done.returncode == 1
    assert done.stderr.startswith("error: ImageNotFoundError:")


def test_every_positional_is_an_image_and_the_prompt_is_text(photos: Path) -> None:
    """An extensionless image file is sent as an image; a prompt naming a .png stays text."""
    scan = photos / "scan"
    scan.write_bytes((photos / "p02.png").read_bytes())
    done = cli("--emulator", "ask", str(scan), str(photos / "p00.png"), "-p", "cat.png")
    assert done.returncode == 0, done.stderr
    data = [scan.read_bytes(), (photos / "p00.png").read_bytes()]
    assert done.stdout == answer("cat.png", *data) + "\n"


@pytest.mark.parametrize("image", ["ftp://example.invalid/cat.png", "data:text/plain;base64,aGk="])
def test_an_image_that_is_not_one_is_an_error_not_text(image: str) -> None:
    """A URL of another scheme, or a data URL that is no image, fails; it is never sent as text."""
    done = cli("--emulator", "ask", image, "-p", "hi")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("error: ")
    assert "Error: " in done.stderr


async def test_request_options_reach_the_server(photos: Path, emulator: Emulator) -> None:
    """--system, --max-tokens, --temperature, --json, --detail auto and --model are sent."""
    code, out = await acli(
        "--base-url", emulator.base_url, "ask", str(photos / "p00.png"), "-p", "Describe",
        "--system", "Be brief.", "--max-tokens", "500", "--temperature", "0.3", "--json",
        "--detail", "auto", "--model", MODEL_VISION_LITE,
        DOUBAO_VISION_API_KEY=API_KEY,
    )  # fmt: skip
    assert code == 0, out
    (sent,) = [r.body for r in emulator.requests if r.path.endswith("/chat/completions")]
    assert sent["model"] == MODEL_VISION_LITE
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    user_turn = sent["messages"][1]["content"]
    assert user_turn[0] == {"type": "text", "text": "Describe"}
    assert user_turn[1]["image_url"]["detail"] == "auto"
    assert sent["max_tokens"] == 500
    assert sent["temperature"] == 0.3
    assert sent["response_format"] == {"type": "json_object"}
    assert out.strip().startswith("{")  # the emulator answers json_object with an object


def test_a_cut_answer_says_so(photos: Path) -> None:
    """With --max-tokens too small, the answer ends at the limit and stderr says finish_reason length."""
    image = photos / "p00.png"
    for stream in ([], ["--stream"]):
        done = cli("--emulator", "ask", str(image), "-p", "Describe", "--max-tokens", "2", *stream)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "prompt: Describe\n"  # the first two of the answer's tokens
        assert 'finish_reason "length"' in done.stderr
        assert "--max-tokens" in done.stderr


async def test_max_retries_bounds_the_attempts(photos: Path, emulator: Emulator) -> None:
    """--max-retries 0 makes one attempt at a failing server; --max-retries 1 makes two."""
    for retries, attempts in (("0", 1), ("1", 2)):
        emulator.requests.clear()
        emulator.script(*[Fault.error(500)] * attempts)
        code, out = await acli(
            "--base-url", emulator.base_url, "ask", str(photos / "p00.png"), "-p", "hi",
            "--max-retries", retries, DOUBAO_VISION_API_KEY=API_KEY,
        )  # fmt: skip
        assert code == 1
        assert out.startswith("error: InternalServerError:")
        assert len([r for r in emulator.requests if r.method == "POST"]) == attempts


async def test_timeout_ends_a_stalled_call(photos: Path, emulator: Emulator) -> None:
    """--timeout bounds each attempt: a server that never answers is an APITimeoutError."""
    emulator.script(Fault.stall(60))
    code, out = await acli(
        "--base-url", emulator.base_url, "ask", str(photos / "p00.png"), "-p", "hi",
        "--timeout", "0.3", "--max-retries", "0", DOUBAO_VISION_API_KEY=API_KEY,
    )  # fmt: skip
    assert code == 1
    assert out.startswith("error: APITimeoutError:")
