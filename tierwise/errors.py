"""The errors a user can cause, and the one place that turns them into the CLI's line.

The CLI, the cost commands and app.py all end through `report`: one `error: ...` line on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

from model_profiles.errors import ProfileError


class TierwiseError(ValueError):
    """Bad input: the message says what was wrong and what is allowed, in one line."""

    exit_code = 2


# every exception that means "the user asked for something we cannot do"
UserError = (TierwiseError, ProfileError)


def report(exc: TierwiseError | ProfileError) -> int:
    """Print ``exc`` as the one-line error and give the exit code to end with."""
    print(f"error: {exc}", file=sys.stderr)
    return exc.exit_code
