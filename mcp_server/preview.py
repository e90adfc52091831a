"""Small inline previews: clients cap tool results (about 1 MB) and some refuse big images."""

from __future__ import annotations

import io

from PIL import Image

PREVIEW_MAX_SIDE = 512


def make_preview(data: bytes, max_side: int = PREVIEW_MAX_SIDE) -> tuple[bytes, str]:
    """Downscale to at most ``max_side`` px and encode as JPEG (PNG if there is transparency)."""
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((max_side, max_side))
        out = io.BytesIO()
        if image.mode in ("RGBA", "LA", "P"):
            image.save(out, "PNG", optimize=True)
            return out.getvalue(), "image/png"
        image.convert("RGB").save(out, "JPEG", quality=80)
        return out.getvalue(), "image/jpeg"
