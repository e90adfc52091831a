"""Deterministic stand-in images for the Bedrock emulator, clearly labelled as emulated.

No text-to-image weights can run here, so the emulator draws a picture derived from a hash of
prompt and seed: the same inputs give the same bytes, different seeds give different images.
A model that makes several images from one seed (Titan, Nova) gets a distinct picture per index.
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
    font = ImageFont.load_default(size=max(12, width // 48))
    caption = f"seed {seed}  {width}x{height}" + (f"  image {index + 1}" if index else "")
    lines = [LABEL, caption, *textwrap.wrap(prompt, 60)[:6]]
    draw.multiline_text(
        (width // 40, height // 40),
        "\n".join(lines),
        fill=(255, 255, 255),
        font=font,
        stroke_width=2,
        stroke_fill=(0, 0, 0),
    )
    out = io.BytesIO()
    if image_format == "png":
        info = PngImagePlugin.PngInfo()
        info.add_text("Software", LABEL)
        image.save(out, "PNG", pnginfo=info, compress_level=1)
    else:
        image.save(out, _PIL_FORMATS[image_format], quality=85)
    return out.getvalue()
