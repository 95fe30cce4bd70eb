"""The model's own tools (all but `end_call`), run off the audio path.

`Relay` hands each call of a declared tool to an injected `RunTool` (the consumer's, which writes to the database)
as a task of its own: audio keeps flowing while it runs. Its answer, or a readable error when it fails or takes
longer than `TOOL_TIMEOUT_S`, goes back to the model as the call's `function_call_output`; one slower than
`FILLER_AFTER_S` has the bot say a filler line meanwhile. No Django here.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

TOOL_TIMEOUT_S = 5.0
FILLER_AFTER_S = 1.0  # a tool slower than this has the bot say agent.yaml's `tool_filler` while it runs
UNKNOWN_TOOL = {"error": "unknown tool"}


@dataclass(frozen=True)
class ToolCall:
    """One call of a tool by the model: its name, parsed arguments, the API's call id, and when on the call clock."""

    name: str
    arguments: dict[str, Any]
    call_id: str
    at_ms: int


RunTool = Callable[[ToolCall], Awaitable[dict[str, Any]]]


async def tool_answer(run_tool: RunTool, call: ToolCall, *, timeout_s: float) -> dict[str, Any]:
    """What `run_tool` answered, or {"error": ...} saying why there is no answer (the model reads it aloud)."""
    try:
        async with asyncio.timeout(timeout_s):
            result = await run_tool(call)
    except TimeoutError:
        return {"error": f"{call.name} did not answer within {timeout_s:g} s; it may not have been done."}
    except Exception as exc:
        return {"error": f"{call.name} failed: {str(exc)[:200] or type(exc).__name__}"}
    return result if isinstance(result, dict) else {"result": result}
