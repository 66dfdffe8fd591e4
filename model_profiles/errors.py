"""The error a bad profile or an unknown model name causes.

model_profiles sits below tierwise (tierwise reads profiles, never the reverse), so it has
its own error; tierwise.errors.report prints it as the same one line as a TierwiseError.
"""


class ProfileError(ValueError):
    """A profile that cannot be read or validated, or a model the catalogue does not hold;
    the message says what was wrong and what is allowed, in one line."""

    exit_code = 2
