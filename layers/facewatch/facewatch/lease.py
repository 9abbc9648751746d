"""One run at a time for scheduled functions, without reserved concurrency.

A reservation of 1 would need the account's unreserved concurrency to stay above its minimum,
which a new account (total concurrency 10) cannot give: the stack would not create. Instead a
run takes a lease, one DynamoDB item written with a conditional put, and skips its tick while
another run holds an unexpired lease. A crashed holder's lease expires after ``duration``
(the function's timeout), so the next tick takes over. Both the take and the hand-back are
PutItem, the only write the scheduled functions' roles need on ``LEASE#`` items.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

LEASE_PREFIX = "LEASE#"
_TTL_DAYS = 1  # expired leases are removed by the table's TTL (expiresAt)


class TickLease:
    """``acquire`` then ``release``; ``client`` is a low-level DynamoDB client."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        name: str,
        owner: str,
        *,
        duration_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table_name
        self._key = {"PK": {"S": f"{LEASE_PREFIX}{name}"}, "SK": {"S": "LEASE"}}
        self._owner = owner
        self._duration = duration_seconds
        self._clock = clock

    def _put(self, until_ms: int, condition: str, values: dict[str, Any]) -> bool:
        now = self._clock()
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **self._key,
                    "leaseOwner": {"S": self._owner},
                    "leaseUntilMs": {"N": str(until_ms)},
                    "expiresAt": {"N": str(int(now) + _TTL_DAYS * 86400)},
                },
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def acquire(self) -> bool:
        """True when this run holds the lease now (taken, or an expired one taken over)."""
        now_ms = int(self._clock() * 1000)
        return self._put(
            now_ms + int(self._duration * 1000),
            "attribute_not_exists(PK) OR leaseUntilMs < :now OR leaseOwner = :me",
            {":now": {"N": str(now_ms)}, ":me": {"S": self._owner}},
        )

    def release(self) -> None:
        """Hand the lease back early (expired now); a no-op when another run has taken it."""
        self._put(0, "leaseOwner = :me", {":me": {"S": self._owner}})
