"""The errors a user can cause, and the one place that turns them into the CLI's line.

The CLI, the cost commands and app.py all end through `report`: one `error: ...` line on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

from model_profiles.errors import ProfileError
from model_profiles.userinput import VALUE_WIDTH, quoted


class TierwiseError(ValueError):
    """Bad input: the message says what was wrong and what is allowed, in one line."""

    exit_code = 2


# every exception that means "the user asked for something we cannot do"
UserError = (TierwiseError, ProfileError)


# The longest error line printed. Every value an error repeats is already cut where it is
# written (model_profiles.userinput.shown: ~80 characters); this is the last guard, for a line
# that lists much (every AWS region, every context key) or a message built elsewhere. The
# longest legitimate line (the region list) is under 800 characters.
LINE_MAX = 1200


def one_line(message: str, limit: int = LINE_MAX) -> str:
    """``message`` on one line, its middle cut when it is longer than ``limit`` characters."""
    text = " ".join(message.split())
    if len(text) <= limit:
        return text
    keep = limit - 48  # room for the marker, whose count has at most 15 digits with separators
    head, tail = keep * 2 // 3, keep - keep * 2 // 3
    return f"{text[:head]} ... [{len(text) - head - tail:,} characters cut] ... {text[-tail:]}"


def report(exc: TierwiseError | ProfileError) -> int:
    """Print ``exc`` as the one-line error and give the exit code to end with."""
    print(f"error: {one_line(str(exc))}", file=sys.stderr)
    return exc.exit_code


def usage_error_line(exc: Any, argv: list[str]) -> str:
    """One line for a command-line parse error (Typer's vendored click raises them), completed
    with what click leaves out: the value it refused, the argument's meaning, the commands."""
    message = one_line(exc.format_message(), limit=VALUE_WIDTH * 3).rstrip(".")
    param = getattr(exc, "param", None)
    kind = type(exc).__name__
    if kind == "MissingParameter" and param is not None and getattr(param, "help", None):
        return f"{message}: {param.help}"
    if kind == "BadParameter" and param is not None:
        raw = _raw_value(argv, list(getattr(param, "opts", [])) + list(getattr(param, "secondary_opts", [])))
        if raw is not None:
            return f"{message} (got {quoted(raw)})"
    ctx = getattr(exc, "ctx", None)
    if message.startswith("No such command") and ctx is not None:
        return f"{message}; allowed: {', '.join(ctx.command.list_commands(ctx))}"
    return message


def _raw_value(argv: list[str], opts: list[str]) -> str | None:
    """What the user typed after one of `opts` (`--opt VALUE` or `--opt=VALUE`); the last wins,
    as it does for click."""
    found = None
    for i, token in enumerate(argv):
        for opt in opts:
            if token == opt and i + 1 < len(argv):
                found = argv[i + 1]
            elif opt.startswith("--") and token.startswith(opt + "="):
                found = token[len(opt) + 1:]
            elif not opt.startswith("--") and token.startswith(opt) and len(token) > len(opt):
                found = token[len(opt):]  # click reads `-c5` and `-c=5` as the value after -c
    return found
