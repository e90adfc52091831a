"""Tool arguments checked as strictly as the REST API checks a body.

MCPServer validates arguments with a pydantic model it builds from the tool function's signature
(``func_metadata``). That model ignores unknown names (a misspelt ``sed`` would silently be
dropped), coerces ``true`` to 1, and its errors end in pydantic.dev links that mean nothing to an
assistant. ``strict_tool`` builds the tool as MCPServer would and swaps in a subclass of that
model which forbids extra names, takes JSON types as they are and words its errors plainly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver.tools import Tool
from pydantic import ConfigDict, ValidationError, ValidatorFunctionWrapHandler, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError


def _describe(error: ErrorDetails) -> str:
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]


def strict_tool(fn: Callable[..., Any], **options: Any) -> Tool:
    """``Tool.from_function(fn, **options)`` with strict argument checking, for
    ``MCPServer(tools=[...])``."""
    tool = Tool.from_function(fn, **options)
    loose = tool.fn_metadata.arg_model

    class StrictArguments(loose):
        model_config = ConfigDict(
            extra="forbid", strict=True, hide_input_in_errors=True, title=loose.__name__
        )

        @model_validator(mode="wrap")
        @classmethod
        def _plain_errors(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
            """One message naming each bad argument; a custom error carries no doc link."""
            try:
                return handler(data)
            except ValidationError as exc:
                problems = "; ".join(_describe(e) for e in exc.errors(include_url=False))
                raise PydanticCustomError("invalid_arguments", problems) from None

    metadata = tool.fn_metadata.model_copy(update={"arg_model": StrictArguments})
    schema = StrictArguments.model_json_schema(by_alias=True)
    return tool.model_copy(update={"fn_metadata": metadata, "parameters": schema})
