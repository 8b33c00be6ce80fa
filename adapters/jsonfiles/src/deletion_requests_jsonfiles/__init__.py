"""JSON-file store for deletion-requests: `open_store("jsonfiles:///path/to/dir")`."""

from ._store import FORMAT_VERSION, JsonFilesStore, open_jsonfiles_store

__all__ = ["FORMAT_VERSION", "JsonFilesStore", "open_jsonfiles_store"]
