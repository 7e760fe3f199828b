"""labfree — learning without labels.

The small package behind the book: data, augmentation, encoders and heads, self-supervised
losses, one training loop, embedding, label-free metrics, mutual-information estimators and plots.
Submodules are imported on first use, so ``import labfree`` stays cheap::

    import labfree
    train = labfree.data.load("shapes", split="train")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "data", "augment", "models", "losses", "momentum", "methods", "train", "embed", "metrics", "analysis",
    "complexity", "mi", "plots", "results", "optim", "nce", "precision", "evaluation", "chapter", "profiles",
)
__all__ = list(_SUBMODULES) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'labfree' has no attribute {name!r}")
