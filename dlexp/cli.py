"""The `dlexp` command line: a thin shell over the library.

Each command parses its arguments, calls one library function, and turns a known error into one
clear message and an exit code (0 ok · 1 failed · 2 bad input · 130 interrupted). Heavy modules
(numpy, scikit-learn, matplotlib) are imported inside the commands so `dlexp --help` stays fast.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130


def echo_err(text: str = "") -> None:
    click.echo(text, err=True)


def report_errors(fn):
    """Known errors → message on stderr + exit 2; Ctrl-C → exit 130; never a traceback for bad input."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .errors import DlexpError

        try:
            return fn(*args, **kwargs)
        except DlexpError as exc:
            for problem in exc.problems:
                echo_err(f"error: {problem}")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            echo_err("interrupted")
            sys.exit(EXIT_INTERRUPTED)

    return wrapper


class DlexpGroup(click.Group):
    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            from .errors import did_you_mean

            if args and "No such command" in str(exc):
                raise click.UsageError(f"no command {args[0]!r}{did_you_mean(args[0], self.list_commands(ctx))}; "
                                       f"commands: {', '.join(self.list_commands(ctx))}") from None
            raise


@click.group(cls=DlexpGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="dlexp")
def main():
    """dlexp: a laboratory for under- and overfitting studies.

    Write a YAML experiment, run it, sweep it, and look at the curves, tables and diagnosis.
    """


out_option = click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
                          show_default=True, help="Results folder.")
set_option = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                          help="Override a config key, e.g. --set model.hidden=[8,8] (value parsed as YAML).")


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@set_option
@out_option
@click.option("--force", is_flag=True, help="Train again even if an identical completed run exists.")
@click.option("--json", "as_json", is_flag=True, help="Print summary.json on stdout instead of the run folder.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@report_errors
def run(config, sets, out, force, as_json, quiet):
    """Train the experiment in CONFIG and write its run folder."""
    from .runner import run_experiment

    result = run_experiment(config, sets, out, force=force, quiet=quiet, echo=echo_err)
    click.echo(result.json_text if as_json else str(result.folder))
    if result.status == "failed":
        sys.exit(EXIT_FAILED)


@main.command()
def schema():
    """Print the config JSON Schema (for editor completion)."""
    import json

    from .config import config_schema

    click.echo(json.dumps(config_schema(), indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()
