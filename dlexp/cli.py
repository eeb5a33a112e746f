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

from .analysis.thresholds import DEFAULT_THRESHOLDS  # a plain dict: its names for --threshold's help
from .figures import KINDS as FIGURE_KINDS  # a tuple: the kinds --kind offers, without matplotlib
from .threads import default_to_one_thread

default_to_one_thread()  # before any command imports numpy

EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130

# What each command does, in the one line `dlexp --help` lists, and the examples its own --help
# ends with (the README's quickstart, studies and sweeps).
SHORT_HELP = {
    "run": "Train one experiment (its repeats, its CV folds) from a config.",
    "sweep": "Train every point of a grid or random sweep, in parallel.",
    "table": "A table of runs and sweeps: swept values, status, figures.",
    "ls": "List the runs and sweeps in the results folder.",
    "plot": "Draw a figure of runs or sweeps.",
    "report": "Write one self-contained report.html of a run or sweep.",
    "serve": "Browse runs and sweeps in a local web page, live.",
    "diagnose": "Label runs under- or overfitting, with the reason and a remedy.",
    "schema": "Print the config's JSON Schema, for an editor's YAML plugin.",
}
EXAMPLES = {
    "run": ["dlexp run configs/quickstart.yaml",
            "dlexp run configs/quickstart.yaml --set model.hidden=[8] --force",
            "dlexp run configs/quickstart.yaml --json -q > summary.json"],
    "sweep": ["dlexp sweep configs/studies/l2.yaml -j 2",
              "dlexp sweep configs/quickstart.yaml --grid model.hidden='[8],[64],[64,64]'",
              "dlexp sweep configs/studies/l2.yaml --dry-run"],
    "table": ["dlexp table study-l2",
              "dlexp table study-l2 --sort val_loss --wide",
              "dlexp table lr-dropout-random --where model.hidden=[64] --format markdown"],
    "ls": ["dlexp ls", "dlexp ls --results elsewhere/ --json"],
    "plot": ["dlexp plot study-l2", "dlexp plot study-l2 --kind compare --metric acc --out l2.svg"],
    "report": ["dlexp report study-l2", "dlexp report study-l2 --format svg --out l2.html"],
    "serve": ["dlexp serve", "dlexp serve --results elsewhere/ --port 8060 --open"],
    "diagnose": ["dlexp diagnose study-l2",
                 "dlexp diagnose 2b4a328f -v --threshold overfit_gap=0.5",
                 "dlexp diagnose study-capacity --emit next.yaml && dlexp sweep next.yaml"],
    "schema": ["dlexp schema > dlexp.schema.json", "dlexp schema | less"],
}


def command(name: str, **kwargs):
    """@main.command for `name`, with its line in SHORT_HELP and its EXAMPLES as the epilog."""
    # \b: click prints the block as it is, without joining its lines into a paragraph
    epilog = "\b\nExamples:\n" + "\n".join(f"  {e}" for e in EXAMPLES[name])
    return main.command(name=name, short_help=SHORT_HELP[name], epilog=epilog, **kwargs)


def echo_err(text: str = "") -> None:
    """A message on stderr; names from files in it cannot send escape sequences to the terminal."""
    from .errors import printable

    click.echo(printable(text, newlines=True), err=True)


def report_errors(fn):
    """Known errors → message on stderr + their exit code (2 bad input, 1 a refused write); Ctrl-C →
    exit 130; never a traceback for either."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .errors import DlexpError, Interrupted

        try:
            return fn(*args, **kwargs)
        except DlexpError as exc:
            for problem in exc.problems:
                echo_err(f"error: {problem}")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            echo_err(f"interrupted: {exc.what}" if isinstance(exc, Interrupted) else "interrupted")
            sys.exit(EXIT_INTERRUPTED)

    return wrapper


class Choice(click.Choice):
    """click.Choice whose refusal names the closest valid value."""

    def convert(self, value, param, ctx):
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            from .errors import did_you_mean

            self.fail(f"{value!r} is not one of {', '.join(self.choices)}{did_you_mean(value, self.choices)}",
                      param, ctx)


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


def results_folder(fn):
    """--results DIR: the results folder a command reads (and run and sweep write). The same
    folder given as --out, its spelling before 0.2, still works with a one-line notice: --out now
    always names what a command writes (plot's and report's file)."""

    @functools.wraps(fn)
    def wrapper(*args, old_out=None, **kwargs):
        if old_out is not None:
            echo_err(f"note: --out {old_out} for the results folder is deprecated; use --results {old_out}")
            kwargs["results"] = old_out
        return fn(*args, **kwargs)

    folder = click.Path(file_okay=False, path_type=Path)
    wrapper = click.option("--out", "old_out", type=folder, default=None, hidden=True)(wrapper)
    return click.option("--results", type=folder, default=Path("results"), show_default=True,
                        help="Results folder (run ids and sweep names are looked up in it).")(wrapper)


where_option = click.option("--where", "where", multiple=True, metavar="KEY=VALUE",
                            help="Only the runs whose config has this value, e.g. --where model.hidden=[64] "
                                 "(value parsed as YAML; repeat to narrow further).")
set_option = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                          help="Override a config key, e.g. --set model.hidden=[8,8] (value parsed as YAML).")


@command("run")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@set_option
@results_folder
@click.option("--force", is_flag=True, help="Train again even if an identical completed run exists.")
@click.option("--json", "as_json", is_flag=True, help="Print summary.json on stdout instead of the run folder.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@report_errors
def run(config, sets, results, force, as_json, quiet):
    """Train the experiment in CONFIG and write its run folder."""
    from .sweeps.run import run_experiment

    result = run_experiment(config, sets, results, force=force, quiet=quiet, echo=echo_err)
    click.echo(result.json_text if as_json else str(result.folder))
    if result.status == "failed":
        sys.exit(EXIT_FAILED)


@command("schema")
def schema():
    """Print the config JSON Schema (for editor completion)."""
    import json

    from .config.schema import config_schema

    click.echo(json.dumps(config_schema(), indent=2))


@command("sweep")
@click.argument("spec", metavar="SPEC_OR_CONFIG", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--grid", "grids", multiple=True, metavar="KEY=V1,V2,…",
              help="Sweep a key over values (split on top-level commas, each parsed as YAML), "
                   "e.g. --grid model.hidden='[8],[64]'.")
@set_option
@click.option("--name", default=None, help="Sweep name (default: the spec's name, or CONFIG's stem + '-sweep').")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Runs trained at once by the local executor (default: the number of CPUs; 1 = in this process).")
@click.option("--executor", type=Choice(["local", "dask"]), default=None,
              help="local process pool, or a Dask cluster (default: local; dask when --address is given).")
@click.option("--address", default=None, metavar="ADDR",
              help="Dask scheduler address, tcp://HOST:PORT (default: $DASK_SCHEDULER_ADDRESS).")
@click.option("--retry-failed", is_flag=True, help="Train runs that failed before again.")
@click.option("--max-crash-retries", type=click.IntRange(min=0), default=2, show_default=True,
              help="Retries of a run whose worker process died (killed, out of memory).")
@results_folder
@click.option("--dry-run", is_flag=True, help="Validate and list the points (run_id, status, values); train nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the sweep's result as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@report_errors
def sweep(spec, grids, sets, name, jobs, executor, address, retry_failed, max_crash_retries, results, dry_run,
          as_json, quiet):
    """Train every point of a grid/random sweep (a spec file, or CONFIG with --grid); resumable."""
    from .sweeps.sweep import dry_run as list_points, run_sweep
    from .sweeps.spec import load_spec

    plan = load_spec(spec, grids, sets, name)
    if dry_run:
        click.echo(list_points(plan, results), nl=False)
        return
    result = run_sweep(plan, results, jobs=jobs, executor=executor or ("dask" if address else "local"),
                       address=address, retry_failed=retry_failed, max_crash_retries=max_crash_retries,
                       quiet=quiet, echo=echo_err)
    click.echo(result.json_text if as_json else str(result.folder))
    sys.exit(result.exit_code)


@command("table")
@click.argument("targets", nargs=-1, required=True, metavar="TARGET…")
@click.option("--format", "fmt", type=Choice(["text", "markdown", "csv", "json"]), default="text",
              show_default=True, help="text: a table for people; markdown, csv, json: for documents and scripts.")
@click.option("--sort", default=None, metavar="COL", help="Sort by a column; --sort=-COL for descending.")
@click.option("--columns", default=None, metavar="A,B,…", help="Columns to show, in this order.")
@click.option("--wide", is_flag=True,
              help="text: every column and whole run ids, however wide the terminal (default: what fits it).")
@where_option
@results_folder
@report_errors
def table(targets, fmt, sort, columns, wide, where, results):
    """Summary table of runs and sweeps: run folders or ids, sweep folders or names."""
    from .analysis.subset import parse_where
    from .analysis.tables import show_table

    show_table(targets, results, fmt, sort, columns, wide=wide, where=parse_where(where))


@command("ls")
@results_folder
@click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON.")
@click.option("--wide", is_flag=True, help="Every column and whole run ids, however wide the terminal.")
@report_errors
def ls_command(results, as_json, wide):
    """List the runs (status, epochs, validation figure) and sweeps (points done) in the results folder."""
    from .analysis.tables import show_listing

    show_listing(results, as_json, wide=wide)


@command("plot")
@click.argument("targets", nargs=-1, required=True, metavar="TARGET…")
@click.option("--kind", type=Choice(list(FIGURE_KINDS)), default=None, metavar="KIND",
              help=f"Figure: {', '.join(FIGURE_KINDS)} (default: curves for a run; learning for a sweep over "
                   "data.train_size; scatter for a random search; validation for a sweep over a numeric key; "
                   "compare otherwise or for several targets).")
@click.option("--metric", type=Choice(["loss", "acc", "r2"]), default=None,
              help="What compare, validation, learning and seeds figures show (default: loss).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output FILE, or an existing folder to write the default file name into (default: <run or sweep "
                   "folder>/<kind>[-<metric>].<format>; results/plots/ for several targets).")
@click.option("--format", "fmt", type=Choice(["png", "svg", "pdf"]), default=None,
              help="File format (default: from --out's suffix, else png).")
@click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Results folder (run ids and sweep names are looked up in it).")
@where_option
@click.option("--per-second", is_flag=True, help="compare: add a panel against cumulative training time.")
@report_errors
def plot(targets, kind, metric, out, fmt, results, where, per_second):
    """Draw a figure of runs or sweeps (folders, run ids, sweep names); prints the file written."""
    from .figures.choose import plot as draw
    from .analysis.subset import parse_where

    click.echo(str(draw(targets, kind=kind, metric=metric, out=out, fmt=fmt, results=results,
                        where=parse_where(where), per_second=per_second)))


@command("report")
@click.argument("targets", nargs=-1, required=True, metavar="TARGET…")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output FILE (default: <run or sweep folder>/report.html).")
@click.option("--format", "fmt", type=Choice(["png", "svg"]), default="png", show_default=True,
              help="How figures are embedded: base64 PNG, or inline SVG (sharp at any zoom, larger file).")
@click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Results folder (run ids and sweep names are looked up in it).")
@where_option
@click.option("--static", is_flag=True, help="The page without scripts: tables and figures as images (the report "
                                             "without plotly installed).")
@report_errors
def report(targets, out, fmt, results, where, static):
    """Write one self-contained report.html for a run or sweep: the dashboard's views, interactive
    and offline (with plotly installed), or a static page; prints its path."""
    from .analysis.subset import parse_where
    from .html_report import report as write_report

    click.echo(str(write_report(targets, out=out, results=results, fmt=fmt, where=parse_where(where),
                                interactive=False if static else None)))


@command("serve")
@click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Results folder to show (the only folder the server reads).")
@click.option("--port", type=click.IntRange(0, 65535), default=8050, show_default=True,
              help="TCP port (0: any free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; another than this machine's own needs --allow-remote.")
@click.option("--allow-remote", is_flag=True, help="Allow --host to be an address other machines can reach.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default web browser.")
@report_errors
def serve(results, port, host, allow_remote, open_browser):
    """Serve a live, interactive view of the results folder: the runs table, curves, sweeps, runs;
    prints its URL. Needs the serve extra: pip install -e '.[serve]'."""
    from .errors import UsageError
    from .serve.server import LOCAL_HOSTS, serve as run_server

    if host not in LOCAL_HOSTS and not allow_remote:
        raise UsageError(f"--host {host} lets other machines read {results}: add --allow-remote to mean it")
    if not results.is_dir():
        raise UsageError(f"no results folder {results} (--results DIR names it)")
    try:
        run_server(results, host, port, open_browser, allow_remote, echo=click.echo)
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@command("diagnose")
@click.argument("targets", nargs=-1, required=True, metavar="TARGET…")
@click.option("-v", "--verbose", is_flag=True, help="Show the full reason, every number the rules read and every remedy.")
@click.option("--json", "as_json", is_flag=True, help="Print the diagnoses as JSON on stdout instead of text.")
@click.option("--emit", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="SPEC.yaml",
              help="Write a follow-up sweep spec for the best run: over its top remedies, or around it if it is a good fit.")
@click.option("--threshold", "thresholds", multiple=True, metavar="NAME=VALUE",
              help="Override a rule threshold, e.g. --threshold overfit_gap=0.5 (the README's table explains each); "
                   f"names: {', '.join(DEFAULT_THRESHOLDS)}.")
@click.option("--no-save", is_flag=True, help="Do not record the diagnosis in summary.json and the sweep's files.")
@results_folder
@report_errors
def diagnose(targets, verbose, as_json, emit, thresholds, no_save, results):
    """Label runs (run folders or ids, sweeps) underfitting, overfitting, overconfident, good_fit,
    not_converged or diverged, with the reason and the first remedy (-v: the evidence, all remedies);
    a sweep also gets its verdict: where the best point is, which side under- and overfits, any
    interpolation peak."""
    import shutil

    from .analysis.diagnose import format_sweep, format_text
    from .analysis.verdict import diagnose_targets, json_report
    from .errors import printable

    groups = diagnose_targets(targets, results, thresholds, save=not no_save)
    width = min(100, shutil.get_terminal_size((80, 24)).columns)
    if as_json:
        click.echo(json_report(groups))
    else:
        blocks = [format_sweep(sweep, found, v.text(), verbose, width) if sweep is not None and v is not None
                  else "\n".join(format_text(r, d, verbose, width) for r, d in found) for sweep, found, v in groups]
        click.echo(printable(("\n\n" if verbose else "\n").join(blocks), newlines=True))
    if emit is not None:
        _emit_follow_up(emit, groups)


def _emit_follow_up(emit: Path, groups) -> None:
    """--emit: the follow-up of the best run of the first target (lowest val loss)."""
    from .analysis.diagnose import write_refine, write_spec_of
    from .analysis.verdict import next_study
    from .errors import ConfigError
    from .sweeps.spec import load_spec

    sweep, found, v = groups[0]
    study = next_study(found, v)
    if isinstance(study, str):
        echo_err(f"nothing to emit: {study} ({emit} not written)")
        return
    if study.refined:
        write_refine(emit, study.run, study.diagnosis, study.spec, sweep.name)
    else:
        write_spec_of(emit, study.run, study.diagnosis, study.spec)
    try:  # what `dlexp sweep` will read must load
        load_spec(emit)
    except ConfigError as exc:
        raise ConfigError([f"the follow-up spec {emit} does not load: {p}" for p in exc.problems]) from None
    echo_err(f"follow-up of {study.run.run_id}, the best run, over {study.what} written to {emit}; run it with: "
             f"dlexp sweep {emit}")


if __name__ == "__main__":  # pragma: no cover
    main()
