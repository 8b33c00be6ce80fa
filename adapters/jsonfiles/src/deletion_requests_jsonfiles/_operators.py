"""Operator records: one JSON document an operator in `operators/`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from deletion_requests import StoreError
from deletion_requests.stores import Operator, OperatorRecords

from ._files import BAD_RECORD, JsonFiles, digest


class OperatorFiles(JsonFiles, OperatorRecords):
    """`OperatorRecords` over the file layer."""

    def _operator_path(self, name: str) -> Path:
        return self._dirs["operators"] / f"{digest(name)}.json"

    def _operator(self, path: Path) -> Operator | None:
        document = self._read(path)
        if document is None:
            return None
        try:
            return Operator(
                document["name"],
                document["password_hash"],
                dt.datetime.fromisoformat(document["created_time"]),
            )
        except BAD_RECORD as exc:
            raise StoreError(f"jsonfiles store: {path} is not a valid operator: {exc}") from exc

    def add_operator(self, operator: Operator) -> None:
        path = self._operator_path(operator.name)
        with self._locked():
            if path.exists():
                raise StoreError(f"operator {operator.name} already exists")
            self._write(
                path,
                {
                    "name": operator.name,
                    "password_hash": operator.password_hash,
                    "created_time": operator.created_time.isoformat(),
                },
            )

    def get_operator(self, name: str) -> Operator | None:
        return self._operator(self._operator_path(name))

    def list_operators(self) -> list[Operator]:
        found = [self._operator(p) for p in self._dirs["operators"].glob("[!.]*.json")]
        return sorted((o for o in found if o is not None), key=lambda o: o.name)

    def remove_operator(self, name: str) -> bool:
        with self._locked():
            return self._delete(self._operator_path(name))
