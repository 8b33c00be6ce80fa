"""The operators' console: server-rendered pages for reviewing deletion requests, under
`/console/`, with its own sign-in. See docs/console.md."""

from ._app import Console
from ._guard import SignInBrake
from ._sessions import ConsoleSettings

__all__ = ["Console", "ConsoleSettings", "SignInBrake"]
