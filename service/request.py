"""The validated requests every adapter builds its Bedrock body from, and the ``Target`` the
flow runs them against.

They live apart from validation so adapters depend on a request's shape, not on how it is
checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.catalogue import ModelSpec, OperationSpec
from service.imageinfo import ImageInfo


@dataclass(frozen=True)
class Target:
    """What a request invokes, as the flow sees it: a generation model or an editing operation."""

    name: str  # the model alias answers report
    model_id: str  # the foundation model id
    invoke_id: str  # the model id or inference-profile id sent to Bedrock
    family: str  # picks the adapter
    price_usd_per_image: float
    seed_max: int | None  # None: the model takes no seed
    random_seed: int | None  # the seed value that asks the model for a random seed, if any
    images_per_call: int
    price_source: str


@dataclass(frozen=True)
class ImageRequest:
    """A validated text-to-image request: every value within the chosen model's limits."""

    prompt: str
    negative_prompt: str | None
    model: ModelSpec
    invoke_id: str  # the model id or inference-profile id sent to Bedrock
    width: int
    height: int
    aspect_ratio: str | None  # set for models that take an aspect ratio
    seed: int | None  # None: the service picks one per call
    cfg_scale: float | None
    steps: int | None
    style_preset: str | None
    number_of_images: int
    output_format: str
    notes: tuple[str, ...] = ()

    @property
    def target(self) -> Target:
        limits = self.model.limits
        return Target(
            self.model.alias,
            self.model.id,
            self.invoke_id,
            self.model.family,
            self.model.price_usd_per_image,
            limits.seed_max,
            limits.random_seed,
            limits.images_per_call,
            self.model.price_source,
        )


@dataclass(frozen=True)
class InputImage:
    """An input image, checked against its operation's limits, ready for the Bedrock body."""

    encoded: str  # base64, as Bedrock takes it: decoded at most once on its way in
    info: ImageInfo


@dataclass(frozen=True)
class EditRequest:
    """A validated editing request: the operation, its parameters and its input images."""

    operation: OperationSpec
    invoke_id: str
    values: dict[str, Any]  # parameter name -> validated value, only those given
    images: dict[str, InputImage]  # input name -> image, only those given
    seed: int | None
    output_format: str
    notes: tuple[str, ...] = field(default=())
    number_of_images: int = 1  # every editing service answers one image per call

    @property
    def prompt(self) -> str:
        return self.values.get("prompt") or ""

    @property
    def target(self) -> Target:
        op = self.operation
        return Target(
            op.model,
            op.id,
            self.invoke_id,
            op.family,
            op.price_usd_per_image,
            op.seed_max,
            op.random_seed,
            1,
            op.price_source,
        )
