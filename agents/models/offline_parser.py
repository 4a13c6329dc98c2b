"""Turning one operator message into requests, using the phrasebook's table.

A message may hold several requests joined by "and"; free text (an email body, a note)
may contain "and" too, so a split is only accepted where every piece is a request.
"""

from __future__ import annotations

import re
from functools import cache

from agents.models.offline_phrasebook import PHRASES, pattern
from agents.models.offline_results import Request

_LEADING = re.compile(
    r"^(?:(?:please|pls|kindly|can\s+you|could\s+you|would\s+you|will\s+you|"
    r"i(?:\s+(?:want|need|would\s+like)|'d\s+like)\s+(?:you\s+)?to|then|also|now|ok(?:ay)?|"
    r"hi|hello|hey)\b[\s,]*)+",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"(\s*;\s*|,?\s+and\s+(?:then\s+|also\s+)?)", re.IGNORECASE)
MAX_PIECES = 16
"""Beyond this many "and"-pieces the message is read as one clause, keeping parsing cheap."""
_HELP = pattern(r"(?:help|what\s+can\s+you\s+do|what\s+do\s+you\s+understand)")


def is_help(text: str) -> bool:
    return bool(_HELP.match(_LEADING.sub("", text.strip())))


def parse_clause(text: str) -> Request | None:
    clause = _LEADING.sub("", text.strip())
    for phrase in PHRASES:
        match = phrase.pattern.match(clause)
        if match:
            request = phrase.build(match)
            if request is not None:
                return request
    return None


def parse_message(text: str) -> list[Request] | None:
    """Prefer the earliest split that works, so "email customer 311: sorry and thanks"
    stays one email but "refund $20 on order 1043 and show order 1044" is two requests."""
    pieces = _SEPARATOR.split(text.strip())
    parts, separators = pieces[0::2], pieces[1::2]
    if len(parts) > MAX_PIECES:
        parts, separators = ["".join(pieces)], []

    @cache
    def segment(start: int) -> tuple[Request, ...] | None:
        for end in range(start, len(parts)):
            text_ = "".join(parts[i] + separators[i] for i in range(start, end)) + parts[end]
            request = parse_clause(text_)
            if request is None:
                continue
            if end == len(parts) - 1:
                return (request,)
            rest = segment(end + 1)
            if rest is not None:
                return (request, *rest)
        return None

    if not text.strip():
        return None
    found = segment(0)
    return list(found) if found is not None else None


def capabilities(bound: frozenset[str]) -> list[str]:
    """One example per action the model can take with exactly these tools."""
    examples: dict[str, str] = {}
    for phrase in PHRASES:
        if set(phrase.tools) <= bound:
            examples.setdefault(phrase.tools[-1], phrase.example)
    return list(examples.values())
