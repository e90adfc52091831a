"""The model catalogue: ids, families, limits, regions and lifecycle, from ``catalogue.json``.

Bedrock launches and retires image models every few months, so which models exist is data that
ships beside the code; nothing else in the service branches on a model id.
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

    @property
    def names(self) -> tuple[str, ...]:
        """Every name a request may use for this model."""
        return (self.alias, self.id, *self.inference_profiles)

    def is_retired(self, today: date) -> bool:
        return self.status == "retired" or (
            self.end_of_life is not None and self.end_of_life <= today
        )

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


def _model(raw: dict) -> ModelSpec:
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


class Catalogue:
    """All known models, looked up by alias, model id or inference-profile id."""

    def __init__(self, models: list[ModelSpec], price_source: str = "") -> None:
        self.models = models
        self.price_source = price_source
        self._by_name = {name: m for m in models for name in m.names}

    def find(self, name: str) -> ModelSpec | None:
        return self._by_name.get(name)

    @classmethod
    def from_file(cls, path: Path) -> Catalogue:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls([_model(m) for m in raw["models"]], raw.get("price_source", ""))


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    return Catalogue.from_file(CATALOGUE_PATH)
