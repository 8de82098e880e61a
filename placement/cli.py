"""The ``placement`` command line: the root app, onto which each area registers its commands.

Commands are thin wrappers over library functions; what they share (the error console, ``fail``) is in
``placement.cli_common``, so no area's CLI imports this module.
"""

from __future__ import annotations

import typer

from placement.collector.cli import collect
from placement.optimize.cli import optimize_app
from placement.router.cli import db_app, serve
from placement.select_cli import select

# rich_markup_mode=None (inherited by every subcommand): help text is printed as written, never read as markup.
app = typer.Typer(
    no_args_is_help=True, add_completion=False, rich_markup_mode=None, help="Cluster placement for the k3s PaaS."
)


@app.callback()
def _root() -> None:
    """Cluster placement for the k3s PaaS."""


app.command()(select)
app.command()(collect)
app.command()(serve)
app.add_typer(db_app, name="db")
app.add_typer(optimize_app, name="optimize")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
