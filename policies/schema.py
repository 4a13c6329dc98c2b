"""The shape of a policy file, validated before anything is compiled."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Tier = Literal["allow", "review", "deny"]
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"deadline {text!r} must look like 30m, 4h or 2d")
    amount, unit = match.groups()
    return timedelta(**{_UNITS[unit]: int(amount)})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReviewSpec(_Strict):
    role: str = "approver"
    approvals: int = Field(default=1, ge=1, le=10)
    deadline: str = "4h"

    @field_validator("deadline")
    @classmethod
    def _deadline_parses(cls, value: str) -> str:
        parse_duration(value)
        return value


class Match(_Strict):
    """Which calls a rule looks at. Empty lists mean 'any'; all given lists must match."""

    tools: tuple[str, ...] = ()
    systems: tuple[str, ...] = ()
    effects: tuple[str, ...] = ()


class RuleSpec(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    description: str = ""
    match: Match = Match()
    when: str = "true"
    tier: Tier
    reason: str = Field(min_length=3)
    review: ReviewSpec | None = None

    @model_validator(mode="after")
    def _review_only_for_review(self) -> RuleSpec:
        if self.review is not None and self.tier != "review":
            raise ValueError(f"'review' settings given but tier is {self.tier!r}")
        return self


class Defaults(_Strict):
    review: ReviewSpec = ReviewSpec()


class PolicyFile(_Strict):
    version: str = Field(min_length=1)
    defaults: Defaults = Defaults()
    rules: tuple[RuleSpec, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> PolicyFile:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return self
