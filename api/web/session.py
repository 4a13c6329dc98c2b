"""Web sign-in: an API key is exchanged for a signed session cookie carrying a CSRF token.

The cookie holds no secret of the user's: only their name, an expiry, the CSRF token
and a fingerprint of their current API key hash, signed with HMAC-SHA256. The
fingerprint means that revoking or rotating a key ends every browser session made with
it, and the user is re-read on each request, so a deactivated user is out at once.

Every state-changing page request must echo the session's CSRF token (a hidden form
field, or the ``X-CSRF-Token`` header htmx sends). The cookie is ``SameSite=Lax`` as
well, but the token is the protection that does not depend on the browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.errors import Unauthenticated
from foundation.errors import Forbidden
from foundation.settings import Settings
from foundation.users import User, authenticate

SESSION_COOKIE = "tethra_session"
SIGNIN_COOKIE = "tethra_signin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SIGNIN_TTL_S = 30 * 60


class SignInRequired(Unauthenticated):
    """No valid session: a page sends the browser to the sign-in form."""


class CsrfRejected(Forbidden):
    """A state-changing request without the session's CSRF token (HTTP 403)."""


@dataclass(frozen=True)
class WebSession:
    user: User
    csrf: str


class Signer:
    """HMAC-SHA256 signed, expiring JSON tokens for cookies."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        if settings.session_secret is None:
            return cls(secrets.token_bytes(32))
        return cls(settings.session_secret.get_secret_value().encode())

    def _mac(self, body: bytes) -> str:
        digest = hmac.new(self._secret, body, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, payload: dict[str, Any], ttl_s: float) -> str:
        data = {**payload, "exp": int(time.time() + ttl_s)}
        body = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
        text = body.rstrip(b"=").decode()
        return f"{text}.{self._mac(text.encode())}"

    def unsign(self, token: str) -> dict[str, Any] | None:
        """The payload, or None when the token is forged, mangled or expired."""
        text, _, mac = token.partition(".")
        if not mac or not hmac.compare_digest(mac, self._mac(text.encode())):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("exp"), int):
            return None
        return data if data["exp"] > time.time() else None


def _fingerprint(user: User) -> str:
    return user.api_key_hash[:16]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def sign_in(
    engine: Engine, signer: Signer, api_key: str, response: Response, request: Request, hours: float
) -> User:
    try:
        user = authenticate(engine, api_key.strip())
    except Forbidden as exc:
        raise Forbidden("that API key matches no active user") from exc
    token = signer.sign(
        {"u": user.name, "k": _fingerprint(user), "c": secrets.token_urlsafe(24)}, hours * 3600
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(hours * 3600),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/")
    return user


def sign_out(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def current_session(engine: Engine, signer: Signer, request: Request) -> WebSession | None:
    token = request.cookies.get(SESSION_COOKIE)
    data = signer.unsign(token) if token else None
    if data is None:
        return None
    with Session(engine) as session:
        user = session.get(User, str(data.get("u")))
    if user is None or not user.active or _fingerprint(user) != data.get("k"):
        return None
    return WebSession(user=user, csrf=str(data["c"]))


def signin_token(signer: Signer, request: Request, response: Response) -> str:
    """The sign-in form's CSRF token (double submit: cookie and hidden field)."""
    existing = request.cookies.get(SIGNIN_COOKIE)
    data = signer.unsign(existing) if existing else None
    if data is not None:
        return str(data["c"])
    token = secrets.token_urlsafe(24)
    response.set_cookie(
        SIGNIN_COOKIE,
        signer.sign({"c": token}, SIGNIN_TTL_S),
        max_age=SIGNIN_TTL_S,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    return token


def check_signin_token(signer: Signer, request: Request, submitted: str) -> None:
    cookie = request.cookies.get(SIGNIN_COOKIE)
    data = signer.unsign(cookie) if cookie else None
    if data is None or not hmac.compare_digest(str(data["c"]), submitted):
        raise CsrfRejected("the sign-in form expired or was not ours; reload the page and retry")


async def check_csrf(request: Request, web: WebSession) -> None:
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    if not submitted or not hmac.compare_digest(submitted, web.csrf):
        raise CsrfRejected("missing or wrong CSRF token: reload the page and submit again")
