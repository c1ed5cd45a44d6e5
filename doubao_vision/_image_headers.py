"""Image headers: sniff the format and read the size, the way the decoders do.

Only headers are read (a JPEG's marker chain, a TIFF's first IFD, an ICO's
directory) and the buffer is never copied, because the emulator runs this on
every image of every request. Each parser follows the reference decoder
(libjpeg, libpng, libwebp, libtiff, Pillow's BMP and ICO readers) on what it
tolerates and what it refuses, so an image Pillow can open is not refused here
and a header that cannot describe an image is never accepted with no size.

Every read past the end of the buffer raises :class:`Truncated`; nothing ever
answers from a partial header. The data-URL fast path relies on that: it
parses a decoded prefix and takes any answer that is not ``Truncated`` as the
answer for the whole image.
"""

from __future__ import annotations

import struct

import attrs

__all__ = ["BadHeader", "ImageInfo", "Truncated", "parse_header", "sniff"]

_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevm", b"hevs"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"heif"})
# SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG), CC (DAC) share the range, not the role.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM, RST0..7, SOI (libjpeg's next_marker steps over them).
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8), 0xD8})
# 0x02..0xBF are reserved: libjpeg stops with "Unsupported marker type".
_JPEG_RESERVED = frozenset(range(0x02, 0xC0))
# Pillow's BMP reader: these DIB header sizes exist; anything else is not a BMP.
_BMP_HEADERS = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
# Bit counts that exist (0: the pixels are an embedded JPEG or PNG).
_BMP_BITS = frozenset({0, 1, 2, 4, 8, 16, 24, 32, 64})
_BMP_MAX_COLORS = 65536  # Pillow's "Unsupported BMP Palette size" bound


class BadHeader(Exception):
    """A header that names a format but cannot be parsed (carries the reason)."""


class Truncated(BadHeader):
    """A header field lies past the end of the buffer."""


@attrs.frozen
class ImageInfo:
    """What the headers say: a format name from ``FORMATS`` and the size, if known."""

    format: str
    width: int | None
    height: int | None


_Size = tuple[int | None, int | None]


def _unpack(fmt: str, buf: memoryview, offset: int) -> tuple[int, ...]:
    if offset < 0 or offset + struct.calcsize(fmt) > len(buf):
        raise Truncated
    return struct.unpack_from(fmt, buf, offset)


def _png(buf: memoryview) -> _Size:
    if bytes(buf[12:16]) != b"IHDR":
        raise Truncated if len(buf) < 16 else BadHeader("it does not start with IHDR")
    width, height = _unpack(">II", buf, 16)
    return width, height


def _jpeg(buf: memoryview) -> _Size:
    """Walk the markers as libjpeg's ``next_marker`` does.

    Junk bytes (anything but 0xFF) are skipped, runs of 0xFF fill bytes are
    skipped, and ``FF 00`` (a stuffed byte) is junk too; so a segment whose
    length is off lands on junk and the scan resynchronises at the next marker.
    """
    pos, end = 2, len(buf)
    while True:
        # Find 0xFF followed by a byte that is neither 0xFF nor 0x00.
        while True:
            while pos < end and buf[pos] != 0xFF:
                # Junk: search a window at a time (a memoryview has no find()).
                found = bytes(buf[pos : pos + 4096]).find(b"\xff")
                pos = min(end, pos + 4096) if found < 0 else pos + found
            while pos < end and buf[pos] == 0xFF:
                pos += 1
            if pos >= end:
                raise Truncated
            if buf[pos] != 0x00:
                break
            pos += 1
        marker = buf[pos]
        if marker in _JPEG_STANDALONE:
            pos += 1
            continue
        if marker in (0xD9, 0xDA):  # EOI or SOS before any frame header
            raise BadHeader("it has no JPEG frame header")
        if marker in _JPEG_RESERVED:
            raise BadHeader(f"unknown JPEG marker 0x{marker:02X} at byte {pos}")
        (length,) = _unpack(">H", buf, pos + 1)
        if marker in _JPEG_SOF:
            if length < 8:
                raise BadHeader(f"JPEG frame header length {length}")
            height, width = _unpack(">HH", buf, pos + 4)
            if width == 0:
                raise BadHeader("JPEG frame width 0")
            return width, height or None  # height 0 is set later by a DNL marker
        if length < 2:
            raise BadHeader(f"JPEG segment length {length} at byte {pos + 1}")
        pos += 1 + length


def _gif(buf: memoryview) -> _Size:
    """The logical screen, grown to hold the first frame (as Pillow sizes a GIF)."""
    width, height, flags = _unpack("<HHB", buf, 6)
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # skip the global colour table
    while True:
        (block,) = _unpack("B", buf, pos)
        if block == 0x2C:  # the first image descriptor
            left, top, w, h = _unpack("<HHHH", buf, pos + 1)
            return max(width, left + w), max(height, top + h)
        if block != 0x21:  # the trailer (or junk) before any frame
            raise BadHeader(f"GIF block 0x{block:02X} before the first frame")
        pos += 2  # extension introducer and label, then sub-blocks up to a 0 length
        while True:
            (length,) = _unpack("B", buf, pos)
            pos += 1 + length
            if not length:
                break


def _webp(buf: memoryview) -> _Size:
    if len(buf) < 16:
        raise Truncated
    chunk = bytes(buf[12:16])
    if chunk == b"VP8 ":
        if len(buf) < 26:
            raise Truncated
        if bytes(buf[23:26]) != b"\x9d\x01\x2a":
            raise BadHeader("the VP8 frame has no start code")
        width, height = _unpack("<HH", buf, 26)
        return width & 0x3FFF, height & 0x3FFF  # the top 2 bits are a scale
    if chunk == b"VP8L":
        (signature, bits) = _unpack("<BI", buf, 20)
        if signature != 0x2F:
            raise BadHeader("the VP8L chunk has no signature byte")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        w0, w1, w2, h0, h1, h2 = _unpack("<6B", buf, 24)
        return (w0 | w1 << 8 | w2 << 16) + 1, (h0 | h1 << 8 | h2 << 16) + 1
    # libwebp refuses a file whose first chunk is none of the three.
    raise BadHeader(f"the first WebP chunk is {chunk!r}, not VP8, VP8L or VP8X")


def _bmp(buf: memoryview) -> _Size:
    (header_size,) = _unpack("<I", buf, 14)
    if header_size not in _BMP_HEADERS:
        raise BadHeader(f"DIB header size {header_size}")
    if header_size == 12:  # the old BITMAPCOREHEADER: unsigned 16-bit sides
        width, height, _planes, bits = _unpack("<HHHH", buf, 18)
    else:
        width, height, _planes, bits = _unpack("<iiHH", buf, 18)
    if bits not in _BMP_BITS:
        raise BadHeader(f"bit count {bits}")
    if header_size >= 40:
        (colors,) = _unpack("<I", buf, 46)
        if bits <= 8 and colors > _BMP_MAX_COLORS:
            raise BadHeader(f"palette size {colors}")
    if width <= 0:
        raise BadHeader(f"width {width}")
    return width, abs(height)  # a negative height means rows run top-down


def _tiff(buf: memoryview) -> _Size:
    e = "<" if buf[0] == 0x49 else ">"  # II: little-endian, MM: big-endian
    (version,) = _unpack(e + "H", buf, 2)
    if version == 43:  # BigTIFF: 64-bit offsets and counts, 20-byte entries
        offset_size, _zero, ifd = _unpack(e + "HHQ", buf, 4)
        if offset_size != 8:
            raise BadHeader(f"BigTIFF offset size {offset_size}")
        (count,) = _unpack(e + "Q", buf, ifd)
        first, step, head, slot = ifd + 8, 20, e + "HHQ", 8
        kinds = {3: "H", 4: "I", 16: "Q"}
    else:
        (ifd,) = _unpack(e + "I", buf, 4)
        (count,) = _unpack(e + "H", buf, ifd)
        first, step, head, slot = ifd + 2, 12, e + "HHI", 4
        kinds = {3: "H", 4: "I"}
    sides: dict[int, int] = {}
    for entry in range(first, first + step * count, step):
        tag, kind, values = _unpack(head, buf, entry)
        if tag in (256, 257) and kind in kinds and values:  # ImageWidth/ImageLength
            at = entry + step - slot
            if values * struct.calcsize(kinds[kind]) > slot:  # the values live elsewhere
                (at,) = _unpack(e + ("Q" if slot == 8 else "I"), buf, at)
            (sides[tag],) = _unpack(e + kinds[kind], buf, at)  # the first value counts
            if len(sides) == 2:
                break
    if len(sides) != 2:
        raise BadHeader("the first IFD has no ImageWidth and ImageLength")
    return sides[256], sides[257]


def _ico(buf: memoryview) -> _Size:
    """The largest icon's size, as Pillow opens it: an embedded PNG's own, else the entry's."""
    (count,) = _unpack("<H", buf, 4)
    best, best_at = (0, 0), 0
    for entry in range(6, 6 + 16 * count, 16):
        w, h = _unpack("<BB", buf, entry)
        (offset,) = _unpack("<I", buf, entry + 12)  # the whole directory entry must be there
        size = (w or 256, h or 256)  # 0 means 256
        if size[0] * size[1] > best[0] * best[1]:
            best, best_at = size, offset
    if bytes(buf[best_at : best_at + 8]) == b"\x89PNG\r\n\x1a\n":
        return _png(buf[best_at:])
    if best_at + 8 > len(buf):
        raise Truncated
    return best


def _box(buf: memoryview, pos: int, end: int) -> tuple[bytes, int, int]:
    """``(type, body start, box end)`` of the ISO-BMFF box at ``pos``."""
    (size,) = _unpack(">I", buf, pos)
    _unpack(">I", buf, pos + 4)  # the type must be there too
    kind = bytes(buf[pos + 4 : pos + 8])
    body = pos + 8
    if size == 1:  # a 64-bit size follows the type
        (size,) = _unpack(">Q", buf, pos + 8)
        body += 8
    elif size == 0:  # to the end of the enclosing box
        size = end - pos
    if size < body - pos:
        raise BadHeader(f"box {kind!r} of size {size}")
    return kind, body, pos + size


def _boxes(buf: memoryview, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """Boxes from ``start`` to ``end``: type -> (body start, box end), the first of each kept."""
    found: dict[bytes, tuple[int, int]] = {}
    pos = start
    while pos < end:
        kind, body, pos_end = _box(buf, pos, end)
        found.setdefault(kind, (body, pos_end))
        pos = pos_end
    return found


def _meta(buf: memoryview) -> tuple[int, int]:
    """The top-level meta box (an mdat before it may be huge: only its header is read)."""
    pos = 0
    while True:
        kind, body, end = _box(buf, pos, len(buf))
        if kind == b"meta":
            if end > len(buf):
                raise Truncated
            return body, end
        pos = end


def _heif(buf: memoryview) -> _Size:
    """The primary item's ``ispe`` (image spatial extents), cropped by ``clap``, turned by
    ``irot``: the size libheif (and pillow-heif) decode to.

    The path is meta -> pitm (the primary item), iprp -> ipco (properties, 1-based)
    and ipma (which properties belong to which item).
    """
    meta_start, meta_end = _meta(buf)
    meta = _boxes(buf, meta_start + 4, meta_end)  # meta is a full box: skip version/flags
    if b"pitm" not in meta or b"iprp" not in meta:
        raise BadHeader("the meta box has no primary item or properties")
    pitm = meta[b"pitm"][0]
    (version,) = _unpack("B", buf, pitm)
    (primary,) = _unpack(">H" if version == 0 else ">I", buf, pitm + 4)
    iprp = _boxes(buf, *meta[b"iprp"])
    if b"ipco" not in iprp or b"ipma" not in iprp:
        raise BadHeader("the iprp box has no ipco or ipma")
    properties: list[tuple[bytes, int]] = []
    pos, end = iprp[b"ipco"]
    while pos < end:
        kind, body, pos = _box(buf, pos, end)
        properties.append((kind, body))
    ipma = iprp[b"ipma"][0]
    version, flags_low, count = _unpack(">B2xBI", buf, ipma)
    wide = flags_low & 1
    pos = ipma + 8
    for _ in range(count):
        (item,) = _unpack(">H" if version < 1 else ">I", buf, pos)
        pos += 2 if version < 1 else 4
        (links,) = _unpack("B", buf, pos)
        pos += 1
        indices = []
        for _ in range(links):
            (value,) = _unpack(">H" if wide else "B", buf, pos)
            pos += 2 if wide else 1
            indices.append(value & (0x7FFF if wide else 0x7F))
        if item == primary:
            return _item_size(buf, properties, indices)
    raise BadHeader(f"no properties for the primary item {primary}")


def _item_size(buf: memoryview, properties: list[tuple[bytes, int]], indices: list[int]) -> _Size:
    width = height = turn = 0
    for index in indices:
        if not 1 <= index <= len(properties):
            raise BadHeader(f"property index {index}")
        kind, at = properties[index - 1]
        if kind == b"ispe":
            width, height = _unpack(">II", buf, at + 4)
        elif kind == b"clap":  # the clean aperture: encoders pad, then crop back
            w_num, w_den, h_num, h_den = _unpack(">IIII", buf, at)
            if not w_den or not h_den:
                raise BadHeader("clap with a zero denominator")
            width, height = (w_num + w_den // 2) // w_den, (h_num + h_den // 2) // h_den
        elif kind == b"irot":
            (angle,) = _unpack("B", buf, at)
            turn += angle & 3
    if not width or not height:
        raise BadHeader("the primary item has no ispe")
    return (height, width) if turn & 1 else (width, height)


_PARSERS = {
    "jpeg": _jpeg,
    "png": _png,
    "gif": _gif,
    "webp": _webp,
    "bmp": _bmp,
    "tiff": _tiff,
    "ico": _ico,
    "heic": _heif,
    "heif": _heif,
}


def _heif_kind(head: bytes) -> str | None:
    major = head[8:12]
    if major in _HEIC_BRANDS:
        return "heic"
    if major not in _HEIF_BRANDS:
        return None
    # A "mif1" file that lists an HEVC brand among its compatible brands is HEIC in practice.
    box_size = int.from_bytes(head[:4], "big")
    brands = head[16 : min(box_size, len(head))]
    if any(brands[i : i + 4] in _HEIC_BRANDS for i in range(0, len(brands) - 3, 4)):
        return "heic"
    return "heif"


def sniff(head: bytes) -> str | None:
    """The format named by the magic bytes at the start of ``head`` (64 bytes suffice)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM"):
        return "bmp"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "tiff"
    if head.startswith(b"\x00\x00\x01\x00") and head[4:6] not in (b"", b"\x00\x00"):
        return "ico"  # the image count after the magic is at least 1
    if head[4:8] == b"ftyp":
        return _heif_kind(head)
    return None


def parse_header(fmt: str, buf: memoryview) -> _Size:
    """The size ``fmt``'s header gives (the height may be ``None`` for a JPEG with DNL).

    Raises:
        Truncated: the header runs past the end of ``buf``.
        BadHeader: the header is corrupt.
    """
    return _PARSERS[fmt](buf)
