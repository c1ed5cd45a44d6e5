"""The data-URL fast path equals the slow path (decode whole, re-encode): same Image
facts, same request body bytes, same errors; the user's base64 text is kept, not decoded."""

from __future__ import annotations

import base64
import io

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doubao_vision._body import SplicedJSONPayload, encode_body
from doubao_vision._exceptions import ImageError, ImageTooLargeError
from doubao_vision._images import Image, _slow_data_url
from doubao_vision._samples import make_png, make_png_of_size

from .test_images import bmp, ftyp, gif, jpeg, tiff, webp_vp8, webp_vp8l, webp_vp8x


def _body_bytes(image: Image) -> bytes:
    body = encode_body({"messages": [{"image_url": {"url": image}}], "n": 1})
    return body if isinstance(body, bytes) else body.decode().encode()


def _outcome(make: object, url: str) -> tuple[object, ...]:
    """What building an Image from ``url`` gives: its facts and body, or the error."""
    assert callable(make)
    try:
        image = make(url)
    except ImageError as exc:
        return ("error", type(exc), str(exc))
    facts = (image.source, image.url, image.format, image.width, image.height, image.nbytes)
    return ("image", facts, image.data, image.base64_bytes(), _body_bytes(image))


def _both(url: str) -> tuple[tuple[object, ...], tuple[object, ...]]:
    return _outcome(Image.from_url, url), _outcome(_slow_data_url, url.strip())


_SAMPLES = [
    make_png(40, 30, seed=1),
    make_png(17, 300, seed=2),
    jpeg(640, 480),
    jpeg(64, 48, before_sof=b"\xff\xe1\xff\xff" + bytes(65531)),  # a 64 KB APP1 first
    gif(100, 50),
    bmp(30, 20),
    tiff(50, 60),
    webp_vp8(300, 200),
    webp_vp8l(30, 20),
    ftyp(b"heic"),
    ftyp(b"mif1", b"mif1"),
    webp_vp8x(6001, 6001),  # over 36 MP: refused the same way on both paths
    jpeg(10, 10),  # too small
    b"not an image at all",
    b"",
]
_MEDIA = ["png", "jpeg", "jpg", "gif", "bmp", "dib", "tiff", "tif", "webp", "PNG", "heic", "heif"]


@st.composite
def data_urls(draw: st.DrawFn) -> str:
    data = draw(st.sampled_from(_SAMPLES))
    if draw(st.booleans()):  # bit-flip and cut: headers the fast path must not misread
        flips = draw(st.lists(st.integers(0, 10_000), max_size=3))
        mutable = bytearray(data)
        for flip in flips:
            if mutable:
                mutable[flip % len(mutable)] ^= 1 << (flip % 8)
        data = bytes(mutable[: draw(st.integers(0, len(mutable)))])
    text = base64.b64encode(data).decode("ascii")
    edits = ["none", "none", "none", "unpad", "newline", "space", "star", "mid-pad"]
    edit = draw(st.sampled_from([*edits, "noncanon", "unicode", "empty"]))
    at = draw(st.integers(0, max(0, len(text) - 1)))
    if edit == "unpad":
        text = text.rstrip("=")
    elif edit == "newline":
        text = text[:at] + "\n" + text[at:]
    elif edit == "space":
        text = text[:at] + " " + text[at:]
    elif edit == "star":
        text = text[:at] + "*" + text[at + 1 :]
    elif edit == "mid-pad":
        text = text[:at] + "=" + text[at + 1 :]
    elif edit == "noncanon" and text.endswith("="):
        body = text.rstrip("=")
        text = (
            body[:-1]
            + chr(ord(body[-1]) + 1 if body[-1] not in "9+/zZ" else 65)
            + text[len(body) :]
        )
    elif edit == "unicode":
        text = text[:at] + "é" + text[at:]
    elif edit == "empty":
        text = ""
    head = draw(
        st.one_of(
            st.sampled_from(_MEDIA).map(lambda fmt: f"data:image/{fmt};base64"),
            st.sampled_from(["data:text/plain;base64", "data:image/png", "data:;base64"]),
        )
    )
    return f"{head},{text}"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(url=data_urls())
def test_fast_path_equals_slow_path(url: str) -> None:
    """Any data URL gives the same facts, base64, body bytes or error on both paths."""
    fast, slow = _both(url)
    assert fast == slow


@pytest.mark.parametrize("data", _SAMPLES[:12])
def test_canonical_base64_is_kept_not_decoded(data: bytes) -> None:
    """A canonical data URL keeps its text; the bytes are decoded only when asked for."""
    url = "data:image/" + Image.from_bytes(data, check=False).format + ";base64,"  # type: ignore[operator]
    url += base64.b64encode(data).decode()
    image = Image.from_url(url, check=False)
    assert image._b64 is not None and image._data is None
    assert image.base64_bytes() == url.partition(",")[2].encode()
    assert image.nbytes == len(data)
    assert image._data is None  # nothing so far asked for the bytes
    assert image.data == data


def test_body_splices_the_given_text() -> None:
    """The request body carries the user's base64 text byte for byte, small or large."""
    for data in (make_png(50, 50, seed=4), make_png_of_size(600_000, seed=5)):
        text = base64.b64encode(data).decode()
        image = Image.from_url(f"data:image/png;base64,{text}")
        body = encode_body({"url": image})
        if len(data) > 300_000:
            assert isinstance(body, SplicedJSONPayload)
            raw = body.decode().encode()
        else:
            assert isinstance(body, bytes)
            raw = body
        assert raw == b'{"url":"data:image/png;base64,' + text.encode() + b'"}'


def test_jpeg_with_a_long_exif_block() -> None:
    """A JPEG whose frame header sits behind a 60 KB EXIF block is read from a grown prefix."""
    pil = pytest.importorskip("PIL.Image")
    exif = pil.Exif()
    exif[0x010E] = "x" * 60_000
    out = io.BytesIO()
    pil.new("RGB", (300, 200), "red").save(out, "JPEG", exif=exif.tobytes())
    image = Image.from_url("data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode())
    assert (image.format, image.width, image.height, image._data) == ("jpeg", 300, 200, None)


def test_oversize_data_url_refused_without_decoding() -> None:
    """An over-10 MB data URL is refused from its length alone, with the slow path's message."""
    data = make_png(20, 20) + bytes(11 * 2**20)
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    with pytest.raises(ImageTooLargeError) as fast:
        Image.from_url(url)
    with pytest.raises(ImageTooLargeError) as slow:
        _slow_data_url(url)
    assert str(fast.value) == str(slow.value)
    unchecked = Image.from_url(url, check=False)
    assert not unchecked.within_limits and unchecked._data is None
    with pytest.raises(ImageTooLargeError):
        unchecked.check()


@pytest.mark.parametrize("size", [100_000, 3 * 2**20])  # checked whole / slice by slice
@pytest.mark.parametrize("where", [0.0, 0.5, 0.999])
def test_one_bad_character_anywhere_is_found(size: int, where: float) -> None:
    """One character outside the base64 alphabet, wherever it is (a slice's last one
    included), sends the URL to the slow path's error; the URL without it is kept."""
    from doubao_vision import _dataurl

    data = make_png(20, 20) + bytes(size)
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    start = url.index(",") + 1
    assert _dataurl._canonical(url, start)
    at = start + int((len(url) - start - 4) * where)
    for bad in "-_.!":
        broken = url[:at] + bad + url[at + 1 :]
        assert not _dataurl._canonical(broken, start)
        with pytest.raises(ImageError, match="invalid base64"):
            Image.from_url(broken, check=False)
    edge = _dataurl._CHUNK - 1  # the last character of the first slice
    if len(url) > _dataurl._WHOLE:
        assert not _dataurl._canonical(url[:edge] + "-" + url[edge + 1 :], start)


def test_equal_images_from_both_paths() -> None:
    """An Image from a data URL equals the one from its bytes with the same source."""
    data = make_png(30, 30, seed=9)
    fast = Image.from_url("data:image/png;base64," + base64.b64encode(data).decode())
    assert fast == Image.from_bytes(data, name="<data URL>")
    assert hash(fast) == hash(Image.from_bytes(data, name="<data URL>"))


def test_kept_text_survives_pickle_and_deepcopy() -> None:
    """An Image holding base64 text pickles and deep-copies equal, text kept."""
    import copy
    import pickle

    data = make_png(20, 30, seed=2)
    image = Image.from_url("data:image/png;base64," + base64.b64encode(data).decode())
    for again in (pickle.loads(pickle.dumps(image)), copy.deepcopy(image)):
        assert again == image and again.base64_bytes() == image.base64_bytes()
        assert again.data == data


async def test_large_data_url_reaches_the_server_unchanged(client: object) -> None:
    """A 600 KB data URL sent through the client arrives byte for byte (spliced, not re-encoded)."""
    import hashlib

    import doubao_vision as dv

    assert isinstance(client, dv.AsyncClient)
    data = make_png_of_size(600_000, seed=11)
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]
    completion = await client.chat("doubao-1-5-vision-pro-250328", messages)
    text = completion.choices[0].message.content or ""
    assert f"{len(data)} bytes sha256:{hashlib.sha256(data).hexdigest()[:12]}" in text


def test_data_url_keeps_the_users_str_not_a_copy() -> None:
    """The Image holds the user's own str (no bytes copy lives with the request), and
    data_url() hands it back as it is when its head is already the canonical one."""
    data = make_png(30, 20, seed=6)
    text = base64.b64encode(data).decode()
    url = "data:image/png;base64," + text
    image = Image.from_url(url)
    assert image._b64 is url and image.data_url() is url
    assert b"".join(image.base64_chunks()) == image.base64_bytes() == text.encode()
    alias = Image.from_url("data:image/PNG;base64," + text)
    assert alias.data_url() == url == _slow_data_url(url).data_url()


def test_bodies_carry_the_users_text_byte_for_byte() -> None:
    """A body with a kept data URL is byte-identical to the body of the same image from
    bytes and to orjson's encoding of the URL as a str, joined small or spliced large."""
    data = make_png(50, 40, seed=7)
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    kept = Image.from_url(url)
    payload = {"a": [{"url": kept}, "x"], "b": '\u00e9"\n'}
    body = encode_body(payload)
    assert isinstance(body, bytes)
    assert body == encode_body({**payload, "a": [{"url": Image.from_bytes(data)}, "x"]})
    assert body == orjson.dumps({**payload, "a": [{"url": url}, "x"]})
    big = make_png_of_size(150_000, seed=8)
    big_url = "data:image/png;base64," + base64.b64encode(big).decode()
    two = [Image.from_url(big_url), Image.from_url(big_url)]
    spliced = encode_body({"images": two})
    assert isinstance(spliced, SplicedJSONPayload)
    assert spliced.decode().encode() == orjson.dumps({"images": [big_url, big_url]})


async def test_small_data_url_dict_reaches_the_server_unchanged(client: object) -> None:
    """A small data URL in an OpenAI-style dict (the hand-built message path, the joined
    body) arrives byte for byte, and the caller's message is left as it was."""
    import copy
    import hashlib

    import doubao_vision as dv

    assert isinstance(client, dv.AsyncClient)
    data = make_png(64, 48, seed=12)
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    messages = [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
            ],
        },
    ]
    before = copy.deepcopy(messages)
    completion = await client.chat("doubao-1-5-vision-pro-250328", messages)
    text = completion.choices[0].message.content or ""
    assert f"{len(data)} bytes sha256:{hashlib.sha256(data).hexdigest()[:12]}" in text
    assert messages == before
