"""Use case: who is calling. AppId/AppSecret credentials, or an app already authenticated by a
token, become a `Caller`, and the app's use is noted for operators."""

from __future__ import annotations

import datetime as dt
import logging

import attrs

from ._access import App, Caller, digest_secret
from ._context import Context, active
from ._errors import AuthenticationFailed, StoreError

logger = logging.getLogger("deletion_requests.service")

_DUMMY_DIGEST = digest_secret("")
USE_PRECISION = dt.timedelta(minutes=1)
"""How exactly an app's last use is kept (`DeletionService` notes it at most this often)."""


@attrs.define
class Authentication:
    """The callers of the client use cases, from their credentials."""

    context: Context
    _uses_noted: dict[str, dt.datetime] = attrs.field(factory=dict, init=False, repr=False)

    def authenticate(self, app_id: str, secret: str) -> Caller:
        """The caller for AppId/AppSecret credentials; `AuthenticationFailed` otherwise."""
        return self.note_use(self.verified(secret, self.context.app(app_id)))

    def caller_for(self, app_id: str) -> Caller:
        """The caller for an app already authenticated (by a token): it must still be active."""
        return self.note_use(self.still_active(self.context.app(app_id)))

    @staticmethod
    def verified(secret: str, found: tuple[App | None, Caller | None]) -> Caller:
        """`authenticate` without its reads and its use note: the caller of *found* (the
        app and caller `Context.app` finds for the AppId) when *secret* is the app's
        AppSecret; `AuthenticationFailed` otherwise, after the same work for an unknown app."""
        app, caller = found
        if app is None:
            digest_secret(secret) == _DUMMY_DIGEST  # noqa: B015 (same work as a real check)
            raise AuthenticationFailed("invalid AppId or AppSecret")
        if not app.verify(secret):
            raise AuthenticationFailed("invalid AppId or AppSecret")
        return active(caller)

    @staticmethod
    def still_active(found: tuple[App | None, Caller | None]) -> Caller:
        """`caller_for` without its reads and its use note: the caller of *found* (what
        `Context.app` finds for the AppId); `AuthenticationFailed` for an app unknown or
        revoked."""
        return active(found[1])

    def note_use(self, caller: Caller) -> Caller:
        """*caller*, its use stored (`use_due`, then `record_use`)."""
        moment = self.use_due(caller)
        if moment is not None:
            self.record_use(caller, moment)
        return caller

    def use_due(self, caller: Caller) -> dt.datetime | None:
        """The moment to store as *caller*'s last use, or None when this process stored one
        less than `USE_PRECISION` ago: operators see when each app was last used, to that
        precision. Taken as stored: the next is due a `USE_PRECISION` later."""
        now = self.context.clock.now()
        noted = self._uses_noted.get(caller.app_id)
        if noted is not None and now - noted < USE_PRECISION and now >= noted:
            return None
        if len(self._uses_noted) >= 10_000:
            self._uses_noted.clear()
        self._uses_noted[caller.app_id] = now
        return now

    def record_use(self, caller: Caller, moment: dt.datetime) -> None:
        """Store that *caller* was used at *moment*; a failed write is logged and does not
        fail the request."""
        try:
            self.context.store.record_app_use(caller.app_id, moment)
        except StoreError as exc:
            logger.warning("could not note the use of app %s: %s", caller.app_id, exc)
