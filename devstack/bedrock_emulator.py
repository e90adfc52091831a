"""A Bedrock Runtime emulator speaking the real wire format: ``POST /model/{modelId}/invoke``.

boto3 reaches it through ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, so ``service`` runs unchanged.
It validates bodies the way Bedrock does (``ValidationException`` with Bedrock's messages),
renders labelled stand-in images (``devstack.render``), and can inject faults and latency.

Control endpoints (local only): ``POST /_emulator/config`` with
``{"faults": ["throttle", ...], "latency_seconds": 0.2}`` queues one fault per coming call;
``GET /_emulator/stats`` returns call counts.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import uuid
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote

from devstack.background import BackgroundHTTPServer
from devstack.render import render
from service.catalogue import Catalogue, ModelSpec, default_catalogue

FAULTS = (
    "throttle",  # 429 ThrottlingException
    "hang",  # never answers until the emulator stops (or hang_seconds pass)
    "content_filter",  # the family's own content-filter answer
    "server_error",  # 500 InternalServerException
    "model_error",  # 424 ModelErrorException
    "malformed",  # 200 with a body that is not JSON
    "bad_base64",  # 200 with an image field that is not base64
    "not_image",  # 200 with valid base64 that is not an image
    "empty",  # 200 with an empty image list
    "access_denied",  # 403 AccessDeniedException
)
# Faults that are plain Bedrock errors: (HTTP status, error code, Bedrock's message).
FAULT_ERRORS = {
    "throttle": (429, "ThrottlingException", "Too many requests, please wait before trying again."),
    "server_error": (500, "InternalServerException", "Internal server error"),
    "access_denied": (
        403,
        "AccessDeniedException",
        "You don't have access to the model with the specified model ID.",
    ),
    "model_error": (424, "ModelErrorException", "The model failed"),
}
FILTER_WORD = "forbidden"  # prompts containing it are blocked, as banned words are on Bedrock
_INVOKE = re.compile(r"^/model/(?P<model>[^/]+)/invoke$")
_ERROR_NS = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
_MALFORMED = "Malformed input request: {}, please reformat your input and try again."


class BedrockError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _bad(detail: str) -> BedrockError:
    return BedrockError(400, "ValidationException", _MALFORMED.format(detail))


def _int(body: dict, key: str, low: int, high: int, default: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"#/{key}: expected integer in [{low}, {high}]")
    return value


def _num(body: dict, key: str, low: float, high: float, default: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _bad(f"#/{key}: expected number in [{low}, {high}]")
    return value


def _only(body: dict, allowed: set[str]) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        raise _bad(f"#: extraneous key [{extra[0]}] is not permitted")


def _text(body: dict, key: str, max_length: int, *, required: bool) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or len(value) > max_length or (required and not value):
        raise _bad(f"#/{key}: expected a string of 1 to {max_length} characters")
    return value


class Emulator:
    """Model behaviour per family: validate the body, then answer like the model would."""

    def __init__(
        self, catalogue: Catalogue, serve_retired: bool, constant_images: bool = False
    ) -> None:
        self.catalogue = catalogue
        self.serve_retired = serve_retired
        self.constant_images = constant_images

    def model(self, model_id: str, region: str | None) -> ModelSpec:
        model = self.catalogue.find(model_id)
        if model is None or model_id == model.alias or (region and region not in model.regions):
            raise BedrockError(
                400, "ValidationException", "The provided model identifier is invalid."
            )
        if model.status == "retired" and not self.serve_retired:
            raise BedrockError(
                404,
                "ResourceNotFoundException",
                "This model version has reached the end of its life. "
                "Please refer to the AWS documentation for more details.",
            )
        return model

    def invoke(self, model: ModelSpec, body: dict, fault: str | None) -> dict:
        family = {
            "stability-image": self._stability,
            "stability-sdxl": self._sdxl,
            "amazon-image": self._amazon,
        }[model.family]
        return family(model, body, fault)

    def _image(
        self, prompt: str, seed: int, width: int, height: int, fmt: str, fault: str | None
    ) -> str:
        if fault == "bad_base64":
            return "this is not base64!"
        if fault == "not_image":
            return base64.b64encode(b"definitely not an image").decode()
        if self.constant_images:  # benchmarks: the same (cached) picture, so rendering is free
            prompt, seed = "imagegen benchmark image", 1
        return base64.b64encode(render(prompt, seed, width, height, fmt)).decode()

    @staticmethod
    def _seed(seed: int) -> int:
        return seed or secrets.randbelow(4294967294) + 1

    def _stability(self, model: ModelSpec, body: dict, fault: str | None) -> dict:
        limits = model.limits
        _only(body, {"prompt", "negative_prompt", "aspect_ratio", "seed", "output_format", "mode"})
        prompt = _text(body, "prompt", limits.prompt_max_length, required=True)
        _text(body, "negative_prompt", limits.negative_prompt_max_length, required=False)
        ratio = body.get("aspect_ratio", limits.size.default_aspect_ratio)
        if ratio not in limits.size.aspect_ratios:
            raise _bad(f"#/aspect_ratio: {ratio} is not a valid enum value")
        fmt = body.get("output_format", "png")
        if fmt not in limits.output_formats:
            raise _bad(f"#/output_format: {fmt} is not a valid enum value")
        seed = self._seed(_int(body, "seed", 0, limits.seed_max, 0))
        if fault == "content_filter" or FILTER_WORD in prompt.lower():
            return {"finish_reasons": ["Filter reason: prompt"]}
        width, height = limits.size.aspect_ratios[ratio]
        return {
            "seeds": [seed],
            "finish_reasons": [None],
            "images": [self._image(prompt, seed, width, height, fmt, fault)],
        }

    def _sdxl(self, model: ModelSpec, body: dict, fault: str | None) -> dict:
        limits = model.limits
        _only(
            body,
            {
                "text_prompts",
                "cfg_scale",
                "steps",
                "seed",
                "width",
                "height",
                "samples",
                "style_preset",
                "sampler",
                "clip_guidance_preset",
                "extras",
            },
        )
        prompts = body.get("text_prompts")
        if not isinstance(prompts, list) or not prompts:
            raise _bad("#/text_prompts: expected a non-empty array")
        texts = [
            _text(p, "text", limits.prompt_max_length, required=True) if isinstance(p, dict) else ""
            for p in prompts
        ]
        if (body.get("width", 1024), body.get("height", 1024)) not in limits.size.sizes:
            raise BedrockError(
                400,
                "ValidationException",
                "height and width must be one of the supported dimensions",
            )
        _num(body, "cfg_scale", limits.cfg_scale.min, limits.cfg_scale.max, 7)
        _int(body, "steps", int(limits.steps.min), int(limits.steps.max), 30)
        _int(body, "samples", 1, 1, 1)
        seed = self._seed(_int(body, "seed", 0, limits.seed_max, 0))
        prompt = texts[0]
        if FILTER_WORD in prompt.lower():
            raise BedrockError(400, "ValidationException", "invalid_prompts")
        if fault == "content_filter":
            return {
                "result": "success",
                "artifacts": [{"seed": seed, "base64": "", "finishReason": "CONTENT_FILTERED"}],
            }
        data = self._image(
            prompt, seed, body.get("width", 1024), body.get("height", 1024), "png", fault
        )
        return {
            "result": "success",
            "artifacts": [{"seed": seed, "base64": data, "finishReason": "SUCCESS"}],
        }

    def _amazon(self, model: ModelSpec, body: dict, fault: str | None) -> dict:
        limits = model.limits
        _only(body, {"taskType", "textToImageParams", "imageGenerationConfig"})
        if body.get("taskType") != "TEXT_IMAGE":
            raise _bad("#/taskType: only TEXT_IMAGE is emulated")
        params = body.get("textToImageParams")
        config = body.get("imageGenerationConfig", {})
        if not isinstance(params, dict) or not isinstance(config, dict):
            raise _bad("#/textToImageParams: expected an object")
        prompt = _text(params, "text", limits.prompt_max_length, required=True)
        rule = limits.size
        width, height = config.get("width", 1024), config.get("height", 1024)
        ok = (
            (width, height) in rule.sizes
            if rule.mode == "fixed"
            else (
                isinstance(width, int)
                and isinstance(height, int)
                and rule.min_side <= min(width, height)
                and max(width, height) <= rule.max_side
                and width % rule.multiple_of == 0
                and height % rule.multiple_of == 0
                and width * height <= rule.max_pixels
            )
        )
        if not ok:
            raise BedrockError(
                400,
                "ValidationException",
                f"Invalid image dimensions {width}x{height} for this model",
            )
        count = _int(config, "numberOfImages", 1, limits.max_images, 1)
        _num(config, "cfgScale", limits.cfg_scale.min, limits.cfg_scale.max, 6.5)
        seed = _int(config, "seed", 0, limits.seed_max, 12)
        if FILTER_WORD in prompt.lower() or fault == "content_filter":
            raise BedrockError(
                400, "ValidationException", "This request has been blocked by our content filters."
            )
        images = [self._image(prompt, seed + i, width, height, "png", fault) for i in range(count)]
        return {"images": images}


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
        catalogue: Catalogue | None = None,
    ) -> None:
        self.emulator = Emulator(catalogue or default_catalogue(), serve_retired, constant_images)
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
                self._send(
                    error.status,
                    json.dumps({"message": error.message}).encode(),
                    {"x-amzn-ErrorType": error.code + _ERROR_NS},
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
                try:
                    self._send(200, self._invoke(unquote(match["model"]), raw), {})
                except BedrockError as error:
                    self._error(error)

            def _configure(self, raw: bytes) -> None:
                try:
                    config = json.loads(raw or b"{}")
                    server.inject(*config.get("faults", []))
                    if "latency_seconds" in config:
                        server.latency_seconds = float(config["latency_seconds"])
                except (ValueError, TypeError, AttributeError) as exc:
                    self._send(400, json.dumps({"message": str(exc)}).encode(), {})
                    return
                self._send(200, b"{}", {})

            def _region(self) -> str | None:
                found = re.search(
                    r"Credential=[^/]+/\d+/([^/]+)/", self.headers.get("Authorization", "")
                )
                return found.group(1) if found else None

            def _invoke(self, model_id: str, raw: bytes) -> bytes:
                fault = server._next_fault()
                server.calls[model_id] += 1
                if server.latency_seconds:
                    server._stopping.wait(server.latency_seconds)
                if fault == "hang":
                    server._stopping.wait(server.hang_seconds)
                    raise BedrockError(408, "ModelTimeoutException", "Model has timed out")
                if fault in FAULT_ERRORS:
                    raise BedrockError(*FAULT_ERRORS[fault])
                model = server.emulator.model(model_id, self._region())
                content_type = self.headers.get("Content-Type") or "application/json"
                if not content_type.startswith("application/json"):
                    raise _bad("content type must be application/json")
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise _bad("body is not JSON") from None
                if not isinstance(body, dict):
                    raise _bad("#: expected type: JSONObject")
                answer = server.emulator.invoke(model, body, fault)
                if fault == "malformed":
                    return b'{"images": ["trunc'
                if fault == "empty":
                    return json.dumps({"images": [], "seeds": [], "finish_reasons": []}).encode()
                return json.dumps(answer).encode()

        return Handler
