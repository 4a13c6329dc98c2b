"""The documented verifier: what it accepts and why it rejects (no database needed)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from approvals.webhooks.signing import (
    BadSignature,
    FutureTimestamp,
    MalformedHeader,
    MemorySeen,
    MissingHeader,
    Replayed,
    StaleTimestamp,
    VerificationError,
    Verifier,
    sign,
    signed_headers,
)

SECRET = "whsec_test"
BODY = b'{"id":"evt-1","kind":"approval.requested"}'
NOW = 1_750_000_000.0


def test_signature_is_hex_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"s3cret", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sign("s3cret", 1700000000, "{}") == expected
    assert sign("s3cret", "1700000000", b"{}") == expected
    headers = signed_headers("s3cret", "evt-9", "{}", 1700000000.7)
    assert headers == {
        "X-Tethra-Timestamp": "1700000000",
        "X-Tethra-Signature": f"v1={expected}",
        "X-Tethra-Event-Id": "evt-9",
    }


def test_round_trip_returns_the_event_id_and_ignores_header_case() -> None:
    headers = signed_headers(SECRET, "evt-1", BODY, NOW)
    assert Verifier(SECRET).verify(headers, BODY, now=NOW + 5) == "evt-1"
    lower = {k.lower(): v for k, v in signed_headers(SECRET, "evt-2", BODY, NOW).items()}
    assert Verifier(SECRET).verify(lower, BODY.decode(), now=NOW) == "evt-2"


def _rejects(
    expected: type[VerificationError],
    headers: dict[str, str],
    body: bytes = BODY,
    *,
    verifier: Verifier | None = None,
    now: float = NOW,
) -> VerificationError:
    with pytest.raises(expected) as caught:
        (verifier or Verifier(SECRET)).verify(headers, body, now=now)
    return caught.value


def test_a_tampered_body_is_rejected() -> None:
    headers = signed_headers(SECRET, "evt-1", BODY, NOW)
    err = _rejects(BadSignature, headers, BODY.replace(b"requested", b"decided"))
    assert err.reason == "bad_signature"


def test_the_wrong_secret_is_rejected() -> None:
    headers = signed_headers("whsec_other", "evt-1", BODY, NOW)
    assert _rejects(BadSignature, headers).reason == "bad_signature"


def test_a_re_dated_request_is_rejected() -> None:
    headers = signed_headers(SECRET, "evt-1", BODY, NOW - 3600)
    headers["X-Tethra-Timestamp"] = str(int(NOW))  # the timestamp is inside the MAC
    assert _rejects(BadSignature, headers).reason == "bad_signature"


def test_an_old_timestamp_is_rejected_beyond_the_tolerance_only() -> None:
    err = _rejects(StaleTimestamp, signed_headers(SECRET, "evt-1", BODY, NOW - 301))
    assert err.reason == "stale_timestamp"
    assert Verifier(SECRET).verify(signed_headers(SECRET, "e", BODY, NOW - 299), BODY, NOW)


def test_a_future_timestamp_is_rejected_beyond_the_tolerance_only() -> None:
    err = _rejects(FutureTimestamp, signed_headers(SECRET, "evt-1", BODY, NOW + 301))
    assert err.reason == "future_timestamp"
    assert Verifier(SECRET).verify(signed_headers(SECRET, "e", BODY, NOW + 299), BODY, NOW)


def test_a_replayed_event_id_is_rejected_even_when_signed_afresh() -> None:
    verifier = Verifier(SECRET)
    headers = signed_headers(SECRET, "evt-1", BODY, NOW)
    verifier.verify(headers, BODY, now=NOW)
    err = _rejects(Replayed, headers, verifier=verifier, now=NOW + 1)
    assert err.reason == "replayed"
    retry = signed_headers(SECRET, "evt-1", BODY, NOW + 30)
    _rejects(Replayed, retry, verifier=verifier, now=NOW + 30)
    verifier.forget("evt-1")  # the receiver's handler failed: accept the retry
    assert verifier.verify(retry, BODY, now=NOW + 31) == "evt-1"


def test_a_rejected_request_does_not_burn_its_event_id() -> None:
    verifier = Verifier(SECRET)
    forged = signed_headers("whsec_other", "evt-1", BODY, NOW)
    _rejects(BadSignature, forged, verifier=verifier)
    assert verifier.verify(signed_headers(SECRET, "evt-1", BODY, NOW), BODY, NOW) == "evt-1"


def test_missing_and_malformed_headers_are_named() -> None:
    headers = signed_headers(SECRET, "evt-1", BODY, NOW)
    for name in headers:
        partial = {k: v for k, v in headers.items() if k != name}
        assert name in str(_rejects(MissingHeader, partial))
    assert _rejects(MalformedHeader, headers | {"X-Tethra-Timestamp": "yesterday"}).reason == (
        "malformed_header"
    )
    assert _rejects(BadSignature, headers | {"X-Tethra-Signature": "v0=abc"})


def test_the_default_seen_set_is_bounded_and_expires() -> None:
    seen = MemorySeen(max_entries=3)
    for i in range(10):
        assert seen.add(f"e{i}", expires_at=NOW + 300, now=NOW)
    assert len(seen._entries) == 3
    assert not seen.add("e9", expires_at=NOW + 300, now=NOW + 10)
    assert seen.add("e9", expires_at=NOW + 900, now=NOW + 301)  # expired: a new window


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        Verifier("")
