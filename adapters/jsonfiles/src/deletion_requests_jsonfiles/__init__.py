"""JSON-file store for deletion-requests: `open_store("jsonfiles:///path/to/dir")`."""

from ._files import FORMAT_VERSION
from ._store import JsonFilesStore, open_jsonfiles_store

__all__ = ["FORMAT_VERSION", "JsonFilesStore", "open_jsonfiles_store"]
