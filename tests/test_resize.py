"""Resizing to the model's pixel budget (the images extra): sizes within and near the
budget, EXIF orientation, alpha, byte-identical images that fit, oversize images made
sendable, the work kept off the event loop, and a resized request sent to the emulator."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Iterator

import pytest

import doubao_vision as dv
from doubao_vision._body import encode_body
from doubao_vision._facts import (
    HIGH_DETAIL_MAX_PIXELS,
    LOW_DETAIL_MAX_PIXELS,
    MAX_IMAGE_BYTES,
    MAX_PIXELS,
    MODEL_VISION_PRO,
)
from doubao_vision._images import Image
from doubao_vision._prepare import ImagePool, prepare_images
from doubao_vision._resize import resize_image, target_size

pytest.importorskip("PIL")
from PIL import Image as PILImage


def _photo(width: int, height: int, *, sigma: float = 60) -> PILImage.Image:
    """A photo-like picture: per-channel gradients under noise (it compresses like a photo)."""
    across = PILImage.linear_gradient("L").resize((width, height))
    noise = PILImage.effect_noise((width, height), sigma)
    return PILImage.merge("RGB", (across, noise, across.transpose(PILImage.Transpose.ROTATE_180)))


def _jpeg(image: PILImage.Image, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, **options)
    return out.getvalue()


def _png(image: PILImage.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


@pytest.fixture(scope="module")
def photo_12mp() -> bytes:
    """A 4000x3000 (12 MP) JPEG photo, several MB, as a phone takes them."""
    return _jpeg(_photo(4000, 3000))


@pytest.fixture
def pool() -> Iterator[ImagePool]:
    images = ImagePool(max_workers=2)
    yield images
    images.close()


def _opened(image: Image) -> PILImage.Image:
    return PILImage.open(io.BytesIO(image.data or b""))


def _request(*images: Image, detail: str | None = None, **limit: int) -> dv.ChatRequest:
    pixel_limit = dv.ImagePixelLimit(**limit) if limit else None
    parts: list[dv.ContentPart] = [dv.TextPart("What is in these images?")]
    parts += [dv.ImagePart(dv.ImageURL(i, detail, pixel_limit)) for i in images]  # type: ignore[arg-type]
    return dv.ChatRequest(model=MODEL_VISION_PRO, messages=[dv.UserMessage(parts)])


def _images_of(request: dv.ChatRequest) -> list[Image]:
    found = []
    for message in request.messages:
        assert isinstance(message, dv.UserMessage) and not isinstance(message.content, str)
        for part in message.content:
            if isinstance(part, dv.ImagePart) and isinstance(part.image_url.url, Image):
                found.append(part.image_url.url)
    return found


# -- sizes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "budget"),
    [(4000, 3000, 1_048_576), (3000, 4000, 4_014_080), (100_000, 20, 50_000), (1234, 5, 225)],
)
def test_target_size_fits_and_keeps_aspect(width: int, height: int, budget: int) -> None:
    """target_size fits the budget, keeps the aspect ratio, and keeps both sides above 14 px."""
    w, h = target_size(width, height, budget)
    assert w * h <= budget and w > 14 and h > 14
    if min(w, h) > 100:
        assert abs(w / h - width / height) < 0.01 * width / height
        assert w * h > 0.98 * budget


@pytest.mark.parametrize("budget", [LOW_DETAIL_MAX_PIXELS, HIGH_DETAIL_MAX_PIXELS, 500_000])
def test_12mp_photo_resized_to_budget(photo_12mp: bytes, budget: int) -> None:
    """A 12 MP JPEG comes out as a JPEG within the budget and within 2 % of it, aspect kept."""
    image = Image.from_bytes(photo_12mp, name="phone.jpg")
    small = image.resized(budget)
    assert small.format == "jpeg" and small.source == "phone.jpg"
    assert small.width is not None and small.height is not None
    assert 0.98 * budget <= small.width * small.height <= budget
    assert abs(small.width / small.height - 4 / 3) < 0.01
    assert small.nbytes < image.nbytes / 4
    with _opened(small) as opened:
        assert opened.size == (small.width, small.height)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_photo_comes_out_upright(orientation: int) -> None:
    """The EXIF orientation is applied before resizing: the picture comes out upright."""
    stored = PILImage.new("RGB", (1200, 800), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 300, 200))  # a red block at the stored top-left
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    image = Image.from_bytes(_jpeg(stored, exif=exif.tobytes()))
    small = image.resized(96_000)
    with _opened(small) as opened:
        upright = opened.convert("RGB")
        assert opened.getexif().get(0x0112, 1) == 1
    w, h = upright.size
    assert (w > h) == (orientation == 3) and w * h <= 96_000
    # Where the stored top-left corner is shown once the orientation is applied.
    corner = {3: (w - 5, h - 5), 6: (w - 5, 5), 8: (5, h - 5)}[orientation]
    r, _, b = upright.getpixel(corner)  # type: ignore[misc]
    assert r > 200 and b < 60
    r, _, b = upright.getpixel((w // 2, h // 2))  # type: ignore[misc]
    assert b > 200 and r < 60


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_alpha_survives(fmt: str) -> None:
    """A transparent PNG or WebP stays transparent, as PNG or WebP."""
    picture = _photo(2000, 1500).convert("RGBA")
    picture.paste((0, 0, 0, 0), (0, 0, 1000, 1500))  # the left half fully transparent
    out = io.BytesIO()
    picture.save(out, fmt)
    small = Image.from_bytes(out.getvalue()).resized(300_000)
    assert small.format == fmt.lower()
    with _opened(small) as opened:
        assert opened.mode in ("RGBA", "LA")
        assert opened.getpixel((5, opened.height // 2))[-1] == 0  # type: ignore[index]
        assert opened.getpixel((opened.width - 5, opened.height // 2))[-1] == 255  # type: ignore[index]


def test_line_art_stays_png_and_photos_become_jpeg() -> None:
    """A lossless source with few colours stays PNG; a photo-like PNG becomes JPEG."""
    drawing = PILImage.new("RGB", (3000, 2000), "white")
    drawing.paste((0, 0, 0), (100, 100, 2900, 140))
    assert Image.from_bytes(_png(drawing)).resized(500_000).format == "png"
    assert Image.from_bytes(_png(_photo(1500, 1000))).resized(500_000).format == "jpeg"


def test_explicit_format_and_quality() -> None:
    """format= re-encodes in that format; a lower quality gives fewer bytes."""
    image = Image.from_bytes(_jpeg(_photo(1600, 1200)))
    webp = image.resized(400_000, format="webp")
    assert webp.format == "webp" and webp.width * webp.height <= 400_000  # type: ignore[operator]
    assert image.resized(400_000, quality=40).nbytes < image.resized(400_000, quality=90).nbytes


def test_fitting_image_is_returned_byte_identical(photo_12mp: bytes) -> None:
    """An image within budget and under 10 MB comes back as itself; it is never upscaled."""
    image = Image.from_bytes(_jpeg(_photo(800, 600)))
    assert image.resized(1_048_576) is image
    png = Image.from_bytes(_png(_photo(100, 80)))
    converted = png.resized(1_048_576, format="jpeg")
    assert (converted.format, converted.width, converted.height) == ("jpeg", 100, 80)


def test_bad_arguments() -> None:
    """A remote image, a budget under 15x15, an unknown format or quality are ImageErrors."""
    image = Image.from_bytes(_jpeg(_photo(100, 100)))
    with pytest.raises(dv.ImageError, match="remote"):
        Image.from_url("https://example.com/a.png").resized(1000)
    with pytest.raises(dv.ImageError, match="at least 225"):
        image.resized(100)
    with pytest.raises(dv.ImageError, match="format"):
        image.resized(1000, format="gif")
    with pytest.raises(dv.ImageError, match="quality"):
        image.resized(1000, quality=0)


def test_undecodable_bytes_are_an_image_error() -> None:
    """Bytes whose header reads but whose body Pillow cannot decode raise an ImageError."""
    head = _jpeg(_photo(2000, 1500))[:2000]
    image = Image.from_bytes(head)
    with pytest.raises(dv.ImageError, match="cannot be decoded"):
        image.resized(100_000)


def test_heic_resized() -> None:
    """An HEIC photo (pillow-heif) is resized and re-encoded as JPEG."""
    pillow_heif = pytest.importorskip("pillow_heif")
    out = io.BytesIO()
    pillow_heif.from_pillow(_photo(900, 600)).save(out, format="HEIF", quality=50)
    image = Image.from_bytes(out.getvalue())
    small = image.resized(200_000)
    assert small.format == "jpeg" and 0.98 * 2e5 <= small.width * small.height <= 2e5  # type: ignore[operator]


def test_without_pillow_the_error_names_the_extra() -> None:
    """Without Pillow, resizing raises ImportError naming the images extra; the rest works."""
    code = (
        "import sys; sys.modules['PIL'] = None\n"
        "import doubao_vision as dv\n"
        "from doubao_vision._samples import make_png\n"
        "image = dv.Image.from_bytes(make_png(40, 40))\n"
        "assert image.resized(5000) is image\n"  # fits: Pillow is not even needed
        "try:\n"
        "    image.resized(400)\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'doubao-vision[images]'" in done.stdout


def test_import_does_not_import_pillow() -> None:
    """import doubao_vision never imports PIL."""
    code = "import sys, doubao_vision; print('PIL' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# -- prepare_images ----------------------------------------------------------------------


async def test_prepare_resizes_to_each_images_budget(photo_12mp: bytes, pool: ImagePool) -> None:
    """Each image is resized to what its detail or image_pixel_limit implies."""
    image = Image.from_bytes(photo_12mp)
    for request, budget in [
        (_request(image), LOW_DETAIL_MAX_PIXELS),
        (_request(image, detail="high"), HIGH_DETAIL_MAX_PIXELS),
        (_request(image, detail="high", max_pixels=300_000), 300_000),
    ]:
        prepared = await prepare_images(request, resize=True, pool=pool)
        (small,) = _images_of(prepared)
        assert 0.98 * budget <= small.width * small.height <= budget  # type: ignore[operator]
        assert _images_of(request)[0] is image


async def test_prepare_leaves_fitting_images_byte_identical(pool: ImagePool) -> None:
    """With resizing on, an image within budget is the same object and the same body bytes."""
    image = Image.from_bytes(_jpeg(_photo(900, 700)))
    request = _request(image)
    prepared = await prepare_images(request, resize=True, pool=pool)
    assert prepared is request and _images_of(prepared)[0] is image
    body = encode_body(prepared.to_payload(stream=False))
    raw = body if isinstance(body, bytes) else body.decode().encode()
    assert base64.b64encode(image.data or b"") in raw


async def test_oversize_images_sendable_only_with_resizing(pool: ImagePool) -> None:
    """Over 10 MB or over 36 MP: refused before sending without resizing, made sendable with it."""
    noisy = _png(PILImage.frombytes("RGB", (2000, 2000), os.urandom(12_000_000)))  # 12 MB
    assert len(noisy) > MAX_IMAGE_BYTES
    huge = _jpeg(PILImage.new("RGB", (7000, 6000), "gray"))  # 42 MP, a small file
    for data, error in [(noisy, dv.ImageTooLargeError), (huge, dv.ImageDimensionsError)]:
        built = dv.user("What?", data)  # limits are checked (or resized) at send time
        with pytest.raises(error):
            await prepare_images(
                dv.ChatRequest(model=MODEL_VISION_PRO, messages=[built]), resize=False
            )
        image = Image.from_bytes(data, check=False)
        request = _request(image)
        with pytest.raises(error):
            await prepare_images(request, resize=False, pool=pool)
        (sendable,) = _images_of(await prepare_images(request, resize=True, pool=pool))
        assert sendable.within_limits and sendable.check() is sendable
        assert sendable.width * sendable.height <= LOW_DETAIL_MAX_PIXELS  # type: ignore[operator]
        assert sendable.nbytes <= MAX_IMAGE_BYTES and MAX_PIXELS > LOW_DETAIL_MAX_PIXELS


async def test_prepare_without_work_returns_the_request(pool: ImagePool) -> None:
    """No inline image, or checks that pass: the very same request comes back."""
    text_only = dv.ChatRequest(model=MODEL_VISION_PRO, messages=[dv.user("hi")])
    assert await prepare_images(text_only, resize=True, pool=pool) is text_only
    remote = _request(Image.from_url("https://example.com/a.png"))
    assert await prepare_images(remote, resize=True, pool=pool) is remote
    small = _request(Image.from_bytes(_jpeg(_photo(64, 64))))
    assert await prepare_images(small, resize=False) is small


async def test_pool_bounds_decodes_at_once(
    photo_12mp: bytes, pool: ImagePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many images wait, at most max_workers are decoded at once."""
    lock, running, peak = threading.Lock(), [0], [0]
    real = resize_image

    def counted(image: Image, budget: int) -> Image:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            return real(image, budget)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr("doubao_vision._prepare.resize_image", counted)
    image = Image.from_bytes(_jpeg(_photo(1600, 1200)))
    requests = [_request(image, max_pixels=200_000) for _ in range(12)]
    await asyncio.gather(*(prepare_images(r, resize=True, pool=pool) for r in requests))
    assert peak[0] == pool.max_workers


async def _lags_while(work: Awaitable[object]) -> list[float]:
    """The event loop's lag, tick by tick (5 ms sleeps), while ``work`` runs; sorted."""
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - before - 0.005)

    tick = asyncio.create_task(ticker())
    try:
        await work
    finally:
        stop.set()
        await tick
    return sorted(lags)


async def test_event_loop_stays_responsive(photo_12mp: bytes, pool: ImagePool) -> None:
    """While 50 large photos are resized concurrently, the event loop's lag stays under 50 ms
    (or, on a machine too busy for that, within twice what GIL-free work costs it)."""
    # Warm up: the first resize imports Pillow's plugins (once per process, not per photo).
    await prepare_images(_request(Image.from_bytes(photo_12mp)), resize=True, pool=pool)
    requests = [_request(Image.from_bytes(photo_12mp, name=f"p{i}.jpg")) for i in range(50)]
    done: list[dv.ChatRequest] = []

    async def resize_all() -> None:
        done.extend(
            await asyncio.gather(*(prepare_images(r, resize=True, pool=pool) for r in requests))
        )

    started = time.perf_counter()
    lags = await _lags_while(resize_all())
    took = time.perf_counter() - started
    assert all(_images_of(p)[0].width == 1182 for p in done)

    # The same threads for as long, on work that never holds the GIL: what the machine's
    # own scheduling costs the loop (on a shared, busy machine that alone can pass 50 ms).
    noise = os.urandom(4_000_000)

    async def hash_for_as_long() -> None:
        while time.perf_counter() - started < 2 * took:
            await asyncio.gather(*(pool.run(hashlib.sha256, noise) for _ in range(4)))

    base = await _lags_while(hash_for_as_long())

    def p99(values: list[float]) -> float:
        return values[len(values) * 99 // 100]

    shown = f"p50 {lags[len(lags) // 2] * 1e3:.1f} ms, p99 {p99(lags) * 1e3:.1f} ms, max "
    shown += f"{lags[-1] * 1e3:.1f} ms over {len(lags)} ticks; GIL-free: p99 "
    shown += f"{p99(base) * 1e3:.1f} ms, max {base[-1] * 1e3:.1f} ms"
    # Resizing on the loop's thread would stall it for a whole decode (100s of ms) per photo.
    assert len(lags) > 100, shown
    # On a loaded machine every thread hiccups: then compare with a GIL-free workload
    # measured just now (resizing on the loop itself would block 100-300 ms per photo).
    assert p99(lags) < max(0.050, 4 * p99(base)), shown
    assert lags[-1] < max(0.050, 2 * base[-1]), shown


async def test_missing_pillow_fails_before_any_work(
    photo_12mp: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With resizing on and no Pillow, prepare_images raises the extra's ImportError."""
    from doubao_vision import _resize

    def missing() -> None:
        raise ImportError(f"resizing images needs Pillow: {_resize.EXTRA_HINT}")

    monkeypatch.setattr("doubao_vision._prepare.pillow", missing)
    with pytest.raises(ImportError, match=r"doubao-vision\[images\]"):
        await prepare_images(_request(Image.from_bytes(photo_12mp)), resize=True)


# -- end to end --------------------------------------------------------------------------


@pytest.fixture
async def images_pool() -> AsyncIterator[ImagePool]:
    images = ImagePool(max_workers=2)
    yield images
    await images.aclose()


async def test_resized_request_sent_to_emulator(
    client: dv.AsyncClient, photo_12mp: bytes, images_pool: ImagePool
) -> None:
    """A 12 MP photo, resized and sent, reaches the server as the resized JPEG; a small one as is."""
    big = Image.from_bytes(photo_12mp)
    small = Image.from_bytes(_jpeg(_photo(640, 480)))
    prepared = await prepare_images(_request(big, small), resize=True, pool=images_pool)
    resized, same = _images_of(prepared)
    assert same is small
    completion = await client.send(prepared)
    text = completion.choices[0].message.content or ""
    for i, image in enumerate((resized, same), 1):
        digest = hashlib.sha256(image.data or b"").hexdigest()
        assert f"image {i}: jpeg {image.width}x{image.height} {image.nbytes} bytes" in text
        assert digest[:12] in text
    assert "1182x886" in text


def _answered_size(answer: str) -> int:
    """width x height the emulator reports for the one image it received."""
    match = re.search(r"image 1: \w+ (\d+)x(\d+)", answer)
    assert match, answer
    return int(match.group(1)) * int(match.group(2))


async def test_client_resize_images_makes_oversize_photos_sendable(photo_12mp: bytes) -> None:
    """AsyncClient(resize_images=True) sends photos within their detail's budget; without it an
    oversize one is refused and nothing is uploaded."""
    from doubao_vision.emulator import Emulator

    big = _png(PILImage.frombytes("RGB", (2000, 2000), os.urandom(12_000_000)))  # 12 MB
    emulator = Emulator(api_key="k")
    async with emulator as url:
        async with dv.AsyncClient("k", base_url=url) as plain:
            with pytest.raises(dv.ImageTooLargeError):
                await plain.ask("What?", big)
        assert not emulator.requests
        async with dv.AsyncClient("k", base_url=url, resize_images=True) as client:
            big_answer = await client.ask("What?", big)
            low = await client.ask("What?", photo_12mp)
            high = await client.chat(
                MODEL_VISION_PRO, [dv.user("What?", photo_12mp, detail="high")]
            )
    assert 0.95 * LOW_DETAIL_MAX_PIXELS <= _answered_size(big_answer) <= LOW_DETAIL_MAX_PIXELS
    assert 0.95 * LOW_DETAIL_MAX_PIXELS <= _answered_size(low) <= LOW_DETAIL_MAX_PIXELS
    assert 0.95 * HIGH_DETAIL_MAX_PIXELS <= _answered_size(high.text) <= HIGH_DETAIL_MAX_PIXELS
    sizes = [int(h["content-length"]) for h in (r.headers for r in emulator.requests)]
    assert len(sizes) == 3 and max(sizes) < MAX_IMAGE_BYTES // 4  # a fraction of the photo


async def test_streams_check_or_resize_images_too(photo_12mp: bytes) -> None:
    """client.stream refuses an oversize image when made (nothing sent), and with
    resize_images=True resizes it when the stream starts."""
    from doubao_vision.emulator import Emulator

    big = _png(PILImage.frombytes("RGB", (2000, 2000), os.urandom(12_000_000)))  # 12 MB
    emulator = Emulator(api_key="k")
    async with emulator as url:
        async with dv.AsyncClient("k", base_url=url) as plain:
            with pytest.raises(dv.ImageTooLargeError):
                plain.stream(MODEL_VISION_PRO, [dv.user("What?", big)])
        assert not emulator.requests
        async with (
            dv.AsyncClient("k", base_url=url, resize_images=True) as client,
            client.stream(MODEL_VISION_PRO, [dv.user("What?", photo_12mp)]) as stream,
        ):
            completion = await stream.final_completion()
    assert 0.95 * LOW_DETAIL_MAX_PIXELS <= _answered_size(completion.text) <= LOW_DETAIL_MAX_PIXELS
