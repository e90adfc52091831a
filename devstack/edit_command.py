"""``imagegen edit``: its options, made from the catalogue's operations, and its input images,
local files or keys of images the API already holds.

Operations and their fields are data (``service/catalogue.json``), so a new operation or field
needs no change here. Which fields an operation accepts is checked by the API: the CLI sends
what it is given, and the API's 400 names a field the operation does not take.
"""

from __future__ import annotations

import argparse
import base64
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from api_client import content_type_of
from devstack.options import finite_number
from service.catalogue import FieldRule, OperationSpec, default_catalogue
from service.inputs import MAX_INPUT_BYTES

OPERATIONS = default_catalogue().operations
Uses = list[tuple[str, Any]]  # (operation, its FieldRule or InputRule)
# A key from an earlier answer: under the default prefixes, or shaped like the keys the service
# makes under any prefix (``<prefix>YYYY/MM/DD/<hex>.<ext>``, ``<prefix>cache/<hex>.<ext>``).
KEY_SHAPE = re.compile(
    r"(images/|uploads/)|.*/(\d{4}/\d{2}/\d{2}|cache)/[0-9a-f]{32,}\.(png|jpg|webp)$"
)
# Inline base64 saves two round trips (POST /uploads, then the POST to S3) and leaves no upload
# object behind, and it works where S3 is out of the client's reach (a local `serve --host
# 0.0.0.0` seen from another machine). But an edit body takes at most 6,000,000 bytes (Lambda's
# 6 MB request limit, api_gateway/openapi.yaml), so local files go inline while their base64
# totals at most this much (about 3 MB of images), which leaves room for the text fields, and
# are uploaded beyond it.
INLINE_BUDGET_BYTES = 4_000_000
OPTION_TYPES: dict[str, tuple[Callable[[str], Any], str]] = {  # field type -> (type, metavar)
    "text": (str, "TEXT"),
    "choice": (str, "VALUE"),
    "integer": (int, "N"),
    "number": (finite_number, "NUMBER"),
}


class InputImage(NamedTuple):
    """An input image option's value: a local file's bytes, or (``data`` None) a key."""

    text: str  # as given, for messages and as the key
    data: bytes | None


def _read_image(path: Path) -> bytes:
    """A local file's bytes, refused now if no API could take it as an input image."""
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:  # the most one Bedrock call takes
            raise argparse.ArgumentTypeError(
                f"{path} is {size} bytes; input images can have at most {MAX_INPUT_BYTES}"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror}") from None
    if content_type_of(data) is None:
        raise argparse.ArgumentTypeError(f"{path} is not a PNG, JPEG or WebP image")
    return data


def input_image(text: str) -> InputImage:
    """An existing file (read now, so a wrong one fails before a stack starts or anything is
    sent), else a key; anything else is a path that does not exist."""
    path = Path(text)
    if path.is_file():
        return InputImage(text, _read_image(path))
    if path.exists():  # a directory, a device
        raise argparse.ArgumentTypeError(f"{text} is not an image file")
    if KEY_SHAPE.match(text):
        return InputImage(text, None)
    raise argparse.ArgumentTypeError(
        f"no such file: {text} (keys of earlier images and uploads start with images/ or uploads/)"
    )


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _by_name(items: Callable[[OperationSpec], tuple]) -> dict[str, Uses]:
    """Each field (or input) name with the (operation, rule) pairs that use it, in catalogue
    order."""
    named: dict[str, Uses] = {}
    for operation in OPERATIONS:
        for rule in items(operation):
            named.setdefault(rule.name, []).append((operation.operation, rule))
    return named


FIELDS = _by_name(lambda op: op.fields)
INPUTS = _by_name(lambda op: op.inputs)
# Inputs every operation requires (the image to edit): the help names them once.
EVERYWHERE = [
    name
    for name, uses in INPUTS.items()
    if len(uses) == len(OPERATIONS) and all(rule.required for _, rule in uses)
]


def _kind(rules: list[FieldRule]) -> str:
    """One type for a name several operations share: a number if any takes a fraction, text if
    they disagree more."""
    kinds = {rule.type for rule in rules}
    if len(kinds) == 1:
        return kinds.pop()
    return "number" if kinds <= {"integer", "number"} else "text"


def _limit(rule: FieldRule) -> tuple[str, str]:
    """How help introduces the operations that take a field this way, and what follows them."""
    if rule.type in ("integer", "number"):
        return "", f" ({rule.min:g}-{rule.max:g}{', required' if rule.required else ''})"
    return ("required by " if rule.required else "optional for "), ""


def _field_help(uses: Uses) -> str:
    """The description, then which operations take the field, grouped by range."""
    groups: dict[tuple[str, str], list[str]] = {}
    for operation, rule in uses:
        groups.setdefault(_limit(rule), []).append(operation)
    taken = "; ".join(f"{lead}{', '.join(ops)}{tail}" for (lead, tail), ops in groups.items())
    description = next((rule.description for _, rule in uses if rule.description), "")
    return f"{description}; {taken}" if description else taken


def _add_field(parser: argparse.ArgumentParser, name: str, uses: Uses) -> None:
    rules = [rule for _, rule in uses]
    kind = _kind(rules)
    values = sorted({value for rule in rules for value in rule.values}) if kind == "choice" else []
    option_type, metavar = OPTION_TYPES[kind]
    parser.add_argument(
        _option(name),
        dest=name,
        type=option_type,
        choices=values or None,
        metavar=metavar,
        help=_field_help(uses) + (f"; one of {', '.join(values)}" if values else ""),
    )


def _add_input(parser: argparse.ArgumentParser, name: str, uses: Uses) -> None:
    everywhere = name in EVERYWHERE
    parser.add_argument(
        _option(name),
        dest=name,
        type=input_image,
        required=everywhere,
        metavar="FILE|KEY",
        help="a PNG, JPEG or WebP file, or the key of an earlier image or upload"
        + ("" if everywhere else f"; {_taken_by(uses)}"),
    )


def _taken_by(uses: Uses) -> str:
    required = [op for op, rule in uses if rule.required]
    optional = [op for op, rule in uses if not rule.required]
    return "; ".join(
        f"{kind} {', '.join(ops)}"
        for kind, ops in (("required by", required), ("optional for", optional))
        if ops
    )


def _takes(operation: OperationSpec) -> str:
    """The options an operation takes, ``*`` marking required ones and ``(a|b)*`` "one of"."""
    any_of = [_option(name) for name in operation.require_any]
    named = [rule for rule in (*operation.inputs, *operation.fields) if rule.name not in EVERYWHERE]
    shown = [f"({'|'.join(any_of)})*"] if any_of else []
    shown += [
        _option(rule.name) + ("*" if rule.required else "")
        for rule in named
        if rule.name not in operation.require_any
    ]
    return " ".join(shown) or "(no other options)"


def operations_help() -> str:
    """The epilog of ``imagegen edit --help``: each operation, what it does and takes."""
    always = " ".join(_option(name) for name in EVERYWHERE)
    lines = [f"operations and their options besides {always} (* required):"]
    for operation in OPERATIONS:
        lines += [f"  {operation.operation}: {operation.description}", f"      {_takes(operation)}"]
    return "\n".join(lines)


class HelpFormatter(argparse.HelpFormatter):
    """Wraps each line of the description and epilog on its own, keeping its indent (and
    hanging an indented line's continuation), so the operations stay a list at any width."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = []
        for line in text.splitlines():
            lead = indent + " " * (len(line) - len(line.lstrip()))
            hang = "  " if line.startswith(" ") else ""
            lines += textwrap.wrap(
                line.strip(),
                width,
                initial_indent=lead,
                subsequent_indent=lead + hang,
                break_on_hyphens=False,  # keep option names whole
            ) or [""]
        return "\n".join(lines)


def takes_seed(name: str) -> bool:
    """Whether the answer's seed means anything (an operation without one reports 0)."""
    return next(op for op in OPERATIONS if op.operation == name).seed_max is not None


def add_edit_options(parser: argparse.ArgumentParser) -> None:
    """The operation, its input images, one option per field of any operation, seed and
    format."""
    parser.add_argument(
        "operation",
        choices=[op.operation for op in OPERATIONS],
        metavar="OPERATION",
        help="one of the operations below",
    )
    for name, uses in INPUTS.items():
        _add_input(parser, name, uses)
    for name, uses in FIELDS.items():
        _add_field(parser, name, uses)
    seedless = [op.operation for op in OPERATIONS if op.seed_max is None]
    parser.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="same seed, input and options give the same image (not " + ", ".join(seedless) + ")",
    )
    parser.add_argument(
        "--output-format",
        dest="output_format",
        choices=sorted({f for op in OPERATIONS for f in op.output_formats}),
        help="image format (default: the operation's first, png)",
    )


def edit_body(args: argparse.Namespace) -> dict[str, Any]:
    """The request without its input images: only the options given."""
    names = (*FIELDS, "seed", "output_format")
    given = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    return {"operation": args.operation, **given}


def input_references(
    args: argparse.Namespace, upload: Callable[[str, bytes], str]
) -> dict[str, dict[str, str]]:
    """Each input image as the API takes it: a key as is, a local file inline while the budget
    lasts, else uploaded (``upload(name, data)`` returns the upload's key)."""
    references: dict[str, dict[str, str]] = {}
    budget = INLINE_BUDGET_BYTES
    for name in INPUTS:
        image: InputImage | None = getattr(args, name)
        if image is None:
            continue
        if image.data is None:
            references[name] = {"key": image.text}
            continue
        encoded = base64.b64encode(image.data).decode("ascii")
        if len(encoded) <= budget:
            budget -= len(encoded)
            references[name] = {"data": encoded}
        else:
            references[name] = {"key": upload(image.text, image.data)}
    return references
