"""Image inputs: format sniffing, header sizes, Doubao's limits, constructors."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doubao_vision._exceptions import (
    ImageDimensionsError,
    ImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    InvalidRequestError,
    UnsupportedImageFormatError,
)
from doubao_vision._images import (
    FORMATS,
    MAX_IMAGE_BYTES,
    MAX_PIXELS,
    MIN_PIXELS,
    MIN_SIDE,
    Image,
    ImageInfo,
    check_image,
    inspect_image,
    to_image,
)
from doubao_vision._samples import make_png, make_png_of_size, sample_images

# -- minimal headers for each format ------------------------------------------------


def _segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body


def jpeg(width: int, height: int, *, sof: int = 0xC0, before_sof: bytes = b"") -> bytes:
    app0 = _segment(0xE0, b"JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x00\x00")
    dqt = _segment(0xDB, b"\x00" + bytes(64))
    frame = _segment(sof, struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00" * 3)
    scan = _segment(0xDA, b"\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00") + b"\x12\x34"
    return b"\xff\xd8" + app0 + before_sof + dqt + frame + scan + b"\xff\xd9"


def png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\x00" * 4


def gif(width: int, height: int, version: bytes = b"89a") -> bytes:
    screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF" + version + screen + frame + b";"


def _riff(chunk: bytes, body: bytes) -> bytes:
    inner = b"WEBP" + chunk + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", len(inner)) + inner


def webp_vp8(width: int, height: int) -> bytes:
    return _riff(b"VP8 ", b"\x30\x01\x00\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\0")


def webp_vp8l(width: int, height: int) -> bytes:
    return _riff(b"VP8L", b"\x2f" + struct.pack("<I", (width - 1) | (height - 1) << 14))


def webp_vp8x(width: int, height: int) -> bytes:
    sides = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return _riff(b"VP8X", b"\x10\x00\x00\x00" + sides)


def bmp(width: int, height: int, *, core: bool = False) -> bytes:
    if core:
        dib = struct.pack("<IHHHH", 12, width, height, 1, 24)
    else:
        dib = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(dib), 0, 0, 14 + len(dib)) + dib


def tiff(width: int, height: int, *, order: str = "<", kind: int = 4) -> bytes:
    e = order
    value = "HH" if kind == 3 else "I"
    head = (b"II*\x00" if e == "<" else b"MM\x00*") + struct.pack(e + "I", 8)
    entries = [
        struct.pack(e + "HHI" + value, 256, kind, 1, width, *([0] if kind == 3 else [])),
        struct.pack(e + "HHI" + value, 257, kind, 1, height, *([0] if kind == 3 else [])),
    ]
    return (
        head
        + struct.pack(e + "H", 3)
        + struct.pack(e + "HHII", 254, 4, 1, 0)
        + b"".join(entries)
        + struct.pack(e + "I", 0)
    )


def ico() -> bytes:
    entry = struct.pack("<BBBBHHII", 32, 32, 0, 0, 1, 32, 40, 22)
    return b"\x00\x00\x01\x00\x01\x00" + entry + struct.pack("<IiiHH", 40, 32, 64, 1, 32)


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def heif_meta(width: int = 640, height: int = 480) -> bytes:
    """A meta box naming item 1 primary, with one ispe property linked to it."""
    ispe = box(b"ispe", bytes(4) + struct.pack(">II", width, height))
    ipma = box(b"ipma", bytes(4) + struct.pack(">IHBB", 1, 1, 1, 0x81))
    iprp = box(b"iprp", box(b"ipco", ispe) + ipma)
    return box(b"meta", bytes(4) + box(b"pitm", bytes(4) + struct.pack(">H", 1)) + iprp)


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return box(b"ftyp", body) + heif_meta()


def info(data: bytes) -> tuple[str, int | None, int | None]:
    found = inspect_image(data)
    return found.format, found.width, found.height


# -- sniffing and sizes --------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(1, 1), (15, 15), (640, 480), (3, 1000)])
def test_png_size(width: int, height: int) -> None:
    """A PNG's size comes from its IHDR chunk."""
    assert info(make_png(width, height)) == ("png", width, height)


@pytest.mark.parametrize("sof", [0xC0, 0xC1, 0xC2, 0xCF])
def test_jpeg_size_from_any_sof(sof: int) -> None:
    """Baseline (SOF0), progressive (SOF2) and other SOFn frames give the size."""
    assert info(jpeg(1024, 768, sof=sof)) == ("jpeg", 1024, 768)


def test_jpeg_skips_app_segments_and_tables() -> None:
    """APPn, COM and DHT segments before the frame are skipped by their length."""
    extra = (
        _segment(0xE1, b"Exif\x00\x00" + bytes(3000))
        + _segment(0xE2, b"ICC_PROFILE\x00" + bytes(500))
        + _segment(0xFE, b"a comment")
        + _segment(0xC4, b"\x00" + bytes(16) + b"\x01")  # DHT sits in the SOF range
    )
    assert info(jpeg(300, 200, before_sof=extra)) == ("jpeg", 300, 200)


def test_jpeg_fill_bytes_and_standalone_markers() -> None:
    """Fill 0xFF bytes and RSTn/TEM markers between segments are stepped over."""
    assert info(jpeg(50, 60, before_sof=b"\xff\xff\xff\xd0\xff\x01")) == ("jpeg", 50, 60)


def test_jpeg_without_frame_is_refused() -> None:
    """A JPEG whose scan starts before any frame header is refused as corrupt."""
    data = b"\xff\xd8" + _segment(0xDA, b"\x00" * 10) + b"\xff\xd9"
    with pytest.raises(UnsupportedImageFormatError, match="corrupt jpeg"):
        inspect_image(data)


@pytest.mark.parametrize("version", [b"87a", b"89a"])
def test_gif_size(version: bytes) -> None:
    """GIF87a and GIF89a sizes come from the logical screen descriptor."""
    assert info(gif(320, 240, version)) == ("gif", 320, 240)


@pytest.mark.parametrize("maker", [webp_vp8, webp_vp8l, webp_vp8x])
def test_webp_size(maker: object) -> None:
    """Lossy (VP8), lossless (VP8L) and extended (VP8X) WebP headers give the size."""
    assert callable(maker)
    assert info(maker(1000, 16000)) == ("webp", 1000, 16000)


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (bmp(200, 100), (200, 100)),
        (bmp(200, -100), (200, 100)),
        (bmp(40, 30, core=True), (40, 30)),
    ],
    ids=["info-header", "top-down", "core-header"],
)
def test_bmp_size(data: bytes, size: tuple[int, int]) -> None:
    """BMP sizes come from either DIB header; a negative (top-down) height counts as positive."""
    assert info(data) == ("bmp", *size)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("kind", [3, 4])
def test_tiff_size(order: str, kind: int) -> None:
    """TIFF sizes come from the first IFD in either byte order, as SHORT or LONG."""
    assert info(tiff(1200, 900, order=order, kind=kind)) == ("tiff", 1200, 900)


def test_tiff_ifd_after_pixel_data() -> None:
    """A first IFD placed after the pixel data (at the end of the file) is found."""
    data = tiff(64, 48)
    moved = b"II*\x00" + struct.pack("<I", 8 + 5000) + bytes(5000) + data[8:]
    assert info(moved) == ("tiff", 64, 48)


def test_ico_format() -> None:
    """An ICO's size is its largest directory entry's, as Pillow opens it (0 means 256)."""
    assert info(ico()) == ("ico", 32, 32)
    two = b"\x00\x00\x01\x00\x02\x00" + struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, 40, 38)
    two += struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, 40, 38) + bytes(40)
    assert info(two) == ("ico", 256, 256)


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        *[(ftyp(b), "heic") for b in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevm")],
        (ftyp(b"hevs"), "heic"),
        (ftyp(b"mif1", b"mif1"), "heif"),
        (ftyp(b"msf1"), "heif"),
        (ftyp(b"heif"), "heif"),
        (ftyp(b"mif1", b"mif1", b"heic"), "heic"),
    ],
)
def test_heif_brands(data: bytes, fmt: str) -> None:
    """ISO-BMFF ftyp brands tell HEIC from HEIF; an HEVC compatible brand means HEIC."""
    assert info(data) == (fmt, 640, 480)


@pytest.mark.parametrize(
    "data",
    [b"hello world, not an image", ftyp(b"avif"), ftyp(b"isom"), b"\x00\x00\x01\x00\x00\x00"],
    ids=["text", "avif", "mp4", "ico-no-images"],
)
def test_unknown_format(data: bytes) -> None:
    """Unknown magic is refused with the source named and the accepted formats listed."""
    with pytest.raises(UnsupportedImageFormatError, match="accepted formats") as caught:
        inspect_image(data, source="mystery.bin")
    assert "mystery.bin" in str(caught.value)
    assert all(fmt in str(caught.value) for fmt in FORMATS)
    assert caught.value.source == "mystery.bin"


def test_empty_bytes() -> None:
    """Empty input is refused as empty."""
    with pytest.raises(UnsupportedImageFormatError, match="empty"):
        inspect_image(b"")


@pytest.mark.parametrize(
    "data",
    [
        make_png(20, 20)[:20],
        jpeg(100, 100)[:30],
        jpeg(100, 100)[:5],
        b"\xff\xd8\xff",
        gif(100, 100)[:8],
        webp_vp8(100, 100)[:27],
        webp_vp8l(100, 100)[:22],
        webp_vp8x(100, 100)[:26],
        bmp(100, 100)[:20],
        tiff(100, 100)[:20],
        b"II*\x00\xff\xff\x00\x00",
    ],
    ids=[
        "png",
        "jpeg-mid-segment",
        "jpeg-length",
        "jpeg-marker",
        "gif",
        "vp8",
        "vp8l",
        "vp8x",
        "bmp",
        "tiff-mid-ifd",
        "tiff-ifd-past-end",
    ],
)
def test_truncated_headers(data: bytes) -> None:
    """A header cut short is refused as truncated, never left with an unknown size."""
    with pytest.raises(UnsupportedImageFormatError, match="truncated") as caught:
        inspect_image(data, source="cut.img")
    assert "cut.img" in str(caught.value)


def test_bytearray_and_memoryview_inputs() -> None:
    """inspect_image takes bytes, bytearray and memoryview alike."""
    data = make_png(30, 20)
    expected = ImageInfo("png", 30, 20)
    assert inspect_image(bytearray(data)) == expected
    assert inspect_image(memoryview(data)[0:]) == expected


# -- limits --------------------------------------------------------------------------


def test_limit_constants() -> None:
    """The limits are Doubao's documented numbers."""
    assert (MAX_IMAGE_BYTES, MIN_SIDE, MIN_PIXELS, MAX_PIXELS) == (10 * 2**20, 14, 196, 36_000_000)


@pytest.mark.parametrize(
    ("width", "height"), [(15, 15), (15, 2_400_000), (6000, 6000), (15, None), (None, None)]
)
def test_sizes_within_limits(width: int | None, height: int | None) -> None:
    """Sides of 15 px, exactly 36,000,000 pixels and unknown sides pass."""
    check_image(ImageInfo("png", width, height), 1000, source="ok.png")


@pytest.mark.parametrize(
    ("width", "height"), [(14, 15), (15, 14), (14, 14), (1, 196), (14, None), (None, 0)]
)
def test_side_of_14_px_is_refused(width: int | None, height: int | None) -> None:
    """A known side of 14 px or less is refused, even at 196 pixels in all."""
    with pytest.raises(ImageDimensionsError, match="more than 14 px") as caught:
        check_image(ImageInfo("png", width, height), 1000, source="thin.png")
    shown = f"{'?' if width is None else width}x{'?' if height is None else height}"
    assert "thin.png" in str(caught.value)
    assert shown in str(caught.value)


@pytest.mark.parametrize(("width", "height"), [(6000, 6001), (6001, 6000), (40_000, 901)])
def test_over_36_megapixels_is_refused(width: int, height: int) -> None:
    """More than 36,000,000 pixels is refused, naming the source, WxH and the limit."""
    with pytest.raises(ImageDimensionsError) as caught:
        check_image(ImageInfo("png", width, height), 1000, source="huge.png")
    message = str(caught.value)
    assert "huge.png" in message
    assert f"{width}x{height}" in message
    assert "[196, 36,000,000]" in message


def test_over_36_megapixels_from_header_only() -> None:
    """from_bytes refuses a PNG whose header declares 6001x6000, without its pixels."""
    with pytest.raises(ImageDimensionsError, match="6001x6000"):
        Image.from_bytes(png_header(6001, 6000), name="big.png")


def test_size_limit_boundary() -> None:
    """Exactly 10 MiB passes; one byte more is refused naming the source, size and limit."""
    check_image(ImageInfo("png", 100, 100), MAX_IMAGE_BYTES, source="edge.png")
    with pytest.raises(ImageTooLargeError) as caught:
        check_image(ImageInfo("png", 100, 100), MAX_IMAGE_BYTES + 1, source="edge.png")
    message = str(caught.value)
    assert "edge.png" in message
    assert "10.00 MB" in message
    assert "limit is 10 MB" in message
    assert caught.value.source == "edge.png"


def test_too_large_real_png() -> None:
    """from_bytes refuses a real 11 MB PNG as too large."""
    with pytest.raises(ImageTooLargeError, match="<bytes>"):
        Image.from_bytes(make_png_of_size(11 * 2**20))


def test_too_large_file_is_refused(tmp_path: Path) -> None:
    """from_path refuses a file over 10 MiB."""
    path = tmp_path / "padded.png"
    head = png_header(100, 100)
    path.write_bytes(head + bytes(MAX_IMAGE_BYTES + 1 - len(head)))
    with pytest.raises(ImageTooLargeError, match=r"padded\.png"):
        Image.from_path(path)


# -- constructors --------------------------------------------------------------------


def test_from_path_reads_and_inspects(tmp_path: Path) -> None:
    """from_path (str or Path) returns an inline image with format and size."""
    path = tmp_path / "cat.png"
    path.write_bytes(make_png(64, 32))
    for given_path in (path, str(path)):
        image = Image.from_path(given_path)
        assert (image.format, image.width, image.height) == ("png", 64, 32)
        assert image.data == path.read_bytes()
        assert image.source == str(path)


def test_from_path_missing(tmp_path: Path) -> None:
    """A missing file raises ImageNotFoundError naming the path, chained to the OSError."""
    path = tmp_path / "nope.png"
    with pytest.raises(ImageNotFoundError, match=r"nope\.png") as caught:
        Image.from_path(path)
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    assert caught.value.source == str(path)


def test_from_path_directory(tmp_path: Path) -> None:
    """A directory raises ImageNotFoundError naming the path and saying it is a directory."""
    with pytest.raises(ImageNotFoundError, match="is a directory") as caught:
        Image.from_path(tmp_path)
    assert str(tmp_path) in str(caught.value)
    assert isinstance(caught.value.__cause__, OSError)


def test_from_path_bad_content(tmp_path: Path) -> None:
    """A readable file that is no image names the file in the format error."""
    path = tmp_path / "notes.txt"
    path.write_text("just text, long enough to look at")
    with pytest.raises(UnsupportedImageFormatError, match=r"notes\.txt"):
        Image.from_path(path)


def test_from_bytes_name() -> None:
    """from_bytes uses the given name as the source, else <bytes>."""
    assert Image.from_bytes(make_png(20, 20), name="a.png").source == "a.png"
    assert Image.from_bytes(make_png(20, 20)).source == "<bytes>"
    with pytest.raises(ImageDimensionsError, match=r"tiny\.png"):
        Image.from_bytes(make_png(10, 10), name="tiny.png")


@pytest.mark.parametrize(
    "url", ["https://example.com/cat.png", "http://example.com/x", "HTTPS://EXAMPLE.COM/A.JPG"]
)
def test_from_url_remote(url: str) -> None:
    """http(s) URLs become remote images, sent as they are."""
    image = Image.from_url(url)
    assert (image.url, image.data, image.format) == (url, None, None)
    assert image.data_url() == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ftp://example.com/a.png", "unsupported URL scheme 'ftp'"),
        ("s3://bucket/a.png", "unsupported URL scheme 's3'"),
        ("gs://bucket/a.png", "unsupported URL scheme 'gs'"),
        ("mailto:x@y.z", "unsupported URL scheme 'mailto'"),
        ("file://server/share/a.png", "only local files"),
    ],
)
def test_from_url_refuses_other_urls(url: str, says: str) -> None:
    """Empty URLs, other schemes and remote file URLs are refused with a clear ImageError."""
    with pytest.raises(ImageError, match=says) as caught:
        Image.from_url(url)
    assert type(caught.value) is ImageError


def test_remote_image_has_no_bytes_or_mime() -> None:
    """A remote image's mime and base64 raise ImageError instead of guessing."""
    image = Image.from_url("https://example.com/a")
    with pytest.raises(ImageError):
        _ = image.mime
    with pytest.raises(ImageError):
        image.base64_bytes()


def test_data_url_round_trip() -> None:
    """An inline image's data URL decodes back to the same image."""
    image = Image.from_bytes(make_png(40, 30, seed=3))
    url = image.data_url()
    assert url.startswith("data:image/png;base64,")
    again = Image.from_url(url)
    assert (again.data, again.format, again.width, again.height) == (image.data, "png", 40, 30)
    assert again.url is None
    assert again.data_url() == url


@pytest.mark.parametrize(
    ("declared", "data"),
    [
        ("jpg", jpeg(100, 100)),
        ("jpeg", jpeg(100, 100)),
        ("tif", tiff(100, 100)),
        ("tiff", tiff(100, 100, order=">")),
        ("PNG", make_png(20, 20)),
    ],
)
def test_data_url_aliases(declared: str, data: bytes) -> None:
    """jpg/jpeg and tif/tiff are the same format; case is normalised."""
    url = f"data:image/{declared};base64,{base64.b64encode(data).decode('ascii')}"
    assert Image.from_url(url).data == data


def test_data_url_mismatched_format() -> None:
    """A data URL that declares png over JPEG bytes is refused."""
    url = "data:image/png;base64," + base64.b64encode(jpeg(100, 100)).decode("ascii")
    with pytest.raises(UnsupportedImageFormatError, match=r"declares image/png .* jpeg"):
        Image.from_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "data:image/png;base64,not*base64!",
        "data:image/png;base64,iVBORw0KGgo",
        "data:image/png,rawbytes",
        "data:text/plain;base64,aGVsbG8=",
    ],
)
def test_data_url_bad_encoding(url: str) -> None:
    """Invalid base64 and non-base64 or non-image data URLs raise ImageError."""
    with pytest.raises(ImageError) as caught:
        Image.from_url(url)
    assert type(caught.value) is ImageError


@pytest.mark.parametrize(
    ("data", "mime"),
    [(jpeg(100, 100), "image/jpeg"), (make_png(20, 20), "image/png"), (gif(20, 20), "image/gif")],
)
def test_mime(data: bytes, mime: str) -> None:
    """mime is image/<format> in lowercase."""
    assert Image.from_bytes(data).mime == mime


def test_base64_bytes() -> None:
    """base64_bytes is the base64 of the inline bytes."""
    data = make_png(20, 20)
    assert Image.from_bytes(data).base64_bytes() == base64.b64encode(data)


def test_image_needs_exactly_one_of_data_and_url() -> None:
    """An Image built directly must have exactly one of data and url."""
    with pytest.raises(ImageError):
        Image(source="x")
    with pytest.raises(ImageError):
        Image(source="x", data=b"1", url="https://a")


def test_repr_hides_bytes() -> None:
    """repr shows source, format, size and byte count, never the bytes or their base64."""
    data = make_png(640, 480, seed=1)
    image = Image.from_bytes(data, name="cat.png")
    text = repr(image)
    assert text == f"Image(source='cat.png', format='png', size=640x480, bytes={len(data)})"
    assert base64.b64encode(data)[:16].decode() not in text
    assert repr(Image.from_url(image.data_url())).startswith("Image(source='<data URL>'")
    assert repr(Image.from_url("https://a.b/c.png")) == "Image(url='https://a.b/c.png')"


# -- to_image ------------------------------------------------------------------------


def test_to_image_dispatch(tmp_path: Path) -> None:
    """to_image passes Images through and routes bytes, URLs, data URLs and paths."""
    data = make_png(20, 20)
    path = tmp_path / "p.png"
    path.write_bytes(data)
    image = Image.from_bytes(data)
    assert to_image(image) is image
    assert to_image(data).data == data
    assert to_image(bytearray(data)).data == data
    assert to_image(path).source == str(path)
    assert to_image(str(path)).source == str(path)
    assert to_image("https://example.com/a.png").url == "https://example.com/a.png"
    assert to_image(image.data_url()).data == data


def test_to_image_unknown_string_is_a_path() -> None:
    """A string that is no URL is taken as a path; a missing one is not found."""
    with pytest.raises(ImageNotFoundError, match="not found"):
        to_image("no/such/dir/a.png")


@pytest.mark.parametrize("value", [42, None, 1.5, ["a.png"]])
def test_to_image_refuses_other_types(value: object) -> None:
    """Other types raise InvalidRequestError naming the type."""
    with pytest.raises(InvalidRequestError, match=type(value).__name__) as caught:
        to_image(value)  # type: ignore[arg-type]
    assert not isinstance(caught.value, ImageError)


# -- samples -------------------------------------------------------------------------


def test_sample_images_are_valid() -> None:
    """The four demo samples are PNGs that pass every limit."""
    samples = sample_images()
    assert len(samples) == 4
    for name, data in samples.items():
        image = Image.from_bytes(data, name=name)
        assert image.format == "png"


def test_make_png_seeds_and_sizes() -> None:
    """Seeds change the bytes deterministically; compress=False stores about 3*w*h bytes."""
    assert make_png(30, 30, seed=1) == make_png(30, 30, seed=1)
    assert make_png(30, 30, seed=1) != make_png(30, 30, seed=2)
    assert 3 * 200 * 100 < len(make_png(200, 100, compress=False)) < 3 * 200 * 100 + 500
    for target in (5_000, 100_000, 3_000_000):
        assert abs(len(make_png_of_size(target)) - target) < target // 100 + 100


# -- properties ----------------------------------------------------------------------

_MAGICS = [
    b"",
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR",
    b"GIF89a",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"RIFF\x00\x00\x00\x00WEBPVP8L",
    b"RIFF\x00\x00\x00\x00WEBPVP8X",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"\x00\x00\x01\x00",
    b"\x00\x00\x00\x18ftypmif1",
]


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(_MAGICS), st.binary(max_size=300))
def test_random_bytes_only_raise_format_errors(magic: bytes, tail: bytes) -> None:
    """Any bytes, even after a real magic, give an ImageInfo or UnsupportedImageFormatError."""
    try:
        found = inspect_image(magic + tail)
    except UnsupportedImageFormatError:
        return
    assert found.format in FORMATS


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 700), st.integers(1, 700), st.integers(0, 2**16))
def test_valid_png_sizes_are_read(width: int, height: int, seed: int) -> None:
    """Any valid PNG's size is read back exactly."""
    data = make_png(width, height, seed=seed, compress=False)
    assert inspect_image(data) == ImageInfo("png", width, height)
