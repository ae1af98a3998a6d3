"""Validation of names that end up in ids and file names (source names)."""


def check_source_name(v: str) -> str:
    """A source name: non-empty, letters, digits, '-', '_' or '.' only."""
    if not v or not all(c.isalnum() or c in "-_." for c in v):
        raise ValueError("source name must be non-empty and use only letters, digits, '-', '_' or '.'")
    return v


def qualified_id(source: str, item_id: str) -> str:
    """An id unique across sources: ``source:id`` (ids the readers made up already start with ``source:``)."""
    return item_id if item_id.startswith(f"{source}:") else f"{source}:{item_id}"
