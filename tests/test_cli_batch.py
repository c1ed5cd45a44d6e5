"""`doubao-vision batch`, run as a real subprocess: results file, resume, progress, Ctrl-C."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from doubao_vision import MODEL_VISION_LITE, MODEL_VISION_PRO
from doubao_vision._samples import make_png
from doubao_vision.emulator import Emulator, Fault

from ._cli import CLI, SLOW_EMULATOR, WITHOUT_RICH, acli, clean_env, cli, in_pty, make_photos
from ._cli import results as read_results
from ._expect import answer
from .conftest import API_KEY


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    return make_photos(tmp_path / "photos")


@pytest.fixture
def slow_emulator() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_EMULATOR],
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(EMULATOR_KEY=API_KEY, EMULATOR_DELAY="0.15"),
    )
    assert proc.stdout is not None
    base_url = proc.stdout.readline().strip()
    try:
        assert base_url.startswith("http://127.0.0.1:")
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def many_photos(tmp_path: Path, count: int = 40) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(count):
        (folder / f"img{i:02d}.png").write_bytes(make_png(20, 20, seed=1000 + i))
    return folder


# -- what a run writes ---------------------------------------------------------------


def test_batch_reports_bad_paths_and_images_per_item(photos: Path, tmp_path: Path) -> None:
    """A missing path, a non-image and an empty glob are failed lines; the rest are answered."""
    (photos / "broken.png").write_bytes(b"not a picture at all")
    out = tmp_path / "results.jsonl"
    done = cli(
        "--emulator",
        "batch",
        str(photos),
        str(tmp_path / "missing.jpg"),
        str(tmp_path / "none-*.gif"),
        "-p",
        "Caption",
        "-o",
        str(out),
        "--concurrency",
        "4",
        "--rpm",
        "60000",
    )
    assert done.returncode == 1
    lines = read_results(out)
    assert len(lines) == 12 + 3
    by_image = {line["image"]: line for line in lines}
    for i in range(12):
        path = photos / f"p{i:02d}.png"
        line = by_image[str(path)]
        assert line["ok"] is True
        assert line["answer"] == answer("Caption", path.read_bytes())
        assert line["usage"]["total_tokens"] > 0
        assert line["request_id"]
    errors = {Path(k).name: v["error"]["type"] for k, v in by_image.items() if not v["ok"]}
    assert errors == {
        "broken.png": "UnsupportedImageFormatError",
        "missing.jpg": "ImageNotFoundError",
        "none-*.gif": "ImageNotFoundError",
    }
    assert "12 ok, 3 failed (ImageNotFoundError 2, UnsupportedImageFormatError 1)" in done.stdout
    assert "wall time" in done.stdout
    assert "tokens:" in done.stdout
    assert done.stderr == ""  # not a terminal: no progress at all


def test_rows_carry_what_was_asked_and_how_it_ended(photos: Path, tmp_path: Path) -> None:
    """Each row has the resolved path, prompt, model, the options and finish_reason."""
    out = tmp_path / "out.jsonl"
    done = cli(
        "--emulator", "batch", str(photos / "p0[01].png"), "-p", "Hi", "-o", str(out),
        "--model", MODEL_VISION_LITE, "--system", "Be brief.", "--temperature", "0.5",
        "--detail", "auto", "--json", "--max-tokens", "900",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    for row in read_results(out):
        assert row["path"] == str((photos / Path(row["image"]).name).resolve())
        assert row["prompt"] == "Hi"
        assert row["model"] == MODEL_VISION_LITE
        assert row["params"] == {
            "system": "Be brief.",
            "temperature": 0.5,
            "detail": "auto",
            "response_format": "json_object",
            "max_tokens": 900,
        }
        assert row["finish_reason"] == "stop"
        assert json.loads(row["answer"])["prompt"] == "Hi"  # json_object mode reached the server


def test_a_cut_answer_is_visible_in_the_row_and_the_summary(photos: Path, tmp_path: Path) -> None:
    """--max-tokens too small: rows say finish_reason length and the summary counts them."""
    out = tmp_path / "out.jsonl"
    done = cli("--emulator", "batch", str(photos / "p0[0-2].png"), "-p", "Hi", "-o", str(out),
               "--max-tokens", "2")  # fmt: skip
    assert done.returncode == 0, done.stdout
    rows = read_results(out)
    assert [row["finish_reason"] for row in rows] == ["length"] * 3
    assert all(row["answer"] == "prompt: Hi" for row in rows)
    assert '3 answer(s) cut short at the token limit (finish_reason "length")' in done.stdout


# -- resuming ------------------------------------------------------------------------


def test_rerun_skips_answered_images_and_retries_failed_ones(photos: Path, tmp_path: Path) -> None:
    """A second run asks only what failed; the latest line per image wins."""
    fixable = photos / "later.png"
    fixable.write_bytes(b"garbage")
    out = tmp_path / "out.jsonl"
    first = cli("--emulator", "batch", str(photos / "*.png"), "-p", "Hi", "-o", str(out))
    assert first.returncode == 1
    fixable.write_bytes(make_png(30, 30, seed=99))
    second = cli("--emulator", "batch", str(photos / "*.png"), "-p", "Hi", "-o", str(out))
    assert second.returncode == 0, second.stdout
    assert "1 ok, 0 failed, 12 skipped" in second.stdout
    lines = read_results(out)
    assert [line["ok"] for line in lines if line["image"] == str(fixable)] == [False, True]
    assert len(lines) == 14


def test_a_later_answer_supersedes_a_failure_and_compact_drops_it(
    photos: Path, tmp_path: Path
) -> None:
    """The summary counts superseded rows; --compact keeps the latest row per image and question."""
    fixable = photos / "later.png"
    fixable.write_bytes(b"garbage")
    out = tmp_path / "out.jsonl"
    argv = ["--emulator", "batch", str(photos / "*.png"), "-p", "Hi", "-o", str(out)]
    assert cli(*argv).returncode == 1
    fixable.write_bytes(make_png(30, 30, seed=99))
    second = cli(*argv)
    assert second.returncode == 0, second.stdout
    assert "1 older row(s) in" in second.stdout
    assert "superseded" in second.stdout
    compacted = cli("batch", "--compact", "-o", str(out))
    assert compacted.returncode == 0, compacted.stderr
    assert f"compacted {out}: 14 rows -> 13" in compacted.stdout
    lines = read_results(out)
    assert len(lines) == 13
    assert all(line["ok"] for line in lines)
    assert Counter(line["image"] for line in lines)[str(fixable)] == 1
    third = cli(*argv)
    assert "0 ok, 0 failed, 13 skipped" in third.stdout
    assert "superseded" not in third.stdout


def test_compact_after_a_run(photos: Path, tmp_path: Path) -> None:
    """--compact with images given rewrites the file once the run is done."""
    out = tmp_path / "out.jsonl"
    broken = photos / "p00.png"
    good = broken.read_bytes()
    broken.write_bytes(b"garbage")
    assert cli("--emulator", "batch", str(photos), "-p", "Hi", "-o", str(out)).returncode == 1
    broken.write_bytes(good)
    done = cli("--emulator", "batch", str(photos), "-p", "Hi", "-o", str(out), "--compact")
    assert done.returncode == 0, done.stdout
    assert f"compacted {out}: 13 rows -> 12" in done.stdout
    assert sorted(line["image"] for line in read_results(out)) == sorted(
        str(p) for p in photos.iterdir()
    )


def test_a_new_prompt_or_model_is_a_new_question(photos: Path, tmp_path: Path) -> None:
    """Answers are reused only for the same prompt, model and options."""
    out = tmp_path / "out.jsonl"
    images = str(photos / "p0[0-2].png")
    base = ["--emulator", "batch", images, "-o", str(out)]
    assert "3 ok, 0 failed, 0 skipped" in cli(*base, "-p", "Hi").stdout
    assert "0 ok, 0 failed, 3 skipped" in cli(*base, "-p", "Hi").stdout
    assert "3 ok, 0 failed, 0 skipped" in cli(*base, "-p", "What breed?").stdout
    assert (
        "3 ok, 0 failed, 0 skipped" in cli(*base, "-p", "Hi", "--model", MODEL_VISION_LITE).stdout
    )
    assert "3 ok, 0 failed, 0 skipped" in cli(*base, "-p", "Hi", "--max-tokens", "4").stdout
    assert "0 ok, 0 failed, 3 skipped" in cli(*base, "-p", "Hi", "--timeout", "30").stdout
    rows = read_results(out)
    assert len(rows) == 12
    assert {(row["prompt"], row["model"]) for row in rows} == {
        ("Hi", MODEL_VISION_PRO),
        ("What breed?", MODEL_VISION_PRO),
        ("Hi", MODEL_VISION_LITE),
    }
    for row in rows:
        assert row["answer"].startswith(f"prompt: {row['prompt']}")


def test_relative_and_absolute_paths_are_one_image(photos: Path, tmp_path: Path) -> None:
    """`photos/*` then `$PWD/photos/*` asks nothing twice."""
    out = tmp_path / "out.jsonl"
    first = cli("--emulator", "batch", "photos/*.png", "-p", "Hi", "-o", "out.jsonl", cwd=tmp_path)
    assert "12 ok, 0 failed, 0 skipped" in first.stdout
    second = cli("--emulator", "batch", str(photos / "*.png"), "-p", "Hi", "-o", str(out))
    assert "0 ok, 0 failed, 12 skipped" in second.stdout
    third = cli("--emulator", "batch", "./photos/../photos", "-p", "Hi", "-o", "out.jsonl",
                cwd=tmp_path)  # fmt: skip
    assert "0 ok, 0 failed, 12 skipped" in third.stdout
    assert len(read_results(out)) == 12


def test_torn_last_line_is_cut_off_on_resume(photos: Path, tmp_path: Path) -> None:
    """A results file ending in half a line (a crash mid-write) is repaired, not misread."""
    out = tmp_path / "out.jsonl"
    first = cli("--emulator", "batch", str(photos / "p0[0-2].png"), "-p", "Hi", "-o", str(out))
    assert first.returncode == 0, first.stdout
    with out.open("ab") as f:
        f.write(b'{"image": "' + str(photos / "p03.png").encode() + b'", "ok": tr')
    second = cli("--emulator", "batch", str(photos / "p0[0-4].png"), "-p", "Hi", "-o", str(out))
    assert second.returncode == 0, second.stdout
    assert "2 ok, 0 failed, 3 skipped" in second.stdout
    assert "torn last line" in second.stdout
    lines = read_results(out)  # every line parses
    assert Counter(line["image"] for line in lines) == {
        str(photos / f"p0{i}.png"): 1 for i in range(5)
    }


@pytest.mark.slow
def test_resume_after_kill_9_loses_and_duplicates_nothing(
    tmp_path: Path, slow_emulator: str
) -> None:
    """kill -9 mid-run, then rerun: every image answered exactly once, the file intact."""
    folder = many_photos(tmp_path)
    out = tmp_path / "out.jsonl"
    argv = [*CLI, "--base-url", slow_emulator, "batch", str(folder), "-p", "Q", "-o", str(out)]
    argv += ["--concurrency", "4"]
    env = clean_env(DOUBAO_VISION_API_KEY=API_KEY)
    victim = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= 8:
            break
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=10) == -signal.SIGKILL
    written = len(read_results(out))
    assert 8 <= written < 40
    rerun = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{40 - written} ok, 0 failed, {written} skipped" in rerun.stdout
    lines = read_results(out)
    assert all(line["ok"] for line in lines)
    assert Counter(line["image"] for line in lines) == {
        str(folder / f"img{i:02d}.png"): 1 for i in range(40)
    }
    for line in lines:
        assert line["answer"] == answer("Q", Path(line["image"]).read_bytes())


@pytest.mark.slow
def test_ctrl_c_says_what_was_saved_and_how_to_resume(tmp_path: Path, slow_emulator: str) -> None:
    """SIGINT mid-run: exit 130, no traceback, the count of saved answers and the way on."""
    folder = many_photos(tmp_path)
    out = tmp_path / "out.jsonl"
    argv = [*CLI, "--base-url", slow_emulator, "batch", str(folder), "-p", "Q", "-o", str(out)]
    argv += ["--concurrency", "4"]
    env = clean_env(DOUBAO_VISION_API_KEY=API_KEY)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= 4:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    text = stderr.decode()
    assert "Traceback" not in text
    saved = len(read_results(out))
    assert 4 <= saved < 40
    assert f"{saved} answers saved to {out}" in text
    assert "run the same command again to resume" in text
    rerun = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert f"{40 - saved} ok, 0 failed, {saved} skipped" in rerun.stdout


# -- inputs and stopping -------------------------------------------------------------


def test_per_image_prompts_from_a_jsonl_file(photos: Path, tmp_path: Path) -> None:
    """--input rows carry their own prompt; a row without one takes -p."""
    rows = [
        {"image": str(photos / "p00.png"), "prompt": "Is there a cat?"},
        {"image": str(photos / "p01.png"), "prompt": "What colour?"},
        {"image": str(photos / "p02.png")},
    ]
    listing = tmp_path / "todo.jsonl"
    listing.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out.jsonl"
    done = cli("--emulator", "batch", "--input", str(listing), "-p", "Default?", "-o", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    got = {Path(row["image"]).name: row for row in read_results(out)}
    for name, prompt in (("p00.png", "Is there a cat?"), ("p01.png", "What colour?"),
                         ("p02.png", "Default?")):  # fmt: skip
        assert got[name]["prompt"] == prompt
        assert got[name]["answer"] == answer(prompt, (photos / name).read_bytes())


def test_per_image_prompts_from_a_csv_file(photos: Path, tmp_path: Path) -> None:
    """A CSV with image and prompt columns works the same; the same image may be asked twice."""
    listing = tmp_path / "todo.csv"
    with listing.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "prompt"])
        writer.writerow([str(photos / "p00.png"), "First, question?"])
        writer.writerow([str(photos / "p00.png"), "Second question"])
        writer.writerow([str(photos / "p01.png"), "Third"])
    out = tmp_path / "out.jsonl"
    done = cli("--emulator", "batch", "--input", str(listing), "-o", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 ok, 0 failed, 0 skipped" in done.stdout
    asked = sorted((Path(row["image"]).name, row["answer"]) for row in read_results(out))
    assert asked == sorted(
        [
            ("p00.png", answer("First, question?", (photos / "p00.png").read_bytes())),
            ("p00.png", answer("Second question", (photos / "p00.png").read_bytes())),
            ("p01.png", answer("Third", (photos / "p01.png").read_bytes())),
        ]
    )


def test_an_input_row_without_a_prompt_needs_p(photos: Path, tmp_path: Path) -> None:
    """No -p and a row without a prompt: a usage error naming the row, nothing sent."""
    listing = tmp_path / "todo.jsonl"
    listing.write_text(json.dumps({"image": str(photos / "p00.png")}) + "\n")
    done = cli("--emulator", "batch", "--input", str(listing), "-o", str(tmp_path / "o.jsonl"))
    assert done.returncode == 2
    assert "p00.png" in done.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_fail_fast_stops_at_the_first_failure(photos: Path, tmp_path: Path) -> None:
    """--fail-fast: the first failure is written, the rest are not asked (and a rerun asks them)."""
    (photos / "a-broken.png").write_bytes(b"garbage")
    out = tmp_path / "out.jsonl"
    argv = ["--emulator", "batch", str(photos), "-p", "Hi", "-o", str(out), "--concurrency", "1"]
    done = cli(*argv, "--fail-fast")
    assert done.returncode == 1
    rows = read_results(out)
    assert [(Path(row["image"]).name, row["ok"]) for row in rows] == [("a-broken.png", False)]
    assert "0 ok, 1 failed (UnsupportedImageFormatError 1)" in done.stdout
    assert "12 not asked (--fail-fast stopped the run)" in done.stdout
    rerun = cli(*argv)
    assert "12 ok, 1 failed" in rerun.stdout


async def test_batch_call_options_reach_the_client(photos: Path, emulator: Emulator) -> None:
    """--max-retries 0: one attempt per image at a failing server, each a failed row."""
    emulator.script(*[Fault.error(500)] * 3)
    out = photos.parent / "out.jsonl"
    code, text = await acli(
        "--base-url", emulator.base_url, "batch", str(photos / "p0[0-2].png"), "-p", "Hi",
        "-o", str(out), "--max-retries", "0", "--timeout", "30",
        DOUBAO_VISION_API_KEY=API_KEY,
    )  # fmt: skip
    assert code == 1, text
    assert "0 ok, 3 failed (InternalServerError 3)" in text
    assert len([r for r in emulator.requests if r.method == "POST"]) == 3


# -- progress ------------------------------------------------------------------------


def test_progress_shows_on_a_terminal(photos: Path, tmp_path: Path) -> None:
    """On a terminal, batch draws progress (done, failed, rate, ETA) on stderr."""
    (photos / "bad.png").write_bytes(b"nope")
    argv = [*CLI, "--emulator", "batch", str(photos), "-p", "Hi", "-o", str(tmp_path / "a.jsonl")]
    code, terminal, stdout = in_pty(argv, tmp_path)
    assert code == 1
    assert "13/13" in terminal
    for word in ("done", "1 failed", "/s", "ETA"):
        assert word in terminal
    assert "12 ok, 1 failed" in stdout


def test_plain_progress_without_rich(photos: Path, tmp_path: Path) -> None:
    """Without rich, the progress is one plain line redrawn with carriage returns."""
    argv = [sys.executable, "-c", WITHOUT_RICH, "--emulator", "batch", str(photos)]
    argv += ["-p", "Hi", "-o", str(tmp_path / "b.jsonl")]
    code, terminal, stdout = in_pty(argv, tmp_path)
    assert code == 0
    assert "\r[" in terminal
    assert "12/12 done, 0 failed" in terminal
    assert "ETA 0:00:00" in terminal
    assert "12 ok, 0 failed" in stdout


def test_progress_can_be_turned_off_on_a_terminal(photos: Path, tmp_path: Path) -> None:
    """--progress off keeps a terminal quiet too."""
    argv = [*CLI, "--emulator", "batch", str(photos), "-p", "Hi", "-o", str(tmp_path / "c.jsonl")]
    code, terminal, _ = in_pty([*argv, "--progress", "off"], tmp_path)
    assert code == 0
    assert terminal == ""


def test_a_later_failure_does_not_undo_an_answer(photos: Path, tmp_path: Path) -> None:
    """An answered key stays answered even if a failed row for it comes later."""
    out = tmp_path / "out.jsonl"
    argv = ["--emulator", "batch", str(photos / "p0[0-1].png"), "-p", "Hi", "-o", str(out)]
    assert cli(*argv).returncode == 0
    first = read_results(out)[0]
    failed = {k: v for k, v in first.items() if k not in ("answer", "finish_reason", "usage")}
    failed.update(ok=False, error={"type": "APITimeoutError", "message": "x", "status_code": None})
    with out.open("a") as f:
        f.write(json.dumps(failed) + "\n")
    again = cli(*argv)
    assert "0 ok, 0 failed, 2 skipped" in again.stdout
    assert "1 older row(s)" in again.stdout
    compacted = cli("batch", "--compact", "-o", str(out))
    assert "3 rows -> 2" in compacted.stdout
    assert all(row["ok"] for row in read_results(out))


def test_rows_from_an_older_version_are_not_reused(photos: Path, tmp_path: Path) -> None:
    """A row without prompt and model cannot say what was asked: the image is asked again."""
    out = tmp_path / "out.jsonl"
    image = str(photos / "p00.png")
    out.write_text(json.dumps({"image": image, "answer": "old", "ok": True}) + "\n")
    done = cli("--emulator", "batch", image, "-p", "Hi", "-o", str(out))
    assert "1 ok, 0 failed, 0 skipped" in done.stdout
    assert "1 row(s) in" in done.stdout
    assert "older doubao-vision" in done.stdout
