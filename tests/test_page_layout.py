"""The reader's page of every chapter keeps the book's layout rules (issue 14).

Every ``book/**/*.md`` source is read as MyST markdown and its ``{code-cell}`` blocks are checked:

(a) no code line is wider than 88 characters, in any cell, hidden cells included;
(b) no cell whose input the reader sees has more than 15 non-blank code lines. A cell tagged
    ``hide-input``, ``remove-input`` or ``remove-cell`` is folded or removed from the page and
    is exempt from (b) only.

A long cell is split at a natural point of the argument with a sentence between the halves, or
its plumbing moves into a folded cell or the package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"

MAX_WIDTH = 88
MAX_SHOWN_LINES = 15
HIDING_TAGS = frozenset({"hide-input", "remove-input", "remove-cell"})

OPENING = re.compile(r"^(?P<fence>`{3,}|~{3,})\{code-cell\}")


@dataclass(frozen=True)
class Cell:
    """One ``{code-cell}`` of a MyST source."""

    start: int  # line number (from 1) of the opening fence
    tags: tuple[str, ...]
    code: tuple[tuple[int, str], ...]  # (line number, text) of each line of code, options excluded

    @property
    def shown(self) -> bool:
        """Whether the reader sees the cell's input (no tag folds or removes it)."""
        return not HIDING_TAGS.intersection(self.tags)

    @property
    def lines(self) -> int:
        """The number of non-blank code lines."""
        return sum(1 for _, text in self.code if text.strip())


def parse_tags(value: object) -> tuple[str, ...]:
    """Tags from an option's value: a YAML list (``[hide-input, remove-output]``) or one tag."""
    if isinstance(value, str):
        value = yaml.safe_load(value) if value.strip().startswith("[") else [value]
    return tuple(str(tag).strip() for tag in (value or ()))


def options_and_code(body: list[tuple[int, str]]) -> tuple[tuple[str, ...], list[tuple[int, str]]]:
    """Split a cell's body into its tags and its code: the options are either a YAML block
    between ``---`` lines or ``:key: value`` lines, both at the top of the cell."""
    if body and body[0][1].strip() == "---":
        ends = [k for k, (_, text) in enumerate(body[1:], 1) if text.strip() == "---"]
        if ends:
            options = yaml.safe_load("\n".join(text for _, text in body[1 : ends[0]])) or {}
            return parse_tags(options.get("tags")), body[ends[0] + 1 :]
    tags: tuple[str, ...] = ()
    k = 0
    while k < len(body) and re.match(r"^:[\w-]+:", body[k][1]):
        key, _, value = body[k][1][1:].partition(":")
        if key == "tags":
            tags = parse_tags(value.strip())
        k += 1
    return tags, body[k:]


def code_cells(text: str) -> list[Cell]:
    """Every ``{code-cell}`` of a MyST source, with its tags and code lines."""
    cells: list[Cell] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = OPENING.match(lines[i])
        if not opening:
            i += 1
            continue
        fence = opening["fence"]
        start, body = i + 1, []
        i += 1
        # a closing fence is the same character, at least as many times, and nothing else
        while i < len(lines) and not re.fullmatch(rf"{re.escape(fence[0])}{{{len(fence)},}}\s*",
                                                  lines[i]):
            body.append((i + 1, lines[i]))
            i += 1
        if i == len(lines):
            raise ValueError(f"the code cell opened at line {start} is never closed")
        tags, code = options_and_code(body)
        cells.append(Cell(start, tags, tuple(code)))
        i += 1
    return cells


def long_lines(cells: list[Cell]) -> list[tuple[int, int]]:
    """(line number, width) of every code line wider than ``MAX_WIDTH``."""
    return [(n, len(text)) for cell in cells for n, text in cell.code if len(text) > MAX_WIDTH]


def long_shown_cells(cells: list[Cell]) -> list[tuple[int, int]]:
    """(opening line, non-blank lines) of every shown cell longer than ``MAX_SHOWN_LINES``."""
    return [(cell.start, cell.lines) for cell in cells
            if cell.shown and cell.lines > MAX_SHOWN_LINES]


def sources() -> list[Path]:
    return sorted(p for p in BOOK.rglob("*.md") if "_build" not in p.parts)


def chapter_id(path: Path) -> str:
    return path.relative_to(BOOK).with_suffix("").as_posix()


SOURCES = sources()


@pytest.mark.parametrize("source", SOURCES, ids=[chapter_id(p) for p in SOURCES])
def test_no_code_line_over_88_characters(source: Path) -> None:
    found = long_lines(code_cells(source.read_text(encoding="utf-8")))
    assert not found, (
        f"{chapter_id(source)}: {len(found)} code line(s) over {MAX_WIDTH} characters: "
        + ", ".join(f"line {n} ({width} characters)" for n, width in found)
    )


@pytest.mark.parametrize("source", SOURCES, ids=[chapter_id(p) for p in SOURCES])
def test_no_shown_cell_over_15_lines(source: Path) -> None:
    found = long_shown_cells(code_cells(source.read_text(encoding="utf-8")))
    assert not found, (
        f"{chapter_id(source)}: {len(found)} shown cell(s) over {MAX_SHOWN_LINES} non-blank "
        "lines (split them, or fold plumbing into a hide-input cell): "
        + ", ".join(f"the cell at line {n} ({count} lines)" for n, count in found)
    )


def test_the_book_has_code_cells_to_check() -> None:
    cells = [cell for p in SOURCES for cell in code_cells(p.read_text(encoding="utf-8"))]
    assert len(cells) > 100
    assert any(not cell.shown for cell in cells) and any(cell.shown for cell in cells)


# Known answers for the parser, on a small MyST source.


def cell_source(tags: str | None, code: list[str]) -> str:
    options = [f":tags: {tags}", ""] if tags else []
    return "\n".join(["```{code-cell} ipython3", *options, *code, "```"])


def myst(*cells: str) -> str:
    front = "---\nkernelspec:\n  name: python3\n---\n\n# A chapter\n\nSome prose.\n\n"
    return front + "\n\nA sentence between cells.\n\n".join(cells) + "\n"


SIXTEEN = [f"x{k} = {k}" for k in range(16)]


def test_a_shown_cell_of_16_lines_fails() -> None:
    cells = code_cells(myst(cell_source(None, SIXTEEN[:8] + [""] + SIXTEEN[8:])))
    assert len(cells) == 1 and cells[0].shown and cells[0].lines == 16
    assert long_shown_cells(cells) == [(cells[0].start, 16)]
    assert cells[0].start == 10  # the opening fence's line in the source


def test_a_shown_cell_of_15_lines_passes() -> None:
    assert long_shown_cells(code_cells(myst(cell_source(None, SIXTEEN[:15])))) == []


@pytest.mark.parametrize("tags", ["[hide-input]", "[remove-input]", "[remove-cell]",
                                  "[hide-output, hide-input]"])
def test_a_hidden_cell_of_16_lines_passes(tags: str) -> None:
    cells = code_cells(myst(cell_source(tags, SIXTEEN)))
    assert not cells[0].shown and cells[0].lines == 16
    assert long_shown_cells(cells) == []


def test_other_tags_do_not_hide_a_cell() -> None:
    cells = code_cells(myst(cell_source("[hide-output]", SIXTEEN)))
    assert cells[0].tags == ("hide-output",) and cells[0].shown
    assert long_shown_cells(cells) == [(cells[0].start, 16)]


def test_yaml_options_are_read_and_not_counted() -> None:
    text = myst("```{code-cell} ipython3\n---\ntags: [remove-input]\n---\n" + "\n".join(SIXTEEN)
                + "\n```")
    cells = code_cells(text)
    assert cells[0].tags == ("remove-input",) and cells[0].lines == 16 and not cells[0].shown


def test_a_line_of_89_characters_fails_and_88_passes() -> None:
    wide, limit = "y = " + "1" * 85, "y = " + "1" * 84
    assert (len(wide), len(limit)) == (89, 88)
    text = myst(cell_source(None, ["a = 1", limit]), cell_source("[hide-input]", ["b = 2", wide]))
    cells = code_cells(text)
    assert len(cells) == 2
    line = text.splitlines().index(wide) + 1
    assert long_lines(cells) == [(line, 89)]  # hidden cells are not exempt from the width


def test_prose_and_plain_code_blocks_are_not_cells() -> None:
    text = myst("```python\n" + "z = 0  # " + "x" * 100 + "\n```", "p" * 120)
    assert code_cells(text) == []


def test_an_unclosed_cell_is_an_error() -> None:
    with pytest.raises(ValueError, match="never closed"):
        code_cells("```{code-cell} ipython3\nx = 1\n")
