"""OpenAI-compatible edits (multipart) through the local gateway -> handler -> emulator -> S3,
driven by the official ``openai`` SDK and by Open WebUI's exact form."""

from __future__ import annotations

import base64
import io
import json
import random

import openai
import pytest
import urllib3
from PIL import Image, ImageChops

from devstack.stack import LocalStack
from tests.conftest import http

SIZE = (512, 384)
HOLE = (100, 100, 200, 180)  # the mask's transparent box: the area to change


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def photo() -> bytes:
    return png(Image.new("RGB", SIZE, "steelblue"))


def openai_mask(size: tuple[int, int] = SIZE, box=HOLE) -> bytes:
    """OpenAI's convention: opaque keeps, transparent (alpha 0) marks the area to edit."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    return png(mask)


def decoded(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


@pytest.fixture(scope="module")
def api():
    with LocalStack(env={"IMAGEGEN_LOG_LEVEL": "WARNING"}) as running:
        yield running


@pytest.fixture(scope="module")
def client(api) -> openai.OpenAI:
    with openai.OpenAI(base_url=f"{api.url}/v1", api_key="unused-locally", max_retries=0) as c:
        yield c


def test_a_mask_inpaints_exactly_its_transparent_area(client):
    answer = client.images.edit(
        image=("photo.png", photo(), "image/png"),
        mask=("mask.png", openai_mask(), "image/png"),
        prompt="a red door",
    )
    assert answer.model_extra["imagegen"]["operation"] == "inpaint"
    edited = decoded(answer.data[0].b64_json).convert("RGB")
    assert edited.size == SIZE
    changed = ImageChops.difference(edited, Image.open(io.BytesIO(photo())).convert("RGB"))
    left, top, right, bottom = changed.getbbox()
    grow = 5 + 1  # the inpaint service's default grow_mask, and its soft edge
    assert HOLE[0] - grow <= left and HOLE[1] - grow <= top
    assert right <= HOLE[2] + grow and bottom <= HOLE[3] + grow
    inside = changed.crop(HOLE).convert("L")
    assert sum(inside.histogram()[:1]) < inside.width * inside.height / 2  # mostly changed


def test_without_a_mask_the_edit_is_image_to_image(client):
    answer = client.images.edit(image=("photo.png", photo(), "image/png"), prompt="at night")
    assert answer.model_extra["imagegen"]["operation"] == "image-to-image"
    assert decoded(answer.data[0].b64_json).format == "PNG"


def test_n_edits_and_url_answers(client):
    answer = client.images.edit(
        image=("photo.png", photo(), "image/png"),
        mask=("mask.png", openai_mask(), "image/png"),
        prompt="a red door",
        n=2,
        response_format="url",
    )
    assert len(answer.data) == 2
    downloads = [http("GET", item.url) for item in answer.data]
    assert [status for status, _, _ in downloads] == [200, 200]
    assert downloads[0][2] != downloads[1][2]  # consecutive seeds


@pytest.mark.parametrize(
    ("arguments", "param", "words"),
    [
        (
            {"mask": ("m.png", openai_mask((256, 256), (0, 0, 10, 10)), "image/png")},
            "mask",
            "same size",
        ),
        (
            {"mask": ("m.png", png(Image.new("RGB", SIZE, "white")), "image/png")},
            "mask",
            "transparen",
        ),
        ({"mask": ("m.png", openai_mask(box=(0, 0, 0, 0)), "image/png")}, "mask", "nothing"),
        ({"mask": ("m.jpg", b"\xff\xd8\xff\xe0not a png", "image/jpeg")}, "mask", "PNG"),
        (
            {"image": [("a.png", photo(), "image/png"), ("b.png", photo(), "image/png")]},
            "image[]",
            "one 'image'",
        ),
        ({"image": ("a.txt", b"hello", "text/plain")}, "image", "cannot be used"),
        ({"model": "dall-e-2"}, "model", "choose one of"),
        ({"n": 9}, "n", "between 1 and 4"),
    ],
)
def test_bad_edits_are_bad_request_errors_naming_the_param(client, arguments, param, words):
    call = {"image": ("photo.png", photo(), "image/png"), "prompt": "a door", **arguments}
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(**call)
    error = caught.value.body
    assert (error["param"], error["type"]) == (param, "invalid_request_error")
    assert words in error["message"]


def test_a_json_body_is_415_naming_the_content_type(api):
    status, _, raw = http(
        "POST",
        f"{api.url}/v1/images/edits",
        b'{"prompt": "x"}',
        {"Content-Type": "application/json"},
    )
    error = json.loads(raw)["error"]
    assert (status, error["param"], error["code"]) == (
        415,
        "Content-Type",
        "unsupported_media_type",
    )


def test_open_webui_edit_request_replayed(api):
    """Open WebUI's edit (routers/images.py, engine "openai"): an aiohttp form of model, prompt,
    size and response_format fields, then the image as ``image`` with a uuid .png name and its
    MIME type, a Bearer header; it decodes data[i]["b64_json"]."""
    fields = [
        ("model", "stable-image-core"),
        ("prompt", "make it autumn"),
        ("size", "512x384"),
        ("response_format", "b64_json"),
        ("image", ("0b3c1d2e-5f60-4a7b-8c9d-0e1f2a3b4c5d.png", photo(), "image/png")),
    ]
    body, content_type = urllib3.encode_multipart_formdata(fields)
    headers = {"Authorization": "Bearer sk-anything", "Content-Type": content_type}
    status, _, raw = http("POST", f"{api.url}/v1/images/edits", body, headers)
    assert status == 200, raw[:300]
    answer = json.loads(raw)
    assert decoded(answer["data"][0]["b64_json"]).format == "PNG"
    assert any("size 512x384 is not used" in note for note in answer["imagegen"]["notes"])


def test_base64_over_lambdas_6_mb_answer_is_a_400_listing_the_images(client):
    """A noisy 1400x1400 photo inpainted as PNG is about 5.9 MB, 7.8 MB as base64: more than a
    Lambda answer carries. As a URL the same edit is answered."""
    rng = random.Random(7)
    noisy = Image.frombytes("RGB", (1400, 1400), rng.randbytes(1400 * 1400 * 3))
    out = io.BytesIO()
    noisy.save(out, "JPEG", quality=60)
    arguments = {
        "image": ("noise.jpg", out.getvalue(), "image/jpeg"),
        "mask": ("mask.png", openai_mask((1400, 1400), (0, 0, 64, 64)), "image/png"),
        "prompt": "a small bird",
        "extra_body": {"output_format": "png"},
    }
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(**arguments)
    error = caught.value.body
    assert (error["code"], error["param"]) == ("response_too_large", "response_format")
    assert "'url'" in error["message"]
    assert http("GET", error["images"][0]["url"])[0] == 200
    answer = client.images.edit(**arguments, response_format="url")
    assert http("GET", answer.data[0].url)[0] == 200


def test_without_a_mask_a_transparent_image_is_its_own_mask(client):
    """OpenAI: "If mask is not provided, image must have transparency, which will be used as
    the mask" - DALL-E 2 tutorials send such images."""
    holed = Image.new("RGBA", SIZE, (70, 130, 180, 255))
    holed.paste((0, 0, 0, 0), HOLE)
    answer = client.images.edit(image=("holed.png", png(holed), "image/png"), prompt="a door")
    ours = answer.model_extra["imagegen"]
    assert ours["operation"] == "inpaint"
    assert any("transparent pixels are the area" in note for note in ours["notes"])
    edited = decoded(answer.data[0].b64_json).convert("RGB")
    outside = (HOLE[2] + 10, HOLE[3] + 10, SIZE[0], SIZE[1])
    assert [color for _, color in edited.crop(outside).getcolors()] == [(70, 130, 180)]


def test_an_opaque_image_with_an_alpha_channel_is_redrawn(client):
    opaque = png(Image.new("RGBA", SIZE, (70, 130, 180, 255)))
    answer = client.images.edit(image=("o.png", opaque, "image/png"), prompt="at night")
    assert answer.model_extra["imagegen"]["operation"] == "image-to-image"


def test_a_generation_model_named_for_an_edit_is_noted(client):
    answer = client.images.edit(
        image=("photo.png", photo(), "image/png"),
        mask=("mask.png", openai_mask(), "image/png"),
        prompt="a door",
        model="stable-image-core",
    )
    notes = answer.model_extra["imagegen"]["notes"]
    assert any("edits run inpaint (stable-image-inpaint)" in note for note in notes)
