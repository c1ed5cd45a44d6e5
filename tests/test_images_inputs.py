"""What users pass as images: URL schemes, file:// URLs, ~ paths, folders and
extensionless names refused clearly, async loading, and images checked at send time."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from doubao_vision._exceptions import (
    ImageDimensionsError,
    ImageError,
    ImageNotFoundError,
    ImageTooLargeError,
)
from doubao_vision._images import Image, to_image
from doubao_vision._samples import make_png, make_png_of_size

from .test_images import webp_vp8x


@pytest.mark.parametrize(
    "value", ["ftp://example.com/a.png", "s3://bucket/key.jpg", "gs://b/c.png", "sftp://h/x.png"]
)
def test_other_schemes_are_unsupported(value: str) -> None:
    """ftp://, s3:// and other schemes say "unsupported URL scheme", not "file not found"."""
    with pytest.raises(ImageError, match="unsupported URL scheme") as caught:
        to_image(value)
    assert not isinstance(caught.value, ImageNotFoundError)


def test_file_url_is_read(tmp_path: Path) -> None:
    """A file:// URL (percent-encoded, or with localhost) is read as the local file."""
    path = tmp_path / "my cat.png"
    path.write_bytes(make_png(20, 20, seed=3))
    for url in (path.as_uri(), "file://localhost" + path.as_uri()[len("file://") :]):
        image = to_image(url)
        assert (image.format, image.data) == ("png", path.read_bytes())


def test_tilde_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A path starting with ~ is read from the home directory."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "cat.png").write_bytes(make_png(20, 20))
    image = to_image("~/cat.png")
    assert (image.format, image.source) == ("png", "~/cat.png")


def test_folder_is_refused_clearly(tmp_path: Path) -> None:
    """A folder path says it is a directory, not an image file."""
    with pytest.raises(ImageNotFoundError, match="is a directory, not an image file"):
        to_image(str(tmp_path))


def test_extensionless_name_is_refused_clearly() -> None:
    """A str that names no file and has no image extension (a model id) says what it is not."""
    with pytest.raises(ImageNotFoundError, match="neither an image file nor an http"):
        to_image("doubao-1-5-vision-lite-250315")


def test_extensionless_image_file_is_read(tmp_path: Path) -> None:
    """An existing file without an extension is taken by its bytes."""
    path = tmp_path / "snapshot"
    path.write_bytes(make_png(30, 20))
    assert to_image(str(path)).format == "png"


@pytest.mark.parametrize(
    "url", ["data:text/plain;base64,aGVsbG8=", "data:application/pdf;base64,JVBERi0="]
)
def test_non_image_data_url_is_refused_clearly(url: str) -> None:
    """A data URL that is not an image says so, naming its media type."""
    with pytest.raises(ImageError, match="is not an image"):
        to_image(url)


async def test_aload_reads_in_a_worker_thread(tmp_path: Path) -> None:
    """Image.aload reads off the event loop and gives what from_path gives."""
    path = tmp_path / "a.png"
    path.write_bytes(make_png(25, 25, seed=7))
    loop_thread = threading.get_ident()
    seen: list[int] = []
    original = Image.from_path.__func__  # type: ignore[attr-defined]

    def spy(cls: type[Image], /, *args: object, **kwargs: object) -> Image:
        seen.append(threading.get_ident())
        return original(cls, *args, **kwargs)  # type: ignore[no-any-return]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Image, "from_path", classmethod(spy))
        image = await Image.aload(path)
    assert image == Image.from_path(path)
    assert seen and seen[0] != loop_thread
    with pytest.raises(ImageNotFoundError):
        await Image.aload(tmp_path / "missing.png")
    await asyncio.sleep(0)


def test_unchecked_oversize_image_is_kept_and_checked_later() -> None:
    """check=False keeps an over-10 MB or over-36 MP image; check() raises what the build would."""
    big = make_png_of_size(11 * 2**20)
    with pytest.raises(ImageTooLargeError):
        to_image(big)
    image = to_image(big, check=False)
    assert not image.within_limits
    with pytest.raises(ImageTooLargeError):
        image.check()
    huge = to_image(webp_vp8x(7000, 7000), check=False)
    assert (huge.width, huge.height, huge.within_limits) == (7000, 7000, False)
    with pytest.raises(ImageDimensionsError, match="36,000,000"):
        huge.check()


def test_unchecked_still_refuses_what_resizing_cannot_fix() -> None:
    """check=False still refuses a side of 14 px or less: no resizing makes it bigger."""
    with pytest.raises(ImageDimensionsError):
        to_image(make_png(10, 400), check=False)


def test_checked_image_passes_check() -> None:
    """check() on an image within the limits returns it."""
    image = to_image(make_png(20, 20))
    assert image.within_limits and image.check() is image
    remote = to_image("https://example.com/a.png")
    assert remote.within_limits and remote.check() is remote


def test_unchecked_big_file(tmp_path: Path) -> None:
    """from_path with check=False reads a file over 10 MB instead of refusing it."""
    path = tmp_path / "big.png"
    path.write_bytes(make_png_of_size(11 * 2**20))
    with pytest.raises(ImageTooLargeError):
        Image.from_path(path)
    assert Image.from_path(path, check=False).nbytes == path.stat().st_size


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_read_to_its_end(tmp_path: Path) -> None:
    """A path that is a pipe (written in pieces, its size unknown) gives the whole image, not its first piece."""
    data = make_png_of_size(200_000, seed=7)
    fifo = tmp_path / "camera.png"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as pipe:
            for start in range(0, len(data), 50_000):
                pipe.write(data[start : start + 50_000])
                pipe.flush()
                time.sleep(0.01)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        image = Image.from_path(fifo)
    finally:
        writer.join()
    assert image.data == data


def test_reading_images_leaves_no_file_open(tmp_path: Path) -> None:
    """Reading files, missing ones and folders included, closes every descriptor it opened."""
    path = tmp_path / "cat.png"
    path.write_bytes(make_png(20, 20))
    before = set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for _ in range(50):
        Image.from_path(path)
        with pytest.raises(ImageNotFoundError):
            Image.from_path(tmp_path)
        with pytest.raises(ImageNotFoundError):
            Image.from_path(tmp_path / "missing.png")
    if before is not None:
        assert set(os.listdir("/proc/self/fd")) == before
