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


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("image", "fmt", "options", "alpha"),
    [
        (Image.new("RGBA", (8, 8)), "PNG", {}, True),
        (Image.new("LA", (8, 8)), "PNG", {}, True),
        (Image.new("RGB", (8, 8)), "PNG", {}, False),
        (Image.new("P", (8, 8)), "PNG", {"transparency": 0}, True),
        (Image.new("P", (8, 8)), "PNG", {}, False),
        (Image.new("RGB", (8, 8)), "JPEG", {}, False),
        (Image.new("RGBA", (8, 8)), "WEBP", {"lossless": True}, True),
        (Image.new("RGBA", (8, 8)), "WEBP", {"quality": 80}, True),
        (Image.new("RGB", (8, 8)), "WEBP", {"lossless": True}, False),
        (Image.new("RGB", (8, 8)), "WEBP", {"quality": 80}, False),
    ],
)
def test_the_alpha_channel_is_read_from_the_header(image, fmt, options, alpha):
    assert inspect(_encoded(image, fmt, **options)).alpha is alpha
