"""The ``sim`` command line."""

import typer

from sim.cli_compare import compare_command
from sim.cli_run import run_command
from sim.forecast.cli import backtest_command, forecast_command
from sim.sweep.cli import sweep_command

# rich_markup_mode=None: help text is printed as written (a "uniform:A:B" is not an emoji code, "[0]" not a tag).
app = typer.Typer(
    no_args_is_help=True, add_completion=False, rich_markup_mode=None, help="Growth simulation for the k3s PaaS."
)


@app.callback()
def _root() -> None:
    """Growth simulation for the k3s PaaS."""


app.command("run")(run_command)
app.command("sweep")(sweep_command)
app.command("compare")(compare_command)
app.command("forecast")(forecast_command)
app.command("backtest")(backtest_command)


def main() -> None:
    app()
