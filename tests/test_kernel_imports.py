"""tools.kernel_imports: the submodules a notebook reaches as attributes without importing them.

Known answers from the standard library, whose imports do not change between machines:
``import xml`` leaves ``xml.dom`` unimported, ``import os`` imports ``os.path``, and
``email.mime.text`` imports ``email.mime.base``.
"""

from __future__ import annotations

import subprocess
import sys

from tools.kernel_imports import unimported_submodules


def test_a_submodule_reached_through_its_parent_is_reported() -> None:
    found = unimported_submodules({"nb": "import xml\nxml.dom.minidom.parseString('<a/>')"})
    assert found == {"nb": ["xml.dom", "xml.dom.minidom"]}
    # the check is what a fresh interpreter does with that code
    run = subprocess.run([sys.executable, "-c", "import xml\nxml.dom.minidom"], capture_output=True,
                         text=True)
    assert run.returncode != 0 and "AttributeError" in run.stderr


def test_imported_submodules_are_not_reported() -> None:
    codes = {
        "explicit": "import xml.dom.minidom\nxml.dom.minidom.parseString('<a/>')",
        "aliased": "import xml.dom.minidom as md\nmd.parseString('<a/>')",
        "from": "from xml.dom import minidom\nminidom.parseString('<a/>')",
        # importing os imports os.path; importing email.mime.text imports email.mime.base
        "by its parent": "import os\nos.path.join('a', 'b')",
        "by another import": "import email\nimport email.mime.text\nx = email.mime.base",
        "attributes only": "import math\nmath.pi.real",
    }
    assert unimported_submodules(codes) == {}


def test_names_bound_by_from_imports_and_magics() -> None:
    codes = {
        "from": "from xml import dom\ndom.minidom",
        "magic inside a block": "import email\nif True:\n    %pip install x\nemail.mime",
        "in a function": "import xml\ndef f():\n    return xml.etree.ElementTree\n",
    }
    assert unimported_submodules(codes) == {"from": ["xml.dom.minidom"],
                                            "magic inside a block": ["email.mime"],
                                            "in a function": ["xml.etree", "xml.etree.ElementTree"]}
