import io

import pytest
from PIL import Image

from service.imageinfo import NotAnImage, inspect


def encode(fmt: str, size=(320, 200), **kwargs) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(out, fmt, **kwargs)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "name", "kwargs"),
    [
        ("PNG", "png", {}),
        ("JPEG", "jpeg", {}),
        ("WEBP", "webp", {}),
        ("WEBP", "webp", {"lossless": True}),
    ],
)
def test_reads_format_and_size_from_the_header(fmt, name, kwargs):
    info = inspect(encode(fmt, **kwargs))
    assert (info.format, info.width, info.height) == (name, 320, 200)


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"])
def test_rejects_data_that_is_not_a_readable_image(data):
    with pytest.raises(NotAnImage):
        inspect(data)
