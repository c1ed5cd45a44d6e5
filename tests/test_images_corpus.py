"""Header reading on real files of every claimed format, as Pillow writes them, and
their truncated and bit-flipped variants: the right format and size, or an
ImageError, never another exception; sizes agree with Pillow's."""

from __future__ import annotations

import io
import random
import warnings
import zlib
from collections.abc import Callable

import pytest

from doubao_vision._exceptions import ImageError
from doubao_vision._images import inspect_image

PIL = pytest.importorskip("PIL")
from PIL import Image as PILImage  # noqa: E402
from PIL import ImageDraw  # noqa: E402

_Maker = Callable[[], bytes]


def _photo(size: tuple[int, int] = (120, 90), mode: str = "RGB") -> PILImage.Image:
    """Noise over a gradient: something like a photo, small enough to be quick."""
    gradient = PILImage.linear_gradient("L").resize(size)
    noise = PILImage.effect_noise(size, 40)
    rgb = PILImage.merge(
        "RGB", (gradient, noise, gradient.transpose(PILImage.Transpose.ROTATE_180))
    )
    return rgb.convert(mode)


def _save(image: PILImage.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _exif(orientation: int, padding: int = 0) -> bytes:
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    if padding:
        exif[0x010E] = "x" * padding  # ImageDescription: a long EXIF block
    return exif.tobytes()


def _animated(fmt: str, **options: object) -> bytes:
    frames = [_photo((60, 40)).rotate(angle) for angle in (0, 90, 180)]
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], **options)


def _line_art() -> PILImage.Image:
    image = PILImage.new("RGB", (100, 70), "white")
    ImageDraw.Draw(image).rectangle((10, 10, 60, 50), outline="black", width=3)
    return image


CORPUS: dict[str, tuple[str, _Maker]] = {
    "jpeg-baseline": ("jpeg", lambda: _save(_photo(), "JPEG", quality=80)),
    "jpeg-progressive": ("jpeg", lambda: _save(_photo(), "JPEG", progressive=True)),
    "jpeg-optimized": ("jpeg", lambda: _save(_photo(), "JPEG", optimize=True)),
    "jpeg-cmyk": ("jpeg", lambda: _save(_photo(mode="CMYK"), "JPEG")),
    "jpeg-gray": ("jpeg", lambda: _save(_photo(mode="L"), "JPEG")),
    "jpeg-exif": ("jpeg", lambda: _save(_photo(), "JPEG", exif=_exif(6))),
    "jpeg-big-exif": ("jpeg", lambda: _save(_photo(), "JPEG", exif=_exif(3, 20_000))),
    "jpeg-icc": ("jpeg", lambda: _save(_photo(), "JPEG", icc_profile=bytes(3000))),
    **{
        f"png-{mode}": ("png", lambda mode=mode: _save(_photo(mode=mode), "PNG"))  # type: ignore[misc]
        for mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")
    },
    "png-interlaced": ("png", lambda: _save(_line_art(), "PNG", optimize=True)),
    "gif": ("gif", lambda: _save(_photo(mode="P"), "GIF")),
    "gif-animated": ("gif", lambda: _animated("GIF")),
    "webp-lossy": ("webp", lambda: _save(_photo(), "WEBP", quality=70)),
    "webp-lossless": ("webp", lambda: _save(_photo(), "WEBP", lossless=True)),
    "webp-alpha": ("webp", lambda: _save(_photo(mode="RGBA"), "WEBP")),
    "webp-animated": ("webp", lambda: _animated("WEBP")),
    "webp-exif": ("webp", lambda: _save(_photo(), "WEBP", exif=_exif(8))),
    "bmp-rgb": ("bmp", lambda: _save(_photo(), "BMP")),
    "bmp-1bit": ("bmp", lambda: _save(_photo(mode="1"), "BMP")),
    "bmp-palette": ("bmp", lambda: _save(_photo(mode="P"), "BMP")),
    "bmp-gray": ("bmp", lambda: _save(_photo(mode="L"), "BMP")),
    "bmp-rgba": ("bmp", lambda: _save(_photo(mode="RGBA"), "BMP")),
    "tiff-raw": ("tiff", lambda: _save(_photo(), "TIFF")),
    "tiff-lzw": ("tiff", lambda: _save(_photo(), "TIFF", compression="tiff_lzw")),
    "tiff-jpeg": ("tiff", lambda: _save(_photo(), "TIFF", compression="jpeg")),
    "tiff-gray16": ("tiff", lambda: _save(_photo(mode="I;16"), "TIFF")),
    "tiff-multipage": ("tiff", lambda: _animated("TIFF")),
    "tiff-big": ("tiff", lambda: _save(_photo(), "TIFF", big_tiff=True)),
    "ico": ("ico", lambda: _save(_photo((64, 64)), "ICO", sizes=[(16, 16), (32, 32), (64, 64)])),
    "ico-256": ("ico", lambda: _save(_photo((256, 256), "RGBA"), "ICO", sizes=[(256, 256)])),
}


try:
    import pillow_heif
except ImportError:  # pragma: no cover - CI installs it with the images extra
    pass
else:
    pillow_heif.register_heif_opener()

    def _heic(size: tuple[int, int], mode: str = "RGB", **options: object) -> bytes:
        return _save(_photo(size, mode), "HEIF", quality=40, **options)

    CORPUS["heic"] = ("heif", lambda: _heic((120, 90)))
    CORPUS["heic-odd-size"] = ("heif", lambda: _heic((101, 67)))  # padded, cropped by clap
    CORPUS["heic-alpha"] = ("heif", lambda: _heic((64, 48), "RGBA"))
    CORPUS["heic-rotated"] = ("heif", lambda: _heic((120, 90), exif=_exif(6)))  # irot


def _pillow(data: bytes) -> tuple[str, tuple[int, int]] | None:
    """What Pillow makes of the bytes: (format, size), or None if it cannot open them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with PILImage.open(io.BytesIO(data)) as image:
                return (image.format or "").lower(), image.size
        except Exception:
            return None


def _decodes(data: bytes) -> bool:
    """Pillow can decode the pixels, not only open the header."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with PILImage.open(io.BytesIO(data)) as image:
                image.load()
            return True
        except Exception:
            return False


def _ours(data: bytes) -> tuple[str, tuple[int | None, int | None]] | None:
    try:
        info = inspect_image(data, source="corpus")
    except ImageError:
        return None
    return info.format, (info.width, info.height)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_real_files_match_pillow(name: str) -> None:
    """Every file Pillow writes is read with Pillow's format and size."""
    fmt, make = CORPUS[name]
    data = make()
    pillow = _pillow(data)
    assert pillow is not None
    assert pillow[0] == fmt
    ours = _ours(data)
    assert ours is not None and ours[1] == pillow[1]
    assert ours[0] == ("heic" if fmt == "heif" else fmt)  # pillow-heif calls both HEIF


def _variants(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    head = min(len(data), 600)
    cuts = sorted({*range(0, min(len(data), 80), 3), *rng.sample(range(len(data)), 20)})
    out = [data[:cut] for cut in cuts]
    for _ in range(120):
        flipped = bytearray(data)
        for _ in range(rng.choice((1, 1, 2, 3))):
            flipped[rng.randrange(head)] ^= 1 << rng.randrange(8)
        out.append(bytes(flipped))
    return out


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_truncated_and_bit_flipped_variants(name: str) -> None:
    """A damaged file gives a format and size (Pillow's, when Pillow opens it too) or an ImageError."""
    _, make = CORPUS[name]
    data = make()
    agreed = 0
    for variant in _variants(data, seed=zlib.crc32(name.encode()) & 0xFFFF):
        try:
            info = inspect_image(variant, source="variant")
        except ImageError:
            continue
        # Never a size-less answer for a format whose header carries one.
        assert info.width is not None and info.height is not None, variant[:64]
        pillow = _pillow(variant)
        if pillow is not None and pillow[0] == info.format.replace("heic", "heif"):
            assert (info.width, info.height) == pillow[1], (name, variant[:64])
            agreed += 1
    assert agreed > 0  # the comparison really ran on this format
