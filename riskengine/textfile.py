"""Reading a user's text file with one clear error naming the file and the problem."""

from __future__ import annotations

from pathlib import Path

__all__ = ["read_text"]


def read_text(path: Path, error: type[Exception], *, kind: str = "file", limit: int | None = None) -> str:
    """The UTF-8 text of ``path``, or one ``error``: it is missing, a directory, unreadable, not
    UTF-8, or (with ``limit``) over that many bytes. ``kind`` names what the file should be."""
    try:
        if limit is not None:
            size = path.stat().st_size
            if size > limit:
                raise error(f"{path}: {size / 1e6:.1f} MB is over the limit of {limit / 1e6:g} MB for this "
                            "kind of input")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such {kind}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a {kind}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot be read: {exc}") from None
