"""A Bedrock Runtime emulator speaking the real wire format: ``POST /model/{modelId}/invoke``.

boto3 reaches it through ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, so ``service`` runs unchanged.
What it accepts comes only from ``bedrock_models.json`` (AWS's documentation, cited per fact),
never from the service's catalogue: a catalogue mistake fails here as it would on AWS. It renders
labelled stand-in images (``devstack.render``), decodes input images and applies the editing
services' visible effects to them (``devstack.edit_render``), and can inject faults and latency.

Control endpoints (local only): ``POST /_emulator/config`` with
``{"faults": ["throttle", ...], "latency_seconds": 0.2}`` queues one fault per coming call;
``GET /_emulator/stats`` returns call counts.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import secrets
import threading
import uuid
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from PIL import Image

from devstack import edit_render
from devstack.background import BackgroundHTTPServer
from devstack.render import render

DATA_PATH = Path(__file__).with_name("bedrock_models.json")
FAULTS = (
    "throttle",  # 429 ThrottlingException
    "hang",  # never answers until the emulator stops (or hang_seconds pass), then 408
    "content_filter",  # the family's documented "output image blocked" answer
    "server_error",  # 500 InternalServerException
    "model_error",  # 424 ModelErrorException
    "unavailable",  # 503 ServiceUnavailableException
    "access_denied",  # 403 AccessDeniedException
    "rejected",  # 400 ValidationException "Malformed input request: ..." for a valid body
    "malformed",  # 200 with a body that is not JSON
    "bad_base64",  # 200 with an image field that is not base64
    "not_image",  # 200 with valid base64 that is not an image
    "empty",  # 200 with an empty image list
)
# Faults that are plain Bedrock errors, by the exception they raise.
FAULT_ERRORS = {
    "throttle": "ThrottlingException",
    "server_error": "InternalServerException",
    "model_error": "ModelErrorException",
    "unavailable": "ServiceUnavailableException",
    "access_denied": "AccessDeniedException",
}
FILTER_WORD = "forbidden"  # prompts containing it are blocked, as banned words are on Bedrock
PROMPT_FIELDS = ("prompt", "search_prompt", "select_prompt")  # where the filter looks
BENCHMARK_PROMPT = "imagegen benchmark image"  # constant_images draws only this
_UNREADABLE = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
_INVOKE = re.compile(r"^/model/(?P<model>[^/]+)/invoke$")
_CREDENTIAL_REGION = re.compile(r"Credential=[^/]+/\d+/([^/]+)/")
_TYPE_NAMES = {
    "object": "JSONObject",
    "array": "JSONArray",
    "string": "String",
    "integer": "Integer",
    "number": "Number",
    "boolean": "Boolean",
}


class BedrockError(Exception):
    """A Bedrock error answer: status, ``x-amzn-ErrorType`` code and the JSON body's fields."""

    def __init__(self, status: int, code: str, message: str, **fields: object) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


# ---- AWS's rules, as data ---------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRules:
    """One model's documented rules; ``entry`` is its whole record in the data file.

    A cross-Region inference profile is a ``ModelRules`` of its own (``via_profile``): the same
    entry, offered in the profile's source Regions. ``input_images`` maps each base64 image field
    to its documented rule (formats, sides, pixels, aspect ratio).
    """

    id: str
    family: str
    regions: frozenset[str]
    end_of_life: date | None
    entry: dict[str, Any]
    input_images: dict[str, dict[str, Any]]
    via_profile: bool = False

    @property
    def request(self) -> dict[str, Any]:
        return self.entry["request"]

    def offered_in(self, region: str | None) -> bool:
        """Callable by this id in ``region`` (any Region it is offered in, when unsigned)."""
        return bool(self.regions) and (region is None or region in self.regions)


@dataclass(frozen=True)
class ApiRules:
    """InvokeModel's own constraints and Bedrock's error vocabulary."""

    model_id_lengths: tuple[int, int]
    model_id_pattern: re.Pattern[str]
    body_max_bytes: int
    content_type: str
    accept: str
    statuses: dict[str, int]
    descriptions: dict[str, str]
    messages: dict[str, Any]
    error_type_suffix: str

    def error(self, code: str, message: str | None = None, **fields: object) -> BedrockError:
        return BedrockError(self.statuses[code], code, message or self.descriptions[code], **fields)

    def malformed(self, violations: list[str]) -> BedrockError:
        text = self.messages["malformed"]["text"].format(violations="".join(violations))
        return self.error("ValidationException", text)

    def constraint(self, member: str, constraint: str) -> BedrockError:
        text = self.messages["api_constraint"]["text"].format(member=member, constraint=constraint)
        return self.error("ValidationException", text)


@lru_cache(maxsize=4)
def load_rules(path: Path = DATA_PATH) -> tuple[ApiRules, dict[str, ModelRules]]:
    """Read the documented rules once per file."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    invoke = raw["invoke_model"]
    errors = {k: v for k, v in invoke["errors"].items() if isinstance(v, dict)}
    api = ApiRules(
        model_id_lengths=(invoke["model_id"]["min_length"], invoke["model_id"]["max_length"]),
        model_id_pattern=re.compile(invoke["model_id"]["pattern"]),
        body_max_bytes=invoke["body_max_bytes"],
        content_type=invoke["content_type"]["value"],
        accept=invoke["accept"]["default"],
        statuses={code: e["status"] for code, e in errors.items()},
        descriptions={code: e["description"] for code, e in errors.items()},
        messages=invoke["messages"],
        error_type_suffix=invoke["error_wire"]["header_value"].removeprefix("{code}"),
    )
    models = {
        model_id: _model_rules(model_id, entry, entry["regions"], raw["image_rules"])
        for model_id, entry in raw["models"].items()
    }
    for profile_id, profile in raw["inference_profiles"].items():
        entry = raw["models"][profile["model"]]
        models[profile_id] = _model_rules(
            profile_id, entry, profile["source_regions"], raw["image_rules"], via_profile=True
        )
    return api, models


def _model_rules(
    model_id: str,
    entry: dict[str, Any],
    regions: list[str],
    image_rules: dict[str, dict[str, Any]],
    *,
    via_profile: bool = False,
) -> ModelRules:
    fields = entry["request"].get("properties", {})
    return ModelRules(
        id=model_id,
        family=entry["family"],
        regions=frozenset(regions),
        end_of_life=_date(entry["lifecycle"]["end_of_life"]),
        entry=entry,
        input_images={
            key: image_rules[rule["image_rule"]]
            for key, rule in fields.items()
            if "image_rule" in rule
        },
        via_profile=via_profile,
    )


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


# ---- request bodies against the documented schema ---------------------------------------------


@dataclass
class Findings:
    """What a body breaks (Bedrock refuses it) and which documented inputs are not emulated."""

    violations: list[str] = field(default_factory=list)
    not_emulated: list[str] = field(default_factory=list)


def _is(kind: str, value: object) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "integer":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, int | float)
    python = {"object": dict, "array": list, "string": str, "boolean": bool}[kind]
    return isinstance(value, python)


def _found(value: object) -> str:
    for kind in ("boolean", "integer", "number", "string", "array", "object"):
        if _is(kind, value):
            return _TYPE_NAMES[kind]
    return "Null"


def _shown(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def check(schema: Mapping[str, Any], value: object, say: Mapping[str, str]) -> Findings:
    """Walk ``value`` against a JSON-Schema subset; ``say`` holds Bedrock's message formats."""
    found = Findings()
    _walk(schema, value, "#", say, found)
    return found


def _walk(
    schema: Mapping[str, Any], value: object, path: str, say: Mapping[str, str], out: Findings
) -> None:
    kind = schema.get("type")
    if kind and not _is(kind, value):
        out.violations.append(
            say["type"].format(path=path, expected=_TYPE_NAMES[kind], found=_found(value))
        )
        return
    if "not_emulated" in schema:
        out.not_emulated.append(f"{path}: {schema['not_emulated']}")
        return
    if "enum" in schema and value not in schema["enum"]:
        out.violations.append(say["enum"].format(path=path, value=_shown(value)))
        return
    if isinstance(value, str) and value in schema.get("not_emulated_values", {}):
        out.not_emulated.append(f"{path}: {schema['not_emulated_values'][value]}")
    _limits(schema, value, path, say, out)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _walk(schema["items"], item, f"{path}/{index}", say, out)
    if isinstance(value, dict):
        _object(schema, value, path, say, out)


def _limits(
    schema: Mapping[str, Any], value: object, path: str, say: Mapping[str, str], out: Findings
) -> None:
    checks = (
        ("minLength", str, lambda v: len(v), lambda n, lim: n < lim, "min_length"),
        ("maxLength", str, lambda v: len(v), lambda n, lim: n > lim, "max_length"),
        ("minItems", list, lambda v: len(v), lambda n, lim: n < lim, "min_items"),
        ("maxItems", list, lambda v: len(v), lambda n, lim: n > lim, "max_items"),
    )
    for key, python, measure, broken, message in checks:
        if key in schema and isinstance(value, python) and broken(measure(value), schema[key]):
            out.violations.append(
                say[message].format(path=path, limit=schema[key], actual=measure(value))
            )
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.violations.append(
                say["minimum"].format(path=path, value=_shown(value), limit=schema["minimum"])
            )
        if "maximum" in schema and value > schema["maximum"]:
            out.violations.append(
                say["maximum"].format(path=path, value=_shown(value), limit=schema["maximum"])
            )


def _object(
    schema: Mapping[str, Any], value: dict, path: str, say: Mapping[str, str], out: Findings
) -> None:
    properties = schema.get("properties", {})
    for key in schema.get("required", []):
        if key not in value:
            out.violations.append(say["required"].format(path=path, key=key))
    if schema.get("additionalProperties", True) is False:
        for key in value:
            if key not in properties:
                out.violations.append(say["extraneous"].format(path=path, key=key))
    for key, sub in properties.items():
        if key in value:
            _walk(sub, value[key], f"{path}/{key}", say, out)


def value_at(body: Mapping[str, Any], schema: Mapping[str, Any], keys: list[str]) -> Any:
    """The body's value at ``keys``, or the documented default when the body leaves it out."""
    node: Any = body
    for key in keys:
        schema = schema["properties"][key]
        node = node.get(key) if isinstance(node, dict) else None
    return schema.get("default") if node is None else node


def _size_problem(rule: Mapping[str, Any], width: int, height: int) -> str | None:
    """Why ``width`` x ``height`` breaks the model's documented size rule, if it does."""
    if rule["kind"] == "pairs":
        return None if [width, height] in rule["pairs"] else "not one of the documented sizes"
    lo, hi, step = rule["min_side"], rule["max_side"], rule["multiple_of"]
    if not (lo <= width <= hi and lo <= height <= hi):
        return f"each side must be {lo}-{hi} pixels"
    if width % step or height % step:
        return f"each side must be divisible by {step}"
    if not rule["min_ratio"] <= width / height <= rule["max_ratio"]:
        return f"the aspect ratio must be between {rule['min_ratio']} and {rule['max_ratio']}"
    if width * height >= rule["max_pixels_exclusive"]:
        return f"the pixel count must be less than {rule['max_pixels_exclusive']}"
    return None


def decode_image(
    value: str, rule: Mapping[str, Any], path: str, say: Mapping[str, str]
) -> tuple[Image.Image | None, str | None]:
    """The image a base64 field holds, or why the documented ``rule`` refuses it."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None, say["base64"].format(path=path)
    try:
        image = Image.open(io.BytesIO(raw))
    except _UNREADABLE:
        return None, say["not_image"].format(path=path)
    found = (image.format or "").lower()
    if rule["formats"] and found not in rule["formats"]:
        formats = ", ".join(rule["formats"])
        return None, say["image_format"].format(path=path, format=found, formats=formats)
    width, height = image.size
    problem = _input_size_problem(rule, width, height)
    if problem:
        return None, say["size"].format(path=path, width=width, height=height, rule=problem)
    try:
        image.load()
    except _UNREADABLE:
        return None, say["not_image"].format(path=path)
    return image, None


def _input_size_problem(rule: Mapping[str, Any], width: int, height: int) -> str | None:
    """Why an input image of ``width`` x ``height`` breaks its documented rule, if it does."""
    pixels = width * height
    if min(width, height) < rule.get("min_side", 0):
        return f"every side must be at least {rule['min_side']} pixels"
    if max(width, height) > rule.get("max_side", max(width, height)):
        return f"every side must be at most {rule['max_side']} pixels"
    if pixels < rule.get("min_pixels", 0):
        return f"the total pixel count must be at least {rule['min_pixels']}"
    if pixels > rule.get("max_pixels", pixels):
        return f"the total pixel count cannot exceed {rule['max_pixels']}"
    if "min_ratio" in rule and not rule["min_ratio"] <= width / height <= rule["max_ratio"]:
        return f"the aspect ratio must be between {rule['ratio_text']}"
    return None


def _faulty_image(fault: str | None) -> str | None:
    """The broken image field an injected fault asks for, if any."""
    if fault == "bad_base64":
        return "this is not base64!"
    if fault == "not_image":
        return base64.b64encode(b"definitely not an image").decode()
    return None


# ---- the models' behaviour ----------------------------------------------------------------------


class Emulator:
    """Model behaviour per family: validate the body by the documented rules, then answer."""

    def __init__(
        self,
        api: ApiRules,
        models: dict[str, ModelRules],
        *,
        serve_retired: bool,
        constant_images: bool,
        today: date | None,
    ) -> None:
        self.api, self.models = api, models
        self.serve_retired = serve_retired
        self.constant_images = constant_images
        self._today = today

    def today(self) -> date:
        return self._today or datetime.now(UTC).date()

    def check_call(self, model_id: str, raw: bytes, headers: Mapping[str, str]) -> None:
        """InvokeModel's own constraints: modelId, body size, Content-Type, Accept."""
        low, high = self.api.model_id_lengths
        if not low <= len(model_id) <= high:
            raise self.api.constraint(
                "modelId", f"Member must have length between {low} and {high}"
            )
        if not self.api.model_id_pattern.search(model_id):
            raise self.api.constraint("modelId", "Member must satisfy regular expression pattern")
        if len(raw) > self.api.body_max_bytes:
            raise self.api.constraint(
                "body", f"Member must have length less than or equal to {self.api.body_max_bytes}"
            )
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type and content_type != self.api.content_type:
            raise self.api.constraint("contentType", f"Member must be {self.api.content_type}")
        accept = headers.get("Accept") or self.api.accept
        wanted = {part.split(";")[0].strip().lower() for part in accept.split(",")}
        if not wanted & {self.api.accept, "application/*", "*/*"}:
            raise self.api.constraint("accept", f"Member must accept {self.api.accept}")

    def model(self, model_id: str, region: str | None) -> ModelRules:
        """The model, if it exists, is offered in ``region`` and has not reached end of life."""
        model = self.models.get(model_id)
        messages = self.api.messages
        if model is None or not model.offered_in(region):
            raise self._not_offered(model, model_id)
        eol = model.end_of_life
        if eol is not None and self.today() > eol and not self.serve_retired:
            raise self.api.error("ResourceNotFoundException", messages["end_of_life"]["text"])
        return model

    def _not_offered(self, model: ModelRules | None, model_id: str) -> BedrockError:
        """A plain id of a model reached only through inference profiles gets Bedrock's
        on-demand answer; any other id not offered here is invalid."""
        messages = self.api.messages
        if model is not None and not model.via_profile and model.entry.get("inference_profiles"):
            text = messages["on_demand_unsupported"]["text"].format(model_id=model_id)
            return self.api.error("ValidationException", text)
        return self.api.error("ValidationException", messages["invalid_model"]["text"])

    def invoke(self, model: ModelRules, body: object, fault: str | None) -> dict:
        say = self.api.messages["violation_formats"]
        found = check(model.request, body, say)
        if not found.violations and isinstance(body, dict):
            found.violations.extend(self._semantic_violations(model, body, say))
        if found.violations:
            raise self.api.malformed(found.violations)
        if found.not_emulated:
            raise self.api.malformed(
                [f"{item} is documented but not emulated locally" for item in found.not_emulated]
            )
        if fault == "rejected":
            raise self.api.malformed(["#: refused by the emulator's injected 'rejected' fault"])
        answer = {
            "stability-image": self._stability,
            "stability-sdxl": self._sdxl,
            "amazon-image": self._amazon,
        }[model.family]
        return answer(model, body, fault)

    def _semantic_violations(
        self, model: ModelRules, body: dict, say: Mapping[str, str]
    ) -> list[str]:
        """Documented rules a schema cannot state: sizes, and the parameters a task or mode
        requires (TEXT_IMAGE, image-to-image, an outpaint direction)."""
        problems = []
        text_image = model.family == "amazon-image" and body.get("taskType") == "TEXT_IMAGE"
        if text_image and "textToImageParams" not in body:
            problems.append(say["required"].format(path="#", key="textToImageParams"))
        image_to_image = _image_to_image(model, body)
        for key in image_to_image["required"] if image_to_image else []:
            if key not in body:
                problems.append(say["required"].format(path="#", key=key))
        directions = model.entry.get("at_least_one_positive")
        if directions and not any(
            value_at(body, model.request, [key]) > 0 for key in directions["fields"]
        ):
            problems.append(
                say["at_least_one"].format(path="#", keys=", ".join(directions["fields"]))
            )
        rule = model.entry.get("size")
        if rule is None:
            return problems
        container = body
        for key in rule["width"][:-1]:
            container = container.get(key) or {}
        if rule["width"][-1] not in container and rule["height"][-1] not in container:
            return problems  # the model's own documented defaults
        width = value_at(body, model.request, rule["width"])
        height = value_at(body, model.request, rule["height"])
        problem = _size_problem(rule, width, height)
        if problem:
            path = "#/" + "/".join(rule["width"][:-1]) if len(rule["width"]) > 1 else "#"
            problems.append(say["size"].format(path=path, width=width, height=height, rule=problem))
        return problems

    def _seed(self, model: ModelRules, seed: int, maximum: int) -> int:
        if model.entry["random_seed"] is not None and seed == model.entry["random_seed"]:
            return secrets.randbelow(maximum) + 1
        return seed

    def _image(
        self,
        prompt: str,
        seed: int,
        size: tuple[int, int],
        fmt: str,
        fault: str | None,
        index: int = 0,
    ) -> str:
        broken = _faulty_image(fault)
        if broken:
            return broken
        if self.constant_images:  # benchmarks: the same (cached) picture, so rendering is free
            prompt, seed, index = BENCHMARK_PROMPT, 1, 0
        return base64.b64encode(render(prompt, seed, *size, fmt, index)).decode()

    def _stability(self, model: ModelRules, body: dict, fault: str | None) -> dict:
        """Stability's answer: a generated picture, or the edit the model (or SD3.5's
        image-to-image mode) makes of the input images."""
        schema, filtered = model.request, model.entry["content_filter"]
        images = self._input_images(model, body)
        if any(FILTER_WORD in body.get(key, "").lower() for key in PROMPT_FIELDS):
            return dict(filtered["prompt_filtered"])
        if fault == "content_filter":
            return dict(filtered["output_filtered"])
        seed = self._stability_seed(model, body)
        edit = _edit_rule(model, body)
        if edit is not None:
            image = self._edited(model, edit, images, body, seed, fault)
        else:
            ratio = value_at(body, schema, ["aspect_ratio"])
            size = tuple(model.entry["render_sizes"]["values"][ratio])
            fmt = value_at(body, schema, ["output_format"])
            image = self._image(body["prompt"], seed, size, fmt, fault)
        return {"seeds": [seed], "finish_reasons": [None], "images": [image]}

    def _stability_seed(self, model: ModelRules, body: dict) -> int:
        schema = model.request
        if "seed" not in schema["properties"]:  # a service without a seed parameter
            return model.entry["reported_seed"]
        maximum = schema["properties"]["seed"]["maximum"]
        return self._seed(model, value_at(body, schema, ["seed"]), maximum)

    def _input_images(self, model: ModelRules, body: dict) -> dict[str, Image.Image]:
        """The body's input images, decoded; refused as Bedrock refuses what breaks the
        documented rules (not base64, not an image, wrong format or size)."""
        say = self.api.messages["violation_formats"]
        images, problems = {}, []
        for key, rule in model.input_images.items():
            if key in body:
                image, problem = decode_image(body[key], rule, f"#/{key}", say)
                if problem:
                    problems.append(problem)
                else:
                    images[key] = image
        if problems:
            raise self.api.malformed(problems)
        return images

    def _edited(
        self,
        model: ModelRules,
        edit: tuple[str, dict[str, Any]],
        images: dict[str, Image.Image],
        body: dict,
        seed: int,
        fault: str | None,
    ) -> str:
        operation, rule = edit
        broken = _faulty_image(fault)
        if broken:
            return broken
        params = {key: value_at(body, model.request, [key]) for key in model.request["properties"]}
        render_sizes = model.entry.get("render_sizes", {}).get("values", {})
        size = edit_render.output_size(rule, images, params, render_sizes)
        fmt = params["output_format"]
        if self.constant_images:  # benchmarks: a cached picture of the documented size
            data = render(BENCHMARK_PROMPT, 1, *size, fmt)
        else:
            result = edit_render.edit(operation, images, params, seed, size)
            data = edit_render.encode_edit(result, fmt)
        return base64.b64encode(data).decode()

    def _sdxl(self, model: ModelRules, body: dict, fault: str | None) -> dict:
        schema, filtered = model.request, model.entry["content_filter"]
        texts = [p["text"] for p in body["text_prompts"] if p.get("weight", 1) >= 0]
        prompt = texts[0] if texts else body["text_prompts"][0]["text"]
        if FILTER_WORD in prompt.lower():
            error = filtered["prompt_error"]
            raise self.api.error(error["code"], error["message"])
        seed_rule = schema["properties"]["seed"]
        seed = self._seed(model, value_at(body, schema, ["seed"]), seed_rule["maximum"])
        size = (value_at(body, schema, ["width"]), value_at(body, schema, ["height"]))
        reason = "SUCCESS"
        if fault == "content_filter":
            reason = filtered["output_filtered"]["finishReason"]
        artifact = {"seed": seed, "base64": self._image(prompt, seed, size, "png", fault)}
        return {"result": "success", "artifacts": [{**artifact, "finishReason": reason}]}

    def _amazon(self, model: ModelRules, body: dict, fault: str | None) -> dict:
        schema, filtered = model.request, model.entry["content_filter"]
        prompt = body["textToImageParams"]["text"]
        if FILTER_WORD in prompt.lower():
            error = filtered["prompt_error"]
            raise self.api.error(error["code"], error["message"])
        if fault == "content_filter":
            return dict(filtered["output_filtered"])
        seed, width, height, count = (
            value_at(body, schema, ["imageGenerationConfig", key])
            for key in ("seed", "width", "height", "numberOfImages")
        )
        # One seed makes every image of the call; each index draws a distinct picture.
        return {
            "images": [
                self._image(prompt, seed, (width, height), "png", fault, i) for i in range(count)
            ]
        }


def _image_to_image(model: ModelRules, body: dict) -> dict[str, Any] | None:
    """SD3.5's documented image-to-image rule, when the body asks for that mode (by ``mode``
    or, as AWS's own example does, by sending an ``image``)."""
    rule = model.entry.get("image_to_image")
    if rule and (body.get("mode") == rule["mode"] or rule["field"] in body):
        return rule
    return None


def _edit_rule(model: ModelRules, body: dict) -> tuple[str, dict[str, Any]] | None:
    """The edit a call makes (operation, output-size rule), or None for text-to-image."""
    if "operation" in model.entry:
        return model.entry["operation"], model.entry["output"]
    image_to_image = _image_to_image(model, body)
    if image_to_image:
        return image_to_image["operation"], image_to_image["output"]
    return None


# ---- HTTP ---------------------------------------------------------------------------------------


def _emulator_config(raw: bytes) -> tuple[list[str], float | None]:
    """``{"faults": [...], "latency_seconds": N}`` checked: a list of names, a finite N >= 0."""
    try:
        config = json.loads(raw or b"{}")
    except ValueError:
        raise ValueError("the body must be JSON") from None
    if not isinstance(config, dict) or set(config) - {"faults", "latency_seconds"}:
        raise ValueError('expected {"faults": [...], "latency_seconds": seconds}')
    faults = config.get("faults", [])
    if not isinstance(faults, list) or not all(isinstance(f, str) for f in faults):
        raise ValueError("'faults' must be a list of fault names")
    latency = config.get("latency_seconds")
    if latency is not None and (
        isinstance(latency, bool)
        or not isinstance(latency, int | float)
        or not 0 <= latency < float("inf")
    ):
        raise ValueError("'latency_seconds' must be a finite number of seconds, 0 or more")
    return faults, latency


class BedrockEmulatorServer(BackgroundHTTPServer):
    """The emulator as a threaded HTTP server on loopback; start(), then stop()."""

    thread_name = "bedrock-emulator"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        serve_retired: bool = False,
        latency_seconds: float = 0.0,
        hang_seconds: float = 60.0,
        constant_images: bool = False,
        today: date | None = None,
    ) -> None:
        """``today`` pins the lifecycle clock (default: the current UTC date)."""
        api, models = load_rules()
        self.emulator = Emulator(
            api,
            models,
            serve_retired=serve_retired,
            constant_images=constant_images,
            today=today,
        )
        self.latency_seconds = latency_seconds
        self.hang_seconds = hang_seconds
        self.calls: Counter[str] = Counter()
        self._faults: deque[str] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        super().__init__(host, port)

    def inject(self, *faults: str) -> None:
        """Queue faults; each following model call consumes one."""
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {FAULTS}")
        with self._lock:
            self._faults.extend(faults)

    def _next_fault(self) -> str | None:
        with self._lock:
            self.calls["total"] += 1
            return self._faults.popleft() if self._faults else None

    def stop(self) -> None:
        self._stopping.set()  # release calls parked in "hang" or latency
        super().stop()

    def _invoke(
        self, model_id: str, raw: bytes, headers: Mapping[str, str], region: str | None
    ) -> bytes:
        """One InvokeModel call: faults first, then InvokeModel's rules, then the model's."""
        emulator, api = self.emulator, self.emulator.api
        fault = self._next_fault()
        self.calls[model_id] += 1
        if self.latency_seconds:
            self._stopping.wait(self.latency_seconds)
        if fault == "hang":
            self._stopping.wait(self.hang_seconds)
            raise api.error("ModelTimeoutException")
        if fault in FAULT_ERRORS:
            raise self._fault_error(FAULT_ERRORS[fault], model_id, region)
        emulator.check_call(model_id, raw, headers)
        model = emulator.model(model_id, region)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise api.error("ValidationException", api.messages["not_json"]["text"]) from None
        answer = emulator.invoke(model, body, fault)
        if fault == "malformed":
            return b'{"images": ["trunc'
        if fault == "empty":
            return json.dumps({"images": [], "seeds": [], "finish_reasons": []}).encode()
        return json.dumps(answer).encode()

    def _fault_error(self, code: str, model_id: str, region: str | None) -> BedrockError:
        api = self.emulator.api
        if code == "ModelErrorException":
            arn = f"arn:aws:bedrock:{region or 'us-west-2'}::foundation-model/{model_id}"
            return api.error(code, originalStatusCode=500, resourceName=arn)
        return api.error(code, api.messages["faults"].get(code))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in {
                    "Content-Type": "application/json",
                    "Content-Length": str(len(body)),
                    "x-amzn-RequestId": str(uuid.uuid4()),
                    "X-Imagegen-Emulated": "true",
                    **headers,
                }.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _error(self, error: BedrockError) -> None:
                suffix = server.emulator.api.error_type_suffix
                self._send(
                    error.status,
                    json.dumps({"message": error.message, **error.fields}).encode(),
                    {"x-amzn-ErrorType": error.code + suffix},
                )

            def do_GET(self) -> None:
                if self.path == "/_emulator/stats":
                    with server._lock:
                        stats = {"calls": dict(server.calls), "queued_faults": len(server._faults)}
                    self._send(200, json.dumps(stats).encode(), {})
                else:
                    self._error(BedrockError(404, "UnknownOperationException", "not found"))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path == "/_emulator/config":
                    self._configure(raw)
                    return
                match = _INVOKE.match(self.path)
                if not match:
                    self._error(BedrockError(404, "UnknownOperationException", "not found"))
                    return
                found = _CREDENTIAL_REGION.search(self.headers.get("Authorization", ""))
                region = found.group(1) if found else None
                try:
                    answer = server._invoke(unquote(match["model"]), raw, self.headers, region)
                except BedrockError as error:
                    self._error(error)
                    return
                self._send(200, answer, {})

            def _configure(self, raw: bytes) -> None:
                try:
                    faults, latency = _emulator_config(raw)
                    server.inject(*faults)
                except ValueError as exc:
                    self._send(400, json.dumps({"message": str(exc)}).encode(), {})
                    return
                if latency is not None:
                    server.latency_seconds = latency
                self._send(200, b"{}", {})

        return Handler
