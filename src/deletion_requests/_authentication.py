"""Use case: who is calling. AppId/AppSecret credentials, or an app already authenticated by a
token, become a `Caller`, and the app's use is noted for operators."""

from __future__ import annotations

import datetime as dt
import logging

import attrs

from ._access import Caller, digest_secret
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
        app, caller = self.context.app(app_id)
        if app is None:
            digest_secret(secret) == _DUMMY_DIGEST  # noqa: B015 (same work as a real check)
            raise AuthenticationFailed("invalid AppId or AppSecret")
        if not app.verify(secret):
            raise AuthenticationFailed("invalid AppId or AppSecret")
        return self._note_use(active(caller))

    def caller_for(self, app_id: str) -> Caller:
        """The caller for an app already authenticated (by a token): it must still be active."""
        return self._note_use(active(self.context.app(app_id)[1]))

    def _note_use(self, caller: Caller) -> Caller:
        """Store that the app was used, at most once a `USE_PRECISION` for each app in this
        process: operators see when each app was last used, to that precision. A failed write
        is logged and does not fail the request."""
        now = self.context.clock.now()
        noted = self._uses_noted.get(caller.app_id)
        if noted is not None and now - noted < USE_PRECISION and now >= noted:
            return caller
        if len(self._uses_noted) >= 10_000:
            self._uses_noted.clear()
        self._uses_noted[caller.app_id] = now
        try:
            self.context.store.record_app_use(caller.app_id, now)
        except StoreError as exc:
            logger.warning("could not note the use of app %s: %s", caller.app_id, exc)
        return caller
