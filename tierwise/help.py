"""`--help` that keeps names whole: tier ids, file names and flags are never split at a hyphen,
and a command's one-line summary in a list is never cut short with '...'.

Typer lays help out with click's formatter, which breaks words at hyphens
(`sagemaker-` / `serverless`) and truncates each command's summary to fit one line. These
classes keep its layout and replace only the wrapping. Commands take `cls=Command`, groups
`cls=Group`; their contexts then format with `HelpFormatter`.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup

from tierwise.text import wrap

_Context = TyperCommand.context_class
SUMMARY_LIMIT = 200  # a summary is the first sentence of the help; wrapped, never cut


class HelpFormatter(_Context.formatter_class):  # type: ignore[misc, name-defined]
    def write_text(self, text: str) -> None:
        indent = " " * self.current_indent
        paragraphs = [p for p in text.split("\n\n") if p.strip()]
        for i, paragraph in enumerate(paragraphs):
            if i:
                self.write("\n")
            if paragraph.lstrip("\n").startswith("\b"):  # click's marker: print as written
                lines = [indent + line for line in paragraph.lstrip("\n")[1:].strip("\n").splitlines()]
            else:
                lines = wrap(paragraph, self.width, indent)
            self.write("\n".join(lines) + "\n")

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        rows = list(rows)
        if not rows:
            return
        first = min(max(len(term) for term, _ in rows), col_max)
        column = self.current_indent + first + col_spacing
        for term, definition in rows:
            lead = " " * self.current_indent + term
            if not definition:
                self.write(lead + "\n")
                continue
            if len(term) <= first:
                lines = wrap(definition, self.width, lead.ljust(column), " " * column)
            else:
                lines = [lead] + wrap(definition, self.width, " " * column)
            self.write("\n".join(lines) + "\n")


class HelpContext(_Context):  # type: ignore[misc, valid-type]
    formatter_class = HelpFormatter


class Command(TyperCommand):
    context_class = HelpContext


class Group(TyperGroup):
    context_class = HelpContext

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(SUMMARY_LIMIT)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
