"""The ``sim`` command line."""

import typer

from sim.cli_run import run_command
from sim.sweep.cli import sweep_command

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Growth simulation for the k3s PaaS.")


@app.callback()
def _root() -> None:
    """Growth simulation for the k3s PaaS."""


app.command("run")(run_command)
app.command("sweep")(sweep_command)


def main() -> None:
    app()
