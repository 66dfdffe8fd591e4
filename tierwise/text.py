"""Text for people: lines that fit the terminal (80 columns and up), values in words.

The human renderers (tierwise/cli.py, tierwise/cost/render.py, tierwise/cost/compare_cli.py)
lay out through these helpers so that nothing a user must type is cut: a name or a URL is never
broken, wrapped lines hang under their bullet, and tables pick widths from their contents and
wrap only the columns that hold prose.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Sequence
from typing import Any

MIN_WIDTH, MAX_WIDTH = 60, 120
URL = re.compile(r"https?://[^\s)\]]+")


def terminal_width() -> int:
    """COLUMNS when set (as terminals and CI do), else the terminal's width, else 80; wider
    than MAX_WIDTH only spreads text apart, narrower than MIN_WIDTH cannot hold a table."""
    return min(MAX_WIDTH, max(MIN_WIDTH, shutil.get_terminal_size((80, 24)).columns))


def wrap(text: str, width: int, first: str = "", rest: str | None = None) -> list[str]:
    """`text` in lines of at most `width`, led by `first` and then `rest` (default: spaces as
    wide as `first`). Words are never split, hyphenated names included: a word longer than the
    line (a URL) gets a line of its own."""
    rest = " " * len(first) if rest is None else rest
    lines = textwrap.wrap(" ".join(str(text).split()), width, initial_indent=first, subsequent_indent=rest,
                          break_long_words=False, break_on_hyphens=False)
    return lines or [first.rstrip()]


def bullet(text: str, width: int, marker: str = "- ", indent: str = "  ") -> list[str]:
    """A bullet whose wrapped lines start under its first word."""
    return wrap(text, width, indent + marker, indent + " " * len(marker))


def labelled(label: str, text: str, width: int, hang: str = "  ") -> list[str]:
    """'label: text', wrapped lines indented by `hang` under the label."""
    return wrap(text, width, f"{label}: ", hang)


def words(value: Any) -> str:
    """A setting's value as a person reads it: none, yes/no, 1,024, 0.5, text."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value == int(value) and abs(value) >= 1000 else f"{value:,.6g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(words(v) for v in value) or "none"
    return str(value)


def plural(count: int | float, one: str, many: str | None = None) -> str:
    """'1 resource', '2 resources' (`many` for irregular plurals)."""
    noun = one if count == 1 else (many or one + "s")
    return f"{count:,} {noun}" if isinstance(count, int) else f"{count:,g} {noun}"


def were(count: int) -> str:
    """'1 was' / '2 were'."""
    return f"{count:,} {'was' if count == 1 else 'were'}"


def without_urls(text: str) -> str:
    """`text` with its source URLs taken out (a URL alone in parentheses goes with them); the
    sources stay in `--json` and `--verbose`."""
    text = re.sub(r"\s*\(\s*" + URL.pattern + r"\s*\)", "", text)
    text = re.sub(r"[;,]\s*" + URL.pattern, "", text)
    text = URL.sub("", text)
    text = re.sub(r"\(\s*[,;]?\s*", "(", " ".join(text.split()))
    return re.sub(r"\(\)", "", text).replace(" ,", ",").replace(" )", ")").replace("  ", " ").strip()


class Sources:
    """Numbers each distinct URL once ([1], [2], ...) so a line keeps its reference, not the URL."""

    CITED = re.compile(r"\(\s*(?P<alone>" + URL.pattern + r")\s*\)|(?P<inline>" + URL.pattern + ")")

    def __init__(self) -> None:
        self.urls: list[str] = []

    def cite(self, text: str) -> str:
        """`text` with each URL replaced by its number; "(URL)" becomes "[n]"."""

        def number(match: re.Match) -> str:
            url = match.group("alone") or match.group("inline")
            if url not in self.urls:
                self.urls.append(url)
            return f"[{self.urls.index(url) + 1}]"

        return self.CITED.sub(number, text)

    def lines(self, width: int) -> list[str]:
        """The numbered list; a URL longer than the line stands alone on its line, whole."""
        out = ["sources:"] if self.urls else []
        for i, url in enumerate(self.urls, 1):
            out += wrap(url, width, f"  [{i}] ")
        return out


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int, *, right: Sequence[int] = (),
          wrap_columns: Sequence[int] = (), gap: int = 2) -> list[str]:
    """A plain table: each column as wide as its widest cell; when the table is wider than
    `width`, the `wrap_columns` (prose) give up room and wrap at spaces, other cells are never
    cut. Columns in `right` are right-aligned."""
    n = len(headers)
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(headers[i])] + [len(r[i]) for r in cells]) for i in range(n)]
    excess = sum(widths) + gap * (n - 1) - width
    for i in wrap_columns:
        if excess <= 0:
            break
        longest_word = max([len(w) for r in cells for w in r[i].split()] + [len(headers[i]), 1])
        give = min(excess, widths[i] - longest_word)
        if give > 0:
            widths[i] -= give
            excess -= give
    out = [_row(headers, widths, right, gap), _row(["─" * w for w in widths], widths, right, gap)]
    for r in cells:
        parts = [wrap(c, widths[i]) if i in wrap_columns else [c] for i, c in enumerate(r)]
        for k in range(max(len(p) for p in parts)):
            out.append(_row([p[k] if k < len(p) else "" for p in parts], widths, right, gap))
    return out


def _row(cells: Sequence[str], widths: Sequence[int], right: Sequence[int], gap: int) -> str:
    return (" " * gap).join(c.rjust(w) if i in right else c.ljust(w)
                            for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
