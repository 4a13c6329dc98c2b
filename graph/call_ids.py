"""Tethra owns tool-call identity: every call the governed node sees has an id unique in
its thread.

The governed node keys each call by ``idempotency_key(thread_id, tool_call_id)``, so
two calls sharing an id would share one record: the second would never be proposed,
decided or audited, and would be answered with the first one's result. Some
OpenAI-compatible servers omit ids, send them empty, repeat one within a message or
reuse one from an earlier turn. The agent node therefore passes each model response
through ``with_unique_call_ids`` before returning it (the returned message is what is
checkpointed, so the ids assigned here are the ones every later step replays).

A provider's id is kept when it is present and not used before in the thread (nor
earlier in the same message). Otherwise the call gets ``tethra_<hash>``, a hash of
the seed (the run id and the message's position in the thread) and the call's index:
the same response always gets the same ids, and no two messages of a thread share one.
The provider's own record of the calls (``additional_kwargs["tool_calls"]``, the
``tool_use`` / ``tool_call`` / ``function_call`` content blocks, ``tool_call_chunks``)
is rewritten to match, so a later request pairs each ToolMessage with its call.
A response id the thread already holds is replaced too (``with_unique_message_id``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, MutableMapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage

Entry = MutableMapping[str, Any]

PREFIX = "tethra_"
_DIGEST_CHARS = 24
"""``tethra_`` + 24 hex characters: 31 in all, within every provider's id limit (40)."""

_BLOCK_ID_FIELDS = {"tool_use": "id", "tool_call": "id", "function_call": "call_id"}
"""Content-block types that carry a call's id, and the field they carry it in."""


def used_ids(messages: Iterable[BaseMessage]) -> set[str]:
    """Every tool-call id the thread has used so far (calls and their answers)."""
    used: set[str] = set()
    for message in messages:
        if isinstance(message, AIMessage):
            calls = [*message.tool_calls, *message.invalid_tool_calls]
            used.update(call_id for c in calls if (call_id := c.get("id")))
        elif isinstance(message, ToolMessage) and message.tool_call_id:
            used.add(message.tool_call_id)
    return used


def with_unique_message_id(message: AIMessage, *, seed: str, taken: Set[str]) -> AIMessage:
    """``message``, or a copy with a new id if the thread already holds a message with
    its id: the thread's reducer (``add_messages``) would take it for an update of that
    message and overwrite it (a server that repeats its response id)."""
    if not message.id or message.id not in taken:
        return message
    digest = hashlib.sha256(f"{seed}\x00message".encode()).hexdigest()[:_DIGEST_CHARS]
    return message.model_copy(update={"id": f"{PREFIX}msg_{digest}"})


def derived_id(seed: str, index: int, attempt: int = 0) -> str:
    text = f"{seed}\x00{index}" if attempt == 0 else f"{seed}\x00{index}\x00{attempt}"
    return PREFIX + hashlib.sha256(text.encode()).hexdigest()[:_DIGEST_CHARS]


@dataclass
class _Call:
    original: str
    """The provider's id, "" when it sent none."""
    name: str
    valid: bool
    """In ``tool_calls`` (True) or ``invalid_tool_calls`` (False)."""
    assigned: str = ""


def assign_ids(originals: list[str | None], seed: str, used: Set[str]) -> list[str]:
    """Ids for one message's calls, in order: the provider's where it is present and
    new to the thread (first occurrence only), a derived one otherwise."""
    kept: list[str | None] = []
    seen: set[str] = set()
    for original in originals:
        if original and original not in used and original not in seen:
            seen.add(original)
            kept.append(original)
        else:
            kept.append(None)
    taken = set(used) | seen
    assigned: list[str] = []
    for index, keep in enumerate(kept):
        if keep is not None:
            assigned.append(keep)
            continue
        attempt = 0
        while (derived := derived_id(seed, index, attempt)) in taken:
            attempt += 1
        taken.add(derived)
        assigned.append(derived)
    return assigned


def with_unique_call_ids(message: AIMessage, *, seed: str, used: Set[str]) -> AIMessage:
    """``message`` itself when every id is kept; otherwise a copy whose calls (valid and
    invalid) carry their assigned ids everywhere the message records them.

    ``seed`` must be unique to this message in its thread (e.g. the run id and the
    message's position); ``used`` is ``used_ids`` of the messages before it.
    """
    calls = [_Call(c.get("id") or "", c["name"], valid=True) for c in message.tool_calls] + [
        _Call(c.get("id") or "", c.get("name") or "", valid=False)
        for c in message.invalid_tool_calls
    ]
    if not calls:
        return message
    for call, new in zip(calls, assign_ids([c.original for c in calls], seed, used), strict=True):
        call.assigned = new
    if all(c.assigned == c.original for c in calls):
        return message

    updated = message.model_copy(deep=True)
    valid = [c for c in calls if c.valid]
    invalid = [c for c in calls if not c.valid]
    for tool_call, call in zip(updated.tool_calls, valid, strict=True):
        tool_call["id"] = call.assigned
    for invalid_call, call in zip(updated.invalid_tool_calls, invalid, strict=True):
        invalid_call["id"] = call.assigned

    raw = updated.additional_kwargs.get("tool_calls")
    if isinstance(raw, list):
        _rewrite(calls, raw, lambda _: "id", _raw_name, _raw_is_valid)
    if isinstance(updated.content, list):
        blocks = [
            b for b in updated.content if isinstance(b, dict) and b.get("type") in _BLOCK_ID_FIELDS
        ]
        _rewrite(calls, blocks, lambda b: _BLOCK_ID_FIELDS[b["type"]], _name, lambda _: None)
    if isinstance(updated, AIMessageChunk):
        chunks: list[Any] = list(updated.tool_call_chunks)
        _rewrite(calls, chunks, lambda _: "id", _name, lambda _: None)
    return updated


def _rewrite(
    calls: list[_Call],
    entries: Sequence[object],
    field_of: Callable[[Entry], str],
    name_of: Callable[[Entry], str | None],
    valid_of: Callable[[Entry], bool | None],
) -> None:
    """Give each provider-side entry the id of the call it records: the first call not
    yet paired with the same provider id and name (both lists keep the provider's
    order, so repeated ids pair up in order)."""
    paired: set[int] = set()
    for entry in entries:
        if not isinstance(entry, MutableMapping):
            continue
        field = field_of(entry)
        original, name, hint = entry.get(field) or "", name_of(entry), valid_of(entry)
        matches = [
            i
            for i, c in enumerate(calls)
            if i not in paired and c.original == original and c.name == name
        ]
        preferred = [i for i in matches if hint is None or calls[i].valid == hint]
        for i in (preferred or matches)[:1]:
            paired.add(i)
            entry[field] = calls[i].assigned


def _name(entry: Entry) -> str | None:
    name = entry.get("name")
    return name if isinstance(name, str) else None


def _raw_name(entry: Entry) -> str | None:
    function = entry.get("function")
    name = function.get("name") if isinstance(function, dict) else entry.get("name")
    return name if isinstance(name, str) else None


def _raw_is_valid(entry: Entry) -> bool | None:
    """Whether an OpenAI-format raw call parses (langchain puts it in ``tool_calls``) or
    not (``invalid_tool_calls``); None when it cannot tell."""
    function = entry.get("function")
    if not isinstance(function, dict):
        return None
    arguments = function.get("arguments")
    if not arguments:
        return True
    try:
        return isinstance(json.loads(arguments), dict)
    except (TypeError, ValueError):
        return False
