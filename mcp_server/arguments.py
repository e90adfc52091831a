"""Tool arguments checked as strictly as the REST API checks a body, and refused in plain words.

MCPServer validates arguments with a pydantic model it builds from the tool function's signature
(``func_metadata``). That model ignores unknown names (a misspelt ``sed`` would silently be
dropped), coerces ``true`` to 1, takes NaN for a number, and its errors read like library output
(``1 validation error for generate_imageArguments ... [type=...]``, pydantic.dev links), which
means little to an assistant. ``strict_tool`` builds the tool as MCPServer would, swaps in a
subclass of that model which forbids extra names, takes JSON types as they are and refuses NaN
and Infinity, and words the refusal itself (``StrictTool``). ``image_input`` reads an edit
tool's image argument the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from pydantic import ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from service.inputs import MAX_KEY_LENGTH

# pydantic's messages start with what they check ("Input should be ...", "String should have
# ..."); with the argument's name in its place they read as plain sentences.
_SUBJECTS = ("Input ", "String ")


class StrictTool(Tool):
    """A tool whose argument errors name each argument and what is wrong with it, and nothing
    else: the SDK's message would carry pydantic's summary line, class name and error types."""

    def _accepted(self) -> str:
        names = list(self.parameters.get("properties", {}))
        return f"accepted: {', '.join(names)}" if names else "it takes none"

    def _describe(self, error: ErrorDetails) -> str:
        name = ".".join(str(part) for part in error["loc"]) or "arguments"
        if error["type"] == "missing":
            return f"'{name}' is required"
        if error["type"] == "extra_forbidden":
            return f"'{name}' is not an argument of {self.name} ({self._accepted()})"
        if error["type"] == "finite_number":
            return f"'{name}' must be a finite number"
        for subject in _SUBJECTS:
            if error["msg"].startswith(subject):
                return f"'{name}' {error['msg'].removeprefix(subject)}"
        return f"'{name}': {error['msg']}"

    async def run(
        self, arguments: dict[str, Any], context: Any, convert_result: bool = False
    ) -> Any:
        """The SDK's run, with its argument error reworded. Its cause stays the ValidationError,
        so the server's log line names the rejected arguments (never their values)."""
        try:
            return await super().run(arguments, context, convert_result)
        except ToolError as exc:
            cause = exc.__cause__
            if type(exc) is not ToolError or not isinstance(cause, ValidationError):
                raise  # the tool's own error, or a crash: already worded by the SDK
            problems = "; ".join(self._describe(e) for e in cause.errors(include_url=False))
            raise ToolError(f"invalid arguments: {problems}") from cause


def strict_tool(fn: Callable[..., Any], **options: Any) -> Tool:
    """``Tool.from_function(fn, **options)`` with strict argument checking, for
    ``MCPServer(tools=[...])``."""
    tool = StrictTool.from_function(fn, **options)
    loose = tool.fn_metadata.arg_model

    class StrictArguments(loose):
        model_config = ConfigDict(
            extra="forbid",
            strict=True,
            allow_inf_nan=False,
            hide_input_in_errors=True,
            title=loose.__name__,
        )

    metadata = tool.fn_metadata.model_copy(update={"arg_model": StrictArguments})
    schema = StrictArguments.model_json_schema(by_alias=True)
    return tool.model_copy(update={"fn_metadata": metadata, "parameters": schema})


def image_input(name: str, value: str, local_files: bool) -> dict[str, str] | Path:
    """An edit tool's image argument as the service takes it: a ``data:`` URI as
    ``{"data": ...}``, an earlier image's key as ``{"key": ...}``; or the ``Path`` of a local
    file (absolute or ``~/...``), which only a server whose caller runs on this machine
    (``local_files``: stdio) reads."""
    if value[:5].lower() == "data:":
        return {"data": value}
    forms = (
        "pass the key of an earlier image, a data:image/png;base64,... URI or (stdio only) an"
        " absolute file path"
    )
    if "://" in value:
        raise ToolError(f"invalid arguments: '{name}' is a URL, which is not fetched; {forms}")
    if len(value) > MAX_KEY_LENGTH:
        raise ToolError(f"invalid arguments: '{name}' is too long for a key (raw base64?); {forms}")
    if not (value.startswith("~/") or Path(value).is_absolute()):
        return {"key": value}
    if not local_files:
        raise ToolError(
            f"invalid arguments: '{name}' is a file path, and this server reads local files"
            " only over stdio: a remote assistant must not read the server's files. Pass the key"
            " of an earlier image or a data:image/png;base64,... URI"
        )
    return Path(value).expanduser()
