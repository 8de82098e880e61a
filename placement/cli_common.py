"""What every command line (``placement`` and its subcommands, ``sim``) shares: the one stderr console for errors,
logs and progress, and how a command ends on bad input."""

from __future__ import annotations

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
