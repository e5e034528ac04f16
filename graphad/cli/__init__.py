"""The ``graphad`` command line: a thin layer over the public API.

``main(argv=None) -> int``; library errors become one line on stderr and exit code 1.
"""
from __future__ import annotations

import logging
import sys
import traceback
import warnings
from typing import List, Optional

import click

from ..errors import GraphadError
from .bench import bench
from .demo import demo
from .model import explain, feedback, fit, score, set_allow_paths_outside, subgraphs
from .output import set_quiet
from .report import report


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="graphad")
@click.option("--debug", is_flag=True, help="On an error, print the full traceback.")
@click.option("-v", "--verbose", is_flag=True,
              help="Log progress (training loss every 10 epochs) and show third-party "
                   "warnings.")
@click.option("-q", "--quiet", is_flag=True,
              help="Print results and errors only (no status lines).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch; --threads 1 makes runs with one seed "
                   "bit-identical across processes  [default: all cores]")
@click.option("--allow-paths-outside", is_flag=True,
              help="Read image files whose paths lead outside the data folder "
                   "(absolute, ../, or through a symlinked folder); refused by default.")
def cli(debug: bool, verbose: bool, quiet: bool, threads: Optional[int],
        allow_paths_outside: bool) -> None:
    """graphad: unsupervised anomaly detection on heterogeneous multimodal graphs.

    \b
    Example:
        graphad demo --out out/demo
        graphad -v fit --schema s.yaml --out model
    """
    configure_output(verbose or debug)
    set_quiet(quiet)
    set_allow_paths_outside(allow_paths_outside)
    if threads is not None:
        set_threads(threads)


def set_threads(threads: int) -> None:
    """torch's intra-op threads (before torch is imported where possible)."""
    import os
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def configure_output(verbose: bool) -> None:
    """Logging to stderr (INFO with ``--verbose``, else WARNING); without it, the
    deprecation notices of third-party libraries are not shown and warnings are one
    line each."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", force=True)
    if not verbose:
        for category in (FutureWarning, DeprecationWarning):
            warnings.filterwarnings("ignore", category=category)
        warnings.formatwarning = _one_line_warning


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as one ``warning: ...`` line, like the CLI's own warnings (Python's
    format adds the source file and line; ``--verbose`` keeps it)."""
    return f"warning: {message}\n"


for command in (demo, bench, fit, feedback, score, explain, subgraphs, report):
    cli.add_command(command)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the CLI; returns the exit code instead of exiting."""
    try:
        cli.main(args=argv, prog_name="graphad", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except (GraphadError, FileNotFoundError, ValueError) as exc:
        if "--debug" in (argv if argv is not None else sys.argv[1:]):
            traceback.print_exc()
        click.echo(f"graphad: error: {exc}", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
