"""The editing tools' schemas and descriptions, built from the catalogue's operations.

Which fields and input images an operation takes, their ranges, its price and its one-line
description are data (``service/catalogue.json``). A tool covering several operations takes the
union of their fields, each described with the operations that take it and their range; the
service refuses a field the chosen operation does not take, naming it. So a new operation or a
changed limit reaches the assistant without editing this server.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field

from service.catalogue import Catalogue, FieldRule, InputRule, OperationSpec

INPUT_FORMS = (
    "the key of an earlier image from this server's answers, a data:image/png;base64,... URI, or"
    " (stdio only) an absolute path to a local PNG, JPEG or WebP file"
)
_TYPES: dict[str, type] = {"text": str, "number": float, "integer": int}
# How the image tools run: their descriptions end with it.
JOBS_NOTE = (
    "Where the backend has asynchronous jobs (a REST API with them, or the service with a jobs"
    " queue, as the local stack has), the work runs as a job: progress notifications name it, and"
    " if this call ends first (a timeout) the job keeps running and get_job returns its result."
    " Otherwise the work runs within this call."
)


@dataclass(frozen=True)
class EditTool:
    """An MCP tool over one or more editing operations; ``selector`` names the argument that
    picks one (None for a tool of a single operation)."""

    name: str
    title: str
    summary: str
    choices: dict[str, OperationSpec]  # the selector's values -> their operations
    selector: str | None = None
    default: str | None = None  # the selector's default; None: the assistant must choose

    def operation(self, arguments: dict[str, Any]) -> str:
        """The operation the call asks for (removing the selector from ``arguments``)."""
        choice = arguments.pop(self.selector) if self.selector else next(iter(self.choices))
        return self.choices[choice].operation

    def input_names(self) -> list[str]:
        return list(_by_name(self, "inputs"))


def edit_tools(catalogue: Catalogue) -> list[EditTool]:
    """``edit_image`` for every operation, and task-named tools for the edits assistants are
    most often asked for by name: upscaling (the ``upscale-*`` operations as one ``mode``) and
    background removal. A task tool whose operations the catalogue no longer has is left out."""
    tools = [
        EditTool(
            "edit_image",
            "Edit image",
            f"Edit an image: pass `operation`, `image` ({INPUT_FORMS}) and that operation's"
            " fields; a field the operation does not take is refused. upscale_image and"
            " remove_background do those edits with fewer arguments.",
            {op.operation: op for op in catalogue.operations},
            selector="operation",
        )
    ]
    upscales = {
        op.operation.removeprefix("upscale-"): op
        for op in catalogue.operations
        if op.operation.startswith("upscale-")
    }
    if upscales:
        cheapest = min(upscales, key=lambda mode: upscales[mode].price_usd_per_image)
        tools.append(
            EditTool(
                "upscale_image",
                "Upscale image",
                f"Make an image larger: pass `image` ({INPUT_FORMS}) and a `mode` (default"
                f" {cheapest}, the cheapest).",
                upscales,
                selector="mode",
                default=cheapest,
            )
        )
    remove_background = catalogue.operation("remove-background")
    if remove_background is not None:
        tools.append(
            EditTool(
                "remove_background",
                "Remove background",
                f"Cut out an image's subject on a transparent background: pass `image`"
                f" ({INPUT_FORMS}).",
                {"remove-background": remove_background},
            )
        )
    return tools


def _usd(price: float) -> str:
    return f"${price:.2f}"


def _by_name(tool: EditTool, kind: str) -> dict[str, list[tuple[str, Any]]]:
    """Each field (``kind="fields"``) or input (``"inputs"``) of the tool's operations, with the
    operations (by selector value) that take it and their rule, in catalogue order."""
    rules: dict[str, list[tuple[str, Any]]] = {}
    for label, op in tool.choices.items():
        for rule in getattr(op, kind):
            rules.setdefault(rule.name, []).append((label, rule))
    return rules


def _required(tool: EditTool, entries: list[tuple[str, Any]]) -> bool:
    """Required by the schema only when every operation of the tool requires it."""
    return len(entries) == len(tool.choices) and all(rule.required for _, rule in entries)


def _help(tool: EditTool, entries: list[tuple[str, Any]], limits: dict[str, str]) -> str:
    """What a field or input is, its limits (by selector value) and which operations take (or
    require) it; the operations sharing a description and limits are named together."""
    groups: dict[tuple[str, str], list[str]] = {}
    for label, rule in entries:
        groups.setdefault((rule.description, limits[label]), []).append(label)
    everyone = len(entries) == len(tool.choices) and len(groups) == 1
    parts = []
    for (description, limit), labels in groups.items():
        what = ": ".join(filter(None, (description, limit)))
        who = "" if everyone else ", ".join(labels)
        parts.append(f"{what} (for {who})" if what and who else what or f"for {who}")
    text = "; ".join(parts)
    required = [label for label, rule in entries if rule.required]
    optional = [label for label, rule in entries if not rule.required]
    if required and optional:
        text += f"; required except for {', '.join(optional)}"
    elif required and not _required(tool, entries):
        text += "; required"
    return text[:1].upper() + text[1:] + "."


def _range(rule: FieldRule) -> str:
    return f"{rule.min:g}-{rule.max:g}" if rule.type in ("number", "integer") else ""


def _input_limits(rule: InputRule) -> str:
    sides = (
        f"sides {rule.min_side}-{rule.max_side} px"
        if rule.max_side
        else f"sides at least {rule.min_side} px"
    )
    parts = [sides]
    if rule.max_pixels:
        parts.append(f"{rule.min_pixels or 0}-{rule.max_pixels} pixels")
    if rule.min_ratio is not None:
        parts.append(f"width/height {rule.min_ratio:g}-{rule.max_ratio:g}")
    if rule.same_size_as:
        parts.append(f"the size of {rule.same_size_as}")
    return ", ".join([*parts, "/".join(rule.formats)])


def _parameter(
    name: str, kind: Any, required: bool, default: Any = None, **field: Any
) -> inspect.Parameter:
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[kind if required else kind | None, Field(**field)],
        default=inspect.Parameter.empty if required else default,
    )


def _field_parameter(
    tool: EditTool, name: str, entries: list[tuple[str, FieldRule]]
) -> inspect.Parameter:
    rules = [rule for _, rule in entries]
    bounds: dict[str, Any] = {}
    if rules[0].type == "choice":
        kind: Any = Literal[tuple(dict.fromkeys(v for rule in rules for v in rule.values))]
    else:
        kind = _TYPES[rules[0].type]
    if rules[0].type == "text":
        bounds["max_length"] = max(rule.max_length for rule in rules)
    elif rules[0].type in ("number", "integer"):
        bounds["ge"] = kind(min(rule.min for rule in rules))
        bounds["le"] = kind(max(rule.max for rule in rules))
    limits = {label: _range(rule) for label, rule in entries}
    return _parameter(
        name, kind, _required(tool, entries), description=_help(tool, entries, limits), **bounds
    )


def _input_parameter(
    tool: EditTool, name: str, entries: list[tuple[str, InputRule]]
) -> inspect.Parameter:
    limits = {label: _input_limits(rule) for label, rule in entries}
    forms = "Key of an earlier image, data:image/...;base64 URI, or (stdio only) absolute file path"
    return _parameter(
        name,
        str,
        _required(tool, entries),
        min_length=1,
        description=f"{forms}. {_help(tool, entries, limits)}",
    )


def _seed_parameter(tool: EditTool) -> list[inspect.Parameter]:
    seeded = {label: op for label, op in tool.choices.items() if op.seed_max is not None}
    if not seeded:
        return []
    unseeded = [label for label in tool.choices if label not in seeded]
    text = "Same seed, inputs and fields give the same image; omit for a new one (the seed used"
    text += " is returned)."
    if unseeded:
        text += f" Not taken by {', '.join(unseeded)}."
    top = max(op.seed_max for op in seeded.values())
    return [_parameter("seed", int, False, ge=0, le=top, description=text)]


def _format_parameter(tool: EditTool) -> inspect.Parameter:
    formats = tuple(dict.fromkeys(f for op in tool.choices.values() for f in op.output_formats))
    defaults = {op.output_formats[0] for op in tool.choices.values()}
    default = f" (default {defaults.pop()})" if len(defaults) == 1 else ""
    return _parameter(
        "output_format", Literal[formats], False, description=f"Result image format{default}."
    )


def _selector_parameter(tool: EditTool) -> list[inspect.Parameter]:
    if tool.selector is None:
        return []
    return [
        _parameter(
            tool.selector,
            Literal[tuple(tool.choices)],
            tool.default is None,
            default=tool.default,
            description="Which edit; the tool description lists each one's fields and price.",
        )
    ]


def parameters(tool: EditTool) -> list[inspect.Parameter]:
    """The tool's arguments: selector, input images, the union of fields, seed, format."""
    return [
        *_selector_parameter(tool),
        *(_input_parameter(tool, n, e) for n, e in _by_name(tool, "inputs").items()),
        *(_field_parameter(tool, n, e) for n, e in _by_name(tool, "fields").items()),
        *_seed_parameter(tool),
        _format_parameter(tool),
    ]


def _needs(tool: EditTool, op: OperationSpec) -> str:
    """What an operation needs beyond the tool's required arguments, and its optional inputs."""
    schema_required = {
        name
        for kind in ("fields", "inputs")
        for name, entries in _by_name(tool, kind).items()
        if _required(tool, entries)
    }
    rules = [*op.fields, *op.inputs]
    needs = [r.name for r in rules if r.required and r.name not in schema_required]
    parts = [f"needs {', '.join(needs)}"] if needs else []
    if op.require_any:
        parts.append(f"needs one of {', '.join(op.require_any)}")
    optional_inputs = [r.name for r in op.inputs if not r.required]
    if optional_inputs:
        parts.append(f"optional {', '.join(optional_inputs)}")
    return f" ({'; '.join(parts)})" if parts else ""


def description(tool: EditTool, catalogue: Catalogue, today: date) -> str:
    """The tool's description: what it does, each operation with its price, and which cost
    far more than generating an image, so an assistant picks the right one."""
    generation = [m.price_usd_per_image for m in catalogue.models if not m.is_retired(today)]
    low, high = min(generation), max(generation)
    lines = [
        tool.summary,
        f"Estimated price per result image (generate_image costs {_usd(low)}-{_usd(high)}):",
        *(
            f"- {label} ({_usd(op.price_usd_per_image)}"
            + (", retired" if op.is_retired(today) else "")
            + f"): {op.description}{_needs(tool, op)}"
            for label, op in tool.choices.items()
        ),
    ]
    costly = [
        f"{label} ({_usd(op.price_usd_per_image)})"
        for label, op in tool.choices.items()
        if op.price_usd_per_image > high
    ]
    if costly:
        lines.append(
            f"Cost: {' and '.join(costly)} cost far more than generating an image (at most"
            f" {_usd(high)}); use them only when asked for that quality."
        )
    lines.append(
        "Returns a small preview, a link to the full image, its key (to edit it further) and the"
        " seed."
    )
    lines.append(JOBS_NOTE)
    return "\n".join(lines)
