"""The HuatuoGPT2 release format shared by unified pairs, SFT data and the packer.

A conversation is ``[{"from": "human", "value": q1}, {"from": "gpt", "value": a1}, ...]``: turns alternate,
a human turn first and an answer last, every turn non-empty text. ShareGPT / OpenAI spellings (``role`` /
``content``, ``user`` / ``assistant``) are read as the same thing. :func:`conversation_turns` is the one
validator (the sft step quarantines what it rejects; the packer drops it with the same reason).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

HUMAN = {"human", "user"}
GPT = {"gpt", "assistant"}
CONVERSATION_TYPE = pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))


def conversation_turns(conv: Any) -> tuple[list[tuple[str, str]] | None, str | None]:
    """Validate a HuatuoGPT2/ShareGPT conversation -> ([(question, answer), ...], None) or (None, reason)."""
    if isinstance(conv, dict):
        conv = conv.get("conversations")
    if conv is None or not hasattr(conv, "__len__") or isinstance(conv, (str, bytes, dict)):
        return None, "conversations is not a list"
    if len(conv) == 0:
        return None, "empty conversation"
    turns, question = [], None
    for i, t in enumerate(conv):
        if not isinstance(t, dict):
            return None, f"turn {i} is not an object"
        who, value = t.get("from", t.get("role")), t.get("value", t.get("content"))
        if not isinstance(value, str) or not value.strip():
            return None, f"turn {i} has no text"
        want = HUMAN if i % 2 == 0 else GPT
        if who not in want:
            return None, f"turn {i} is from {who!r}, expected {'human' if i % 2 == 0 else 'gpt'} (turns must alternate)"
        if i % 2 == 0:
            question = value
        else:
            turns.append((question, value))
    if len(conv) % 2:
        return None, "last turn is a question without an answer"
    return turns, None


def release_turns(turns: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Validated turns in the release spelling."""
    return [t for q, a in turns for t in ({"from": "human", "value": q}, {"from": "gpt", "value": a})]
