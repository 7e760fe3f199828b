"""Submodules a chapter reaches without importing them: the one way a forked kernel differs.

A kernel forked from the zygote (``tools/forked_kernels.py``) has torch, scikit-learn, SciPy... in
``sys.modules`` before its first cell, and a submodule that has been imported is an attribute of
its parent package. So ``import scipy`` followed by ``scipy.special.digamma`` resolves in a forked
kernel whenever the zygote imported ``scipy.special``, and may raise ``AttributeError`` in the
fresh kernel of a reader. Names that were never imported (a forgotten ``import numpy as np``) fail
in both kernels, and ruff reports them; this module finds the attribute case.

:func:`unimported_submodules` reads a notebook's code, collects each dotted access through a name
that an ``import`` bound to a module (``scipy.special.digamma``), keeps the prefixes that are
modules (``scipy.special``) and that no import statement of the notebook names, and then asks
fresh interpreters whether those prefixes resolve: first after importing only the module the name
is bound to (one interpreter per module for all the notebooks: ``import torch`` makes
``torch.nn.functional`` an attribute), then, for what is left, after running all of the
notebook's import statements in order (``import labfree.metrics`` imports ``sklearn.metrics``).
What still does not resolve is what a fresh kernel lacks.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping

# Resolve dotted names after some imports, in a fresh interpreter; print the ones that fail.
_RESOLVE = """
import importlib, json, sys
{imports}
missing = []
for name in json.loads(sys.argv[1]):
    first, *rest = name.split(".")
    try:
        value = sys.modules[first] if first in sys.modules else importlib.import_module(first)
        for attribute in rest:
            value = getattr(value, attribute)
    except (AttributeError, ImportError):
        missing.append(name)
print(json.dumps(missing))
"""


def _parse(code: str) -> ast.Module:
    # IPython's magics and shell escapes are not Python; they import nothing
    lines = [line[:len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!"))
             else line for line in code.splitlines()]
    return ast.parse("\n".join(lines))


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, AttributeError, ValueError):
        return False


def _imports(tree: ast.Module) -> tuple[dict[str, str], set[str], list[str]]:
    """(name → the module an import bound it to, every module an import statement names, the
    import statements as source)."""
    bound, named, statements = {}, set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                named.update(".".join(parts[:k]) for k in range(1, len(parts) + 1))
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    bound[parts[0]] = parts[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            named.update(".".join(parts[:k]) for k in range(1, len(parts) + 1))
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if alias.name != "*" and _is_module(full):
                    named.add(full)
                    bound[alias.asname or alias.name] = full
        else:
            continue
        statements.append((node.lineno, ast.unparse(node)))
    # ast.walk goes breadth first: put the statements back in the notebook's order
    return bound, named, [source for _, source in sorted(statements)]


def _chains(tree: ast.Module, bound: dict[str, str]) -> set[tuple[str, str]]:
    """(module, dotted access) of every access ``name.a.b`` through a name bound to a module,
    spelled with the module's full name (``F.relu`` → ``torch.nn.functional.relu``)."""
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        attributes, value = [], node
        while isinstance(value, ast.Attribute):
            attributes.append(value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id in bound:
            module = bound[value.id]
            found.add((module, ".".join([module, *reversed(attributes)])))
    return found


def _unresolved(names: Iterable[str], imports: Iterable[str]) -> set[str]:
    names = sorted(set(names))
    if not names:
        return set()
    script = _RESOLVE.format(imports="\n".join(imports))
    done = subprocess.run([sys.executable, "-c", script, json.dumps(names)], capture_output=True,
                          text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def unimported_submodules(codes: Mapping[str, str]) -> dict[str, list[str]]:
    """For each notebook's code in ``codes`` (name → code), the submodules it uses as attributes
    of an imported module although, in a fresh interpreter that runs the notebook's import
    statements, they are not attributes of it; notebooks without any are left out."""
    parsed, wanted = {}, {}  # notebook → (statements, {module: submodules}); module → submodules
    for name, code in codes.items():
        tree = _parse(code)
        bound, named, statements = _imports(tree)
        candidates: dict[str, set[str]] = {}
        for base, chain in _chains(tree, bound):
            parts = chain.split(".")
            for k in range(len(base.split(".")) + 1, len(parts) + 1):
                prefix = ".".join(parts[:k])
                if not _is_module(prefix):
                    break
                if prefix not in named:
                    candidates.setdefault(base, set()).add(prefix)
                    wanted.setdefault(base, set()).add(prefix)
        parsed[name] = statements, candidates
    # one interpreter per imported module for every notebook's candidates through it
    failing = {base: _unresolved(names, [f"import {base}"]) for base, names in wanted.items()}
    found = {}
    for name, (statements, candidates) in parsed.items():
        left = set().union(*(names & failing[base] for base, names in candidates.items()))
        missing = sorted(_unresolved(left, statements))
        if missing:
            found[name] = missing
    return found
