"""The catalogue: models and editing operations with ids, families, limits, regions and
lifecycle, from ``catalogue.json``.

Bedrock launches and retires image models and services every few months, so which exist is data
that ships beside the code; nothing else in the service branches on a model id or an operation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOGUE_PATH = Path(__file__).with_name("catalogue.json")


@dataclass(frozen=True)
class Range:
    """An inclusive numeric range with the model's default."""

    min: float
    max: float
    default: float


@dataclass(frozen=True)
class SizeRule:
    """How a model takes its output size: an aspect ratio, a fixed list, or a bounded range."""

    mode: str  # "aspect_ratio" | "fixed" | "range"
    aspect_ratios: dict[str, tuple[int, int]]
    sizes: tuple[tuple[int, int], ...]
    default_size: tuple[int, int]
    default_aspect_ratio: str | None = None
    min_side: int = 0
    max_side: int = 0
    multiple_of: int = 1
    max_pixels: int = 0
    min_ratio: float = 0.0
    max_ratio: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode}
        if self.mode == "aspect_ratio":
            out["aspect_ratios"] = list(self.aspect_ratios)
            out["default_aspect_ratio"] = self.default_aspect_ratio
        elif self.mode == "fixed":
            out["sizes"] = [f"{w}x{h}" for w, h in self.sizes]
            out["default_size"] = f"{self.default_size[0]}x{self.default_size[1]}"
        else:
            out.update(
                min_side=self.min_side,
                max_side=self.max_side,
                multiple_of=self.multiple_of,
                max_pixels=self.max_pixels,
                min_ratio=self.min_ratio,
                max_ratio=self.max_ratio,
                default_size=f"{self.default_size[0]}x{self.default_size[1]}",
            )
        return out


@dataclass(frozen=True)
class Limits:
    """What a model accepts; the service validates against this before paying for a call."""

    prompt_max_length: int
    negative_prompt_max_length: int
    size: SizeRule
    seed_max: int
    random_seed: int | None  # the seed value that asks the model for a random seed, if any
    cfg_scale: Range | None
    steps: Range | None
    style_presets: tuple[str, ...]
    output_formats: tuple[str, ...]
    images_per_call: int
    max_images: int

    def as_dict(self) -> dict[str, Any]:
        def rng(r: Range | None) -> dict | None:
            return None if r is None else {"min": r.min, "max": r.max, "default": r.default}

        return {
            "prompt_max_length": self.prompt_max_length,
            "negative_prompt_max_length": self.negative_prompt_max_length,
            "size": self.size.as_dict(),
            "seed": {"min": 0, "max": self.seed_max, "random": self.random_seed},
            "cfg_scale": rng(self.cfg_scale),
            "steps": rng(self.steps),
            "style_presets": list(self.style_presets),
            "output_formats": list(self.output_formats),
            "max_images": self.max_images,
        }


@dataclass(frozen=True)
class ModelSpec:
    """One Bedrock image model."""

    alias: str
    id: str
    name: str
    family: str
    regions: tuple[str, ...]
    inference_profiles: dict[str, tuple[str, ...]]  # profile id -> destination regions
    status: str  # "active" | "legacy" | "retired"
    end_of_life: date | None
    replacement: str | None
    price_usd_per_image: float
    limits: Limits
    notes: str = ""  # where the facts come from, and which are unverified
    price_source: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """Every name a request may use for this model."""
        return (self.alias, self.id, *self.inference_profiles)

    def is_retired(self, today: date) -> bool:
        return _retired(self.status, self.end_of_life, today)

    def as_dict(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "id": self.id,
            "name": self.name,
            "family": self.family,
            "regions": list(self.regions),
            "inference_profiles": list(self.inference_profiles),
            "status": self.status,
            "end_of_life": self.end_of_life.isoformat() if self.end_of_life else None,
            "replacement": self.replacement,
            "price_usd_per_image_estimate": self.price_usd_per_image,
            "limits": self.limits.as_dict(),
            "notes": self.notes,
        }


@dataclass(frozen=True)
class FieldRule:
    """One parameter of an editing operation: its type, limits and name on the wire."""

    name: str
    type: str  # "text" | "number" | "integer" | "choice"
    required: bool = False
    wire: str = ""  # the name in the Bedrock body when it differs from ``name``
    min: float | None = None
    max: float | None = None
    max_length: int = 0
    values: tuple[str, ...] = ()
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "required": self.required}
        if self.type in ("number", "integer"):
            out.update(min=self.min, max=self.max)
        if self.type == "text":
            out["max_length"] = self.max_length
        if self.type == "choice":
            out["values"] = list(self.values)
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class InputRule:
    """An input image of an operation and the sizes the service documents for it."""

    name: str
    required: bool
    wire: str
    formats: tuple[str, ...]
    min_side: int
    # None where the documentation states no such limit.
    max_side: int | None
    min_pixels: int | None
    max_pixels: int | None
    min_ratio: float | None
    max_ratio: float | None
    same_size_as: str | None = None  # a mask must match the image it masks
    unless_alpha_in: str | None = None  # required unless that input has an alpha channel
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = {
            "required": self.required,
            "formats": list(self.formats),
            "min_side": self.min_side,
            "max_side": self.max_side,
            "min_pixels": self.min_pixels,
            "max_pixels": self.max_pixels,
            "min_ratio": self.min_ratio,
            "max_ratio": self.max_ratio,
        }
        if self.same_size_as:
            out["same_size_as"] = self.same_size_as
        if self.unless_alpha_in:
            out["unless_alpha_in"] = self.unless_alpha_in
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class OperationSpec:
    """One editing operation: a Bedrock model (or one mode of it) that takes input images."""

    operation: str
    model: str  # the model's alias, reported in answers like a generation model's
    id: str
    name: str
    family: str
    description: str
    regions: tuple[str, ...]
    inference_profiles: dict[str, tuple[str, ...]]
    status: str
    end_of_life: date | None
    replacement: str | None
    price_usd_per_image: float
    constants: dict[str, Any]  # fixed body members, e.g. SD3.5's "mode"
    fields: tuple[FieldRule, ...]
    inputs: tuple[InputRule, ...]
    seed_max: int | None  # None: the service takes no seed
    random_seed: int | None
    output_formats: tuple[str, ...]
    require_any: tuple[str, ...] = ()  # at least one of these must be given (and non-zero)
    notes: str = ""
    price_source: str = ""

    def is_retired(self, today: date) -> bool:
        return _retired(self.status, self.end_of_life, today)

    def invoke_id(self, region: str) -> str:
        """The inference profile serving ``region`` if there is one (profiles spread load
        across regions), else the model id."""
        return next(
            (p for p, regions in self.inference_profiles.items() if region in regions), self.id
        )

    def offered_in(self, region: str) -> bool:
        return region in self.regions or any(
            region in regions for regions in self.inference_profiles.values()
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "model": self.model,
            "id": self.id,
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "regions": list(self.regions),
            "inference_profiles": list(self.inference_profiles),
            "status": self.status,
            "end_of_life": self.end_of_life.isoformat() if self.end_of_life else None,
            "replacement": self.replacement,
            "price_usd_per_image_estimate": self.price_usd_per_image,
            "fields": {f.name: f.as_dict() for f in self.fields},
            "inputs": {i.name: i.as_dict() for i in self.inputs},
            "seed": None
            if self.seed_max is None
            else {"min": 0, "max": self.seed_max, "random": self.random_seed},
            "output_formats": list(self.output_formats),
            "require_any": list(self.require_any),
            "price_source": self.price_source,
            "notes": self.notes,
        }


def _retired(status: str, end_of_life: date | None, today: date) -> bool:
    return status == "retired" or (end_of_life is not None and end_of_life <= today)


def _range(raw: dict | None) -> Range | None:
    return None if raw is None else Range(raw["min"], raw["max"], raw["default"])


def _size_rule(raw: dict) -> SizeRule:
    ratios = {k: (v[0], v[1]) for k, v in raw.get("aspect_ratios", {}).items()}
    default_ratio = raw.get("default_aspect_ratio")
    default = tuple(raw["default_size"]) if "default_size" in raw else ratios[default_ratio]
    return SizeRule(
        mode=raw["mode"],
        aspect_ratios=ratios,
        sizes=tuple((w, h) for w, h in raw.get("sizes", [])),
        default_size=(default[0], default[1]),
        default_aspect_ratio=default_ratio,
        min_side=raw.get("min_side", 0),
        max_side=raw.get("max_side", 0),
        multiple_of=raw.get("multiple_of", 1),
        max_pixels=raw.get("max_pixels", 0),
        min_ratio=raw.get("min_ratio", 0.0),
        max_ratio=raw.get("max_ratio", 0.0),
    )


def _model(raw: dict, price_source: str) -> ModelSpec:
    lim = raw["limits"]
    return ModelSpec(
        alias=raw["alias"],
        id=raw["id"],
        name=raw["name"],
        family=raw["family"],
        regions=tuple(raw["regions"]),
        inference_profiles={k: tuple(v) for k, v in raw["inference_profiles"].items()},
        status=raw["status"],
        end_of_life=date.fromisoformat(raw["end_of_life"]) if raw["end_of_life"] else None,
        replacement=raw["replacement"],
        price_usd_per_image=raw["price_usd_per_image"],
        notes=raw.get("notes", ""),
        price_source=price_source,
        limits=Limits(
            prompt_max_length=lim["prompt_max_length"],
            negative_prompt_max_length=lim["negative_prompt_max_length"],
            size=_size_rule(lim["size"]),
            seed_max=lim["seed_max"],
            random_seed=lim["random_seed"],
            cfg_scale=_range(lim["cfg_scale"]),
            steps=_range(lim["steps"]),
            style_presets=tuple(lim["style_presets"]),
            output_formats=tuple(lim["output_formats"]),
            images_per_call=lim["images_per_call"],
            max_images=lim["max_images"],
        ),
    )


def _field(name: str, raw: dict) -> FieldRule:
    return FieldRule(
        name=name,
        type=raw["type"],
        required=raw.get("required", False),
        wire=raw.get("wire", name),
        min=raw.get("min"),
        max=raw.get("max"),
        max_length=raw.get("max_length", 0),
        values=tuple(raw.get("values", ())),
        description=raw.get("description", ""),
    )


def _input(name: str, raw: dict, defaults: dict) -> InputRule:
    merged = {**defaults, **raw}
    return InputRule(
        name=name,
        required=merged.get("required", False),
        wire=merged.get("wire", name),
        formats=tuple(merged["formats"]),
        min_side=merged["min_side"],
        max_side=merged.get("max_side"),
        min_pixels=merged.get("min_pixels"),
        max_pixels=merged.get("max_pixels"),
        min_ratio=merged.get("min_ratio"),
        max_ratio=merged.get("max_ratio"),
        same_size_as=merged.get("same_size_as"),
        unless_alpha_in=merged.get("unless_alpha_in"),
        description=merged.get("description", ""),
    )


def _operation(raw: dict, input_defaults: dict, price_source: str) -> OperationSpec:
    return OperationSpec(
        operation=raw["operation"],
        model=raw["model"],
        id=raw["id"],
        name=raw["name"],
        family=raw["family"],
        description=raw["description"],
        regions=tuple(raw["regions"]),
        inference_profiles={k: tuple(v) for k, v in raw["inference_profiles"].items()},
        status=raw["status"],
        end_of_life=date.fromisoformat(raw["end_of_life"]) if raw["end_of_life"] else None,
        replacement=raw["replacement"],
        price_usd_per_image=raw["price_usd_per_image"],
        constants=dict(raw.get("constants", {})),
        fields=tuple(_field(name, f) for name, f in raw["fields"].items()),
        inputs=tuple(_input(name, i, input_defaults) for name, i in raw["inputs"].items()),
        seed_max=raw["seed_max"],
        random_seed=raw["random_seed"],
        output_formats=tuple(raw["output_formats"]),
        require_any=tuple(raw.get("require_any", ())),
        notes=raw.get("notes", ""),
        price_source=price_source,
    )


class Catalogue:
    """All known models, looked up by alias, model id or inference-profile id, and the editing
    operations by name."""

    def __init__(
        self,
        models: list[ModelSpec],
        price_source: str = "",
        operations: list[OperationSpec] | None = None,
    ) -> None:
        self.models = models
        self.price_source = price_source
        self.operations = operations or []
        self._by_name = {name: m for m in models for name in m.names}
        self._operations = {op.operation: op for op in self.operations}

    def find(self, name: str) -> ModelSpec | None:
        return self._by_name.get(name)

    def operation(self, name: str) -> OperationSpec | None:
        return self._operations.get(name)

    @classmethod
    def from_file(cls, path: Path) -> Catalogue:
        raw = json.loads(path.read_text(encoding="utf-8"))
        defaults = raw.get("input_image_defaults", {})
        return cls(
            [_model(m, raw.get("price_source", "")) for m in raw["models"]],
            raw.get("price_source", ""),
            [
                _operation(op, defaults, raw.get("operations_price_source", ""))
                for op in raw.get("operations", [])
            ],
        )


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    return Catalogue.from_file(CATALOGUE_PATH)
