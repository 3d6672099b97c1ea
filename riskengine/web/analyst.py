"""Who may change things on the web board: an analyst, by token.

Everyone may read. A write (a road status, retracting or restoring an event) needs the analyst
token, either in an ``Authorization: Bearer`` header (scripts; a browser never adds that header on
its own, so no cross-site request can carry it) or through the sign-in form, which sets an
HttpOnly, SameSite=Strict cookie; a form sent with the cookie must also carry the form token
derived from it, so another site cannot post one. The cookie holds a key derived from the token,
never the token itself; every comparison is :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["COOKIE", "MIN_TOKEN_LENGTH", "Analysts"]

COOKIE = "riskengine_analyst"
#: A shorter token is refused when the server starts: it could be guessed.
MIN_TOKEN_LENGTH = 16


def _bearer(header: str | None) -> str | None:
    scheme, _, value = (header or "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


class Analysts:
    """Checks a request's credentials against the analyst token (None: nobody may write)."""

    def __init__(self, token: str | None):
        self._token = token.encode() if token else None

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def _derived(self, purpose: str) -> str:
        assert self._token is not None
        return hmac.new(self._token, f"riskengine-web:{purpose}".encode(), hashlib.sha256).hexdigest()

    def token_ok(self, given: str | None) -> bool:
        """Whether ``given`` is the analyst token."""
        if self._token is None or not given:
            return False
        return hmac.compare_digest(given.encode(), self._token)

    def session(self) -> str:
        """The cookie's value after a sign-in."""
        return self._derived("session")

    def form_token(self) -> str:
        """The hidden field every analyst form carries (what a cross-site form cannot know)."""
        return self._derived("form")

    def bearer_ok(self, authorization: str | None) -> bool:
        return self.token_ok(_bearer(authorization))

    def cookie_ok(self, cookie: str | None) -> bool:
        if self._token is None or not cookie:
            return False
        return hmac.compare_digest(cookie.encode(), self.session().encode())

    def signed_in(self, authorization: str | None, cookie: str | None) -> bool:
        """Whether the request comes from an analyst (to show the analyst's forms)."""
        return self.bearer_ok(authorization) or self.cookie_ok(cookie)

    def may_write(self, authorization: str | None, cookie: str | None, form_token: str | None) -> bool:
        """A bearer token alone, or the cookie together with the form token."""
        if self.bearer_ok(authorization):
            return True
        if not self.cookie_ok(cookie) or not form_token:
            return False
        return hmac.compare_digest(form_token.encode(), self.form_token().encode())
