"""What the command line prints: progress notes (hidden by ``--quiet``) and results."""
from __future__ import annotations

import click

_QUIET = [False]


def set_quiet(quiet: bool) -> None:
    _QUIET[0] = quiet


def note(message: str) -> None:
    """A progress or status line ("fitted ... in 3.2s", "wrote 18 scores to ..."):
    shown unless ``graphad --quiet``. Results and warnings use ``click.echo``."""
    if not _QUIET[0]:
        click.echo(message)
