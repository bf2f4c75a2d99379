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
