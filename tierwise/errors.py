"""The one exception a user can cause. The CLI and app.py turn it into a single line and exit 2."""


class TierwiseError(ValueError):
    """Bad input: the message says what was wrong and what is allowed, in one line."""

    exit_code = 2
