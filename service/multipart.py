"""Split a multipart/form-data body (RFC 7578) into its parts, for the OpenAI-compatible routes
that take files (``POST /v1/images/edits``), with the standard library.

Delimiters follow RFC 2046: ``--boundary`` at the start of the body or after a CRLF, then
optional spaces or tabs (transport padding) and a CRLF; ``--boundary--`` closes the body. The
preamble before the first delimiter and the epilogue after the last are ignored. Line breaks
must be CRLF: every encoder in use (browsers, curl, httpx under the openai SDK, urllib3,
aiohttp) writes them, and a body framed with bare LF is refused with that reason rather than
guessed at, since a guess could move a CR out of or into a file's bytes.

The body is searched with ``bytes.find`` only, so a 4.5 MB image costs one copy; a part's data
is every byte up to the CRLF before the next delimiter, whatever it holds.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from service.errors import InvalidField, UnsupportedMediaType

MAX_PARTS = 64
MAX_HEADER_BYTES = 8 * 1024  # one part's header lines; real ones take a few hundred bytes
MAX_PADDING = 64  # spaces or tabs after a delimiter (RFC 2046 transport padding)
# RFC 2046 allows 1 to 70 characters of a smaller set; like Werkzeug, any printable ASCII is
# taken, as the search needs only that it holds no line break. It must not end with a space.
_BOUNDARY = re.compile(r"[ -~]{0,69}[!-~]")
# name=value after a semicolon, the value a quoted string (escapes kept) or a bare token.
_PARAM = re.compile(r';\s*([^\s;=]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_QUOTED_PAIR = re.compile(r'\\([\\"])')  # only these: browsers send a lone \ unescaped
_FOLD = re.compile(rb"\r\n[ \t]+")


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None  # None for a plain field; "" when a form sent an empty file input
    content_type: str | None  # the part's Content-Type, as sent
    data: bytes


def text(part: Part) -> str:
    """A field's value as text: UTF-8, RFC 7578's default and what every client sends."""
    try:
        return part.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidField(
            f"'{part.name}' is not valid UTF-8 text (byte {exc.start})", field=part.name
        ) from None


def _params(value: str) -> tuple[str, dict[str, str]]:
    """A header's main value, lower case, and its parameters (names lower case; the first of a
    repeated one wins), quoted strings unquoted."""
    params: dict[str, str] = {}
    for match in _PARAM.finditer(value):
        raw = match[2].strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) > 1:
            raw = _QUOTED_PAIR.sub(r"\1", raw[1:-1])
        params.setdefault(match[1].lower(), raw)
    return value.split(";", 1)[0].strip().lower(), params


def _boundary(content_type: str | None) -> bytes:
    media_type, params = _params(content_type or "")
    if media_type != "multipart/form-data":
        shown = repr(content_type[:100]) if content_type else "missing"
        raise UnsupportedMediaType(
            f"Content-Type must be multipart/form-data, not {shown}", field="Content-Type"
        )
    boundary = params.get("boundary")
    if not boundary or not _BOUNDARY.fullmatch(boundary):
        problem = "has no boundary parameter" if boundary is None else "has an invalid boundary"
        raise InvalidField(
            f"Content-Type {problem}: multipart/form-data needs boundary=<1 to 70 printable"
            " ASCII characters, not ending with a space>",
            field="Content-Type",
        )
    return boundary.encode("ascii")


def _decoded(value: str) -> str:
    """A name or filename as sent: browsers, curl, httpx and urllib3 escape ``"``, CR and LF as
    %22, %0D and %0A (HTML5), aiohttp percent-encodes the whole filename."""
    return urllib.parse.unquote(value, errors="replace")


def _extended(value: str) -> str:
    """An RFC 5987 value (``UTF-8''%E2%82%AC.png``); read tolerantly, as it only names."""
    charset, _, rest = value.partition("'")
    _language, quote, encoded = rest.partition("'")
    if not quote:
        return _decoded(value)
    try:
        return urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset
        return _decoded(encoded)


def _problem(message: str) -> InvalidField:
    return InvalidField(f"the multipart body is malformed: {message}", field="body")


def _headers(block: bytes, number: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in _FOLD.sub(b" ", block).decode("utf-8", "replace").split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise _problem(f"part {number} has a header line without a name and a colon")
        headers.setdefault(name.strip().lower(), value.strip())
    return headers


def _part(headers: dict[str, str], data: bytes, number: int) -> Part:
    disposition, params = _params(headers.get("content-disposition", ""))
    name = params.get("name")
    if name is None and "name*" in params:  # aiohttp's spelling of a non-ASCII name
        name = _extended(params["name*"])
    elif name is not None:
        name = _decoded(name)
    if disposition != "form-data" or name is None:
        raise _problem(
            f"part {number} has no 'Content-Disposition: form-data; name=\"...\"' header (RFC 7578)"
        )
    if "filename*" in params:
        filename = _extended(params["filename*"])
    else:
        filename = params.get("filename")
        filename = None if filename is None else _decoded(filename)
    return Part(name, filename, headers.get("content-type"), data)


def _line_end(body: bytes, pos: int, boundary: bytes) -> int:
    """Where the line after a delimiter ends, past its transport padding, or why it cannot."""
    end = body.find(b"\r\n", pos, pos + MAX_PADDING + 2)
    if end != -1 and not body[pos:end].strip(b" \t"):
        return end
    rest = body[pos:].lstrip(b" \t")
    if not rest.strip():
        message = f"it ends without the closing '--{boundary.decode()}--' line"
    elif rest.startswith(b"\n"):
        message = "its lines end with a bare LF; multipart/form-data needs CRLF (RFC 2046)"
    else:
        message = f"a '--{boundary.decode()}' line has other text after the boundary"
    raise _problem(message)


def parse(body: bytes, content_type: str | None, *, max_parts: int = MAX_PARTS) -> list[Part]:
    """The parts of a multipart/form-data body, in order. ``UnsupportedMediaType`` when
    ``content_type`` is not multipart/form-data, ``InvalidField`` on ``Content-Type`` when its
    boundary is missing or invalid, on ``body`` when the body is malformed or has more than
    ``max_parts`` parts."""
    boundary = _boundary(content_type)
    delimiter = b"\r\n--" + boundary
    if body.startswith(delimiter[2:]):
        pos = len(delimiter) - 2
    else:
        pos = body.find(delimiter)
        if pos == -1:
            raise _problem(
                f"it does not contain the boundary '--{boundary.decode()}' its Content-Type names"
            )
        pos += len(delimiter)
    parts: list[Part] = []
    while not body.startswith(b"--", pos):  # the close delimiter; the epilogue is ignored
        number = len(parts) + 1
        if number > max_parts:
            raise _problem(f"it has more than {max_parts} parts")
        start = _line_end(body, pos, boundary)  # the CRLF that ends the delimiter line
        end = body.find(b"\r\n\r\n", start, start + MAX_HEADER_BYTES + 4)
        if end == -1:
            raise _problem(
                f"it ends inside the headers of part {number}"
                if len(body) < start + MAX_HEADER_BYTES + 4
                else f"the headers of part {number} are not ended by an empty line within"
                f" {MAX_HEADER_BYTES} bytes"
            )
        headers = _headers(body[start + 2 : end], number) if end > start else {}
        # From end + 2: a part may have no body at all (RFC 2046: ``headers [CRLF *OCTET]``),
        # and then the delimiter's CRLF is the one that ends the headers.
        stop = body.find(delimiter, end + 2)
        if stop == -1:
            raise _problem(f"it ends without the closing '--{boundary.decode()}--' line")
        parts.append(_part(headers, body[end + 4 : stop] if stop >= end + 4 else b"", number))
        pos = stop + len(delimiter)
    return parts
