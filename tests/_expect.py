"""What the emulator answers about an image, computed independently in the test."""

from __future__ import annotations

import hashlib

from doubao_vision._images import inspect_image


def image_line(index: int, data: bytes) -> str:
    info = inspect_image(data)
    sha = hashlib.sha256(data).hexdigest()[:12]
    return f"image {index}: {info.format} {info.width}x{info.height} {len(data)} bytes sha256:{sha}"


def answer(prompt: str, *images: bytes) -> str:
    lines = [f"prompt: {prompt}"] if prompt else []
    lines += [image_line(i, data) for i, data in enumerate(images, 1)]
    return "\n".join(lines)
