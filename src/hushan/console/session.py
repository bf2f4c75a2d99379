"""The console's cookies and its defence against forged forms.

- `hushan_session`: the session's own user token, minted at sign-in (never the token the user
  typed, so that signing out revokes only the session's). HttpOnly, SameSite=Strict,
  Path=/console, Secure when the page came over https.
- `hushan_csrf`: a random nonce. Every form carries HMAC-SHA256(key, nonce), the key derived
  from the deployment's admin key, so every API process of a deployment checks it alike and
  another site can neither read nor make it. A POST whose field does not match, or whose
  Origin is another site's, is refused (`csrf_token_invalid`). SameSite=Strict already keeps
  the session cookie off other sites' requests; the token also covers the sign-in form, where
  there is no session yet (login CSRF).
- `hushan_operator`: an operator's session (hushan.console.operator): who signed in (`admin`,
  or a service credential's id) and until when, with an HMAC under another key derived from
  the admin key. It holds no secret; a credential's session ends when the credential is
  revoked, and every session when the admin key changes.
- `hushan_lang`: the language chosen (hushan.console.i18n).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from hushan.domain.errors import CsrfTokenInvalid

PATH = "/console"
SESSION = "hushan_session"
NONCE = "hushan_csrf"
LANG = "hushan_lang"
OPERATOR = "hushan_operator"
CSRF_FIELD = "csrf"


class Forms:
    """Makes and checks the anti-forgery tokens of one deployment."""

    def __init__(self, admin_key: str) -> None:
        self._key = hashlib.sha256(b"hushan/console-csrf/v1\n" + admin_key.encode()).digest()

    def token(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()

    def check(self, request: Request, sent: str | None) -> None:
        """CsrfTokenInvalid unless the form's token is the nonce cookie's and the request came
        from this site."""
        nonce = request.cookies.get(NONCE)
        if nonce is None or sent is None or not hmac.compare_digest(self.token(nonce), sent):
            raise CsrfTokenInvalid()
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            raise CsrfTokenInvalid()


class OperatorSessions:
    """Signs and reads operator sessions: `principal.expires.mac`, expires in Unix seconds."""

    def __init__(self, admin_key: str) -> None:
        self._key = hashlib.sha256(b"hushan/console-operator/v1\n" + admin_key.encode()).digest()

    def _mac(self, principal: str, expires: int) -> str:
        signed = f"{principal}\n{expires}".encode()
        return hmac.new(self._key, signed, hashlib.sha256).hexdigest()

    def make(self, principal: str, expires: int) -> str:
        return f"{principal}.{expires}.{self._mac(principal, expires)}"

    def read(self, value: str | None, now: int) -> str | None:
        """The principal of a genuine, unexpired session; None otherwise."""
        parts = (value or "").rsplit(".", 2)
        if len(parts) != 3:
            return None
        principal, expires, mac = parts
        if not principal or not expires.isdecimal() or int(expires) <= now:
            return None
        if not hmac.compare_digest(self._mac(principal, int(expires)), mac):
            return None
        return principal


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path=PATH, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
