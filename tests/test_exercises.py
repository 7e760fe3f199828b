"""Every chapter of the parts "Getting started" to "Measuring representations" ends with exercises.

The markup, read from the MyST sources (CONTRIBUTING.md, Chapters):

- the page's last ``##`` section is ``## Exercises``;
- each exercise is a ``### Exercise N: title`` subsection, numbered 1, 2, ... in order, 3 to 5 of
  them;
- each exercise states its task, then folds its solution in a dropdown, ``:::{dropdown} Solution``
  (sphinx-design, enabled by Jupyter Book);
- at least one code cell of the section, tagged ``hide-input``, checks a solution with ``assert``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.test_page_layout import code_cells

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("Getting started", "Information", "Methods", "Measuring representations")
MIN_EXERCISES, MAX_EXERCISES = 3, 5

FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,}|:{3,})")
EXERCISE = re.compile(r"^### Exercise (?P<number>\d+): \S")
SOLUTION = re.compile(r"^(?P<fence>:{3,}|`{3,})\{dropdown\} Solution\s*$")


def chapters() -> list[str]:
    """The pages (``book/x``) of the parts that carry exercises, in the order of ``_toc.yml``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [chapter["file"] for part in toc["parts"] if part["caption"] in PARTS
            for chapter in part["chapters"]]


@dataclass
class Exercise:
    number: int
    statement: list[str] = field(default_factory=list)  # text before the solution
    solutions: int = 0                                   # folded solutions found


@dataclass
class Section:
    """The page's last ``##`` section as parsed: its heading and its exercises."""

    heading: str
    exercises: list[Exercise]
    intro: list[str]
    text: str  # the section's source, for its code cells


def last_section(source: str) -> Section:
    """The last ``##`` section of a MyST source and the exercises in it. Headings and directives
    inside fenced blocks (code cells, dropdowns, equations) do not count as headings."""
    lines = source.splitlines()
    fence: str | None = None
    heading_at: list[int] = []
    for k, line in enumerate(lines):
        opening = FENCE.match(line)
        if fence is None and opening:
            fence = opening["fence"]
            continue
        if fence is not None:
            if line.strip() == fence:
                fence = None
            continue
        if line.startswith("## "):
            heading_at.append(k)
    if not heading_at:
        return Section("", [], [], "")
    start = heading_at[-1]
    body = lines[start + 1:]
    exercises: list[Exercise] = []
    intro: list[str] = []
    fence = None
    for line in body:
        opening = FENCE.match(line)
        if fence is None and opening:
            fence = opening["fence"]
            if exercises and SOLUTION.match(line):
                exercises[-1].solutions += 1
            continue
        if fence is not None:
            if line.strip() == fence:
                fence = None
            continue
        found = EXERCISE.match(line)
        if found:
            exercises.append(Exercise(int(found["number"])))
        elif exercises:
            if not exercises[-1].solutions and line.strip():
                exercises[-1].statement.append(line)
        elif line.strip():
            intro.append(line)
    return Section(lines[start], exercises, intro, "\n".join(lines[start:]))


def problems(source: str) -> list[str]:
    """What is wrong with a source's exercises, in words; empty when the markup is right."""
    section = last_section(source)
    if section.heading.strip() != "## Exercises":
        return [f"the last ## section is {section.heading.strip()!r}, not '## Exercises'"]
    found: list[str] = []
    numbers = [e.number for e in section.exercises]
    if not MIN_EXERCISES <= len(numbers) <= MAX_EXERCISES:
        found.append(f"{len(numbers)} exercises (### Exercise N: ...), not "
                     f"{MIN_EXERCISES}-{MAX_EXERCISES}")
    if numbers != list(range(1, len(numbers) + 1)):
        found.append(f"exercises numbered {numbers}, not 1, 2, ...")
    for exercise in section.exercises:
        if not exercise.statement:
            found.append(f"exercise {exercise.number} states no task before its solution")
        if exercise.solutions != 1:
            found.append(f"exercise {exercise.number} has {exercise.solutions} folded solutions "
                         "(:::{dropdown} Solution), not one")
    checks = [cell for cell in code_cells(section.text)
              if "hide-input" in cell.tags
              and any(re.search(r"\bassert\b", text) for _, text in cell.code)]
    if not checks:
        found.append("no code cell tagged hide-input with an assert checks a solution")
    return found


@pytest.mark.parametrize("page", chapters())
def test_chapter_ends_with_exercises(page: str) -> None:
    source = (ROOT / f"{page}.md").read_text(encoding="utf-8")
    found = problems(source)
    assert not found, f"{page}.md: " + "; ".join(found)


def test_the_parts_hold_the_chapters_of_the_issue() -> None:
    pages = chapters()
    assert len(pages) == 18 and pages[0] == "book/notation" and pages[-1] == "book/alpha"


GOOD = """\
# A chapter

## Summary

- a point

## Exercises

Solutions are folded.

### Exercise 1: one

Derive it.

:::{dropdown} Solution
It follows.
:::

```{code-cell} ipython3
:tags: [hide-input, hide-output]

assert 1 + 1 == 2
```

### Exercise 2: two

Predict it.

:::{dropdown} Solution
```python
x = 1  # a fenced block inside the solution
```
:::

### Exercise 3: three

Explain it.

:::{dropdown} Solution
Because.
:::
"""


def test_well_formed_exercises_pass() -> None:
    assert problems(GOOD) == []
    section = last_section(GOOD)
    assert [e.number for e in section.exercises] == [1, 2, 3]
    assert all(e.solutions == 1 for e in section.exercises)


@pytest.mark.parametrize("broken, message", [
    (GOOD + "\n## Further reading\n\nMore.\n", "not '## Exercises'"),
    (GOOD.replace("### Exercise 3: three", "### Exercise 4: three"), "numbered [1, 2, 4]"),
    (GOOD.split("### Exercise 3")[0], "2 exercises"),
    (GOOD.replace(":::{dropdown} Solution\nBecause.\n:::\n", "Because.\n"),
     "exercise 3 has 0 folded solutions"),
    (GOOD.replace("Predict it.\n", ""), "exercise 2 states no task"),
    (GOOD.replace(":tags: [hide-input, hide-output]", ":tags: [hide-output]"),
     "no code cell tagged hide-input"),
    (GOOD.replace("assert 1 + 1 == 2", "print(1 + 1)"), "no code cell tagged hide-input"),
    (GOOD.replace("Solutions are folded.\n", "```{code-cell} ipython3\n## Exercises\n```\n"),
     ""),  # a heading inside a code fence is not a heading: still well formed
])
def test_broken_exercises_are_reported(broken: str, message: str) -> None:
    found = problems(broken)
    if message:
        assert any(message in p for p in found), found
    else:
        assert found == []
