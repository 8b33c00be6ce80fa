"""Server settings: one JSON document a setting in `settings/`."""

from __future__ import annotations

from collections.abc import Callable

from deletion_requests import StoreError
from deletion_requests.stores import ServerSettings

from ._files import JsonFiles, digest


class SettingsFiles(JsonFiles, ServerSettings):
    """`ServerSettings` over the file layer: the first `setting` of a name writes its default
    under the lock, so every process reads the one value written."""

    def setting(self, name: str, default: Callable[[], str]) -> str:
        path = self._dirs["settings"] / f"{digest(name)}.json"
        document = self._read(path)
        if document is None:
            with self._locked():
                document = self._read(path)
                if document is None:
                    document = {"name": name, "value": default()}
                    self._write(path, document)
        if not isinstance(document, dict) or not isinstance(document.get("value"), str):
            raise StoreError(f"jsonfiles store: {path} is not a valid setting")
        value: str = document["value"]
        return value

    def put_setting(self, name: str, value: str) -> None:
        path = self._dirs["settings"] / f"{digest(name)}.json"
        with self._locked():
            self._write(path, {"name": name, "value": value})
