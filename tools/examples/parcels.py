"""A worked example of a Python adapter: a parcel carrier with one read and one write.

Register it with ``tethra tools add --module tools.examples.parcels:TOOLS --as root``
(see docs/add-a-tool-adapter.md). The carrier is simulated in memory so the example
runs anywhere; a real adapter would call the carrier's API in the same two places and
pass ``ctx.idempotency_key`` along, exactly as ``schedule_pickup`` uses it here.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from foundation.errors import ToolFailed
from tools.spec import RegisteredTool, ToolContext, adapter

SYSTEM = "parcels"
OWNER = "logistics-team"

PICKUPS: dict[str, dict[str, Any]] = {}
"""The simulated carrier's pickups, by idempotency key: a repeated request with the same
key returns the first pickup instead of booking a second van."""


class TrackArgs(BaseModel):
    tracking_number: str = Field(pattern=r"^PX\d{6}$", description="e.g. PX123456")


class PickupArgs(BaseModel):
    order_id: int = Field(gt=0, description="The order whose parcel is collected.")
    day: date = Field(description="Collection day, YYYY-MM-DD.")


@adapter(
    name="track_parcel",
    description="Where a parcel is, by its tracking number (PX + 6 digits).",
    args=TrackArgs,
    system=SYSTEM,
    effect="read",
    idempotent=True,
    owner=OWNER,
)
def track_parcel(args: TrackArgs, ctx: ToolContext) -> dict[str, Any]:
    if args.tracking_number.endswith("000000"):
        raise ToolFailed(f"the carrier does not know {args.tracking_number}")
    return {"tracking_number": args.tracking_number, "status": "in transit"}


@adapter(
    name="schedule_pickup",
    description="Book the carrier to collect an order's parcel on a given day.",
    args=PickupArgs,
    system=SYSTEM,
    effect="write",
    idempotent=True,  # repeating with the same idempotency key books nothing new
    owner=OWNER,
)
def schedule_pickup(args: PickupArgs, ctx: ToolContext) -> dict[str, Any]:
    booked = PICKUPS.setdefault(
        ctx.idempotency_key,
        {"pickup_id": f"PU{len(PICKUPS) + 1:05d}", "order_id": args.order_id, "day": str(args.day)},
    )
    return dict(booked)


TOOLS: list[RegisteredTool] = [track_parcel, schedule_pickup]
