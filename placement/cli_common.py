"""What every command line (``placement`` and its subcommands, ``sim``) shares: the one stderr console for errors,
logs and progress, and how a command ends on bad input."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

error_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: MESSAGE`` on stderr and exit with ``code``.

    2 (the default) is bad input, the status typer itself gives usage errors; commands use 1 for a well-formed
    request that cannot be met (nothing fits, infeasible, the target refused the result).
    """
    error_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def output_folder(path: Path | None) -> Path | None:
    """``--out``'s check (a typer callback), made before any work: a folder the command can make or write into.
    Otherwise the results of a whole run were computed and then lost to a traceback at the first write."""
    if path is None:
        return None
    if path.exists() and not path.is_dir():
        raise typer.BadParameter(f"{path} is a file, not a folder")
    existing = next(parent for parent in (path, *path.parents) if parent.exists())
    if not existing.is_dir():
        raise typer.BadParameter(f"{existing} is a file, so {path} cannot be made")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise typer.BadParameter(f"cannot write in {existing}")
    return path


def output_file(path: Path | None) -> Path | None:
    """``--out``'s check for a command that writes one file there (a typer callback), made before any work."""
    if path is None:
        return None
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a folder, not a file")
    try:
        output_folder(path.parent)
    except typer.BadParameter as exc:
        raise typer.BadParameter(f"{exc.message}: {path} cannot be written") from None
    return path
