"""Deterministic stand-in images for the Bedrock emulator, clearly labelled as emulated.

No text-to-image weights can run here, so the emulator draws a picture derived from a hash of
prompt and seed: the same inputs give the same bytes, different seeds give different images.
A model that makes several images from one seed (Titan, Nova) gets a distinct picture per index.
Edits (``devstack.edit_render``) paint parts of the same ``picture`` and share ``encode``.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont, ImageOps, PngImagePlugin

LABEL = "EMULATED IMAGE - imagegen local Bedrock emulator, not a real model"
_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


@lru_cache(maxsize=32)
def render(
    prompt: str, seed: int, width: int, height: int, image_format: str, index: int = 0
) -> bytes:
    """Render ``width`` x ``height`` in ``image_format`` ("png", "jpeg" or "webp").

    ``index`` numbers the images of one multi-image call; index 0 is the single-image picture.
    """
    return encode(picture(prompt, seed, width, height, index), image_format)


def picture(prompt: str, seed: int, width: int, height: int, index: int = 0) -> Image.Image:
    """The labelled RGB picture ``render`` encodes; edits paint parts of it into their inputs."""
    key = f"{seed}\x00{prompt}" if index == 0 else f"{seed}\x00{index}\x00{prompt}"
    digest = hashlib.sha256(key.encode()).digest()
    top, bottom = tuple(digest[0:3]), tuple(digest[3:6])
    gradient = Image.linear_gradient("L").resize((width, height))
    image = ImageOps.colorize(gradient, black=top, white=bottom)
    draw = ImageDraw.Draw(image)
    for i in range(6):
        b = digest[6 + i * 4 : 10 + i * 4]
        cx, cy = b[0] * width // 255, b[1] * height // 255
        r = (b[2] % 64 + 16) * min(width, height) // 320
        draw.ellipse(
            (cx - r, cy - r, cx + r, cy + r), fill=(b[3], b[0], b[2]), outline=(255, 255, 255)
        )
    caption = f"seed {seed}  {width}x{height}" + (f"  image {index + 1}" if index else "")
    label(image, [caption, *textwrap.wrap(prompt, 60)[:6]])
    return image


def label(image: Image.Image, lines: list[str]) -> None:
    """Write ``LABEL`` and ``lines`` in the top-left corner, white on a black outline."""
    font = ImageFont.load_default(size=max(12, image.width // 48))
    ImageDraw.Draw(image).multiline_text(
        (image.width // 40, image.height // 40),
        "\n".join([LABEL, *lines]),
        fill=(255, 255, 255),
        font=font,
        stroke_width=2,
        stroke_fill=(0, 0, 0),
    )


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    """``image`` as PNG (with the label as its Software text) or as JPEG / WebP at quality 85."""
    out = io.BytesIO()
    if image_format == "png":
        info = PngImagePlugin.PngInfo()
        info.add_text("Software", LABEL)
        image.save(out, "PNG", pnginfo=info, compress_level=1, **options)
    else:
        image.save(out, _PIL_FORMATS[image_format], quality=85, **options)
    return out.getvalue()
