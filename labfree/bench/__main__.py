"""``python -m labfree.bench train|augment|metrics``: see :mod:`labfree.bench`."""

from labfree.bench import main

main()
