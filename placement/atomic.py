"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The content goes to a temporary file in the target's directory (``.NAME.XXXX.tmp``, so a crash leaves only
a dot-file that ``*.tmp`` globs can sweep up), which then replaces the target with ``os.replace``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def _current_umask() -> int:
    # Python has no getter: set and restore. Done once, at import, so no thread ever sees umask 0.
    umask = os.umask(0)
    os.umask(umask)
    return umask


_FILE_MODE = 0o666 & ~_current_umask()


def atomic_write(target: str | Path, content: str | bytes | Callable[[str], None]) -> Path:
    """Write ``content`` (text, bytes, or a function that writes the file at the path it is given) to ``target``.

    The file gets ordinary permissions (0666 less the umask), not ``mkstemp``'s 0600. On any error the
    temporary file is removed and the target is left as it was.
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    try:
        if callable(content):
            os.close(fd)
            content(tmp)
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content.encode() if isinstance(content, str) else content)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
