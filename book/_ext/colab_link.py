"""Sphinx extension: an "Open in Colab" link on every chapter page that has a ``notebooks/`` twin.

The theme's own Colab button would open the page's MyST source (``book/x.md``), which Colab cannot
read; readers should get the paired ``notebooks/x.ipynb``. The repository URL and branch come from
``_config.yml`` (``repository:``), the one place they are set.
"""

from __future__ import annotations

from pathlib import Path

COLAB = "https://colab.research.google.com/github"


def colab_url(repository_url: str, branch: str, notebook: str) -> str:
    """Colab URL that opens ``notebook`` (a path relative to the repository root) from GitHub."""
    prefix = "https://github.com/"
    if not repository_url.startswith(prefix):
        raise ValueError(f"repository url must start with {prefix!r} for Colab links, got {repository_url!r}")
    org_repo = repository_url[len(prefix):].strip("/")
    return f"{COLAB}/{org_repo}/blob/{branch}/{notebook}"


def notebook_for(srcdir: str | Path, pagename: str) -> Path | None:
    """The ``notebooks/…ipynb`` paired with the page ``book/…``, if it exists."""
    if not pagename.startswith("book/"):
        return None
    path = Path(srcdir) / "notebooks" / (pagename[len("book/"):] + ".ipynb")
    return path if path.exists() else None


def _add_link(app, pagename, templatename, context, doctree) -> None:
    if doctree is None or "body" not in context:
        return
    notebook = notebook_for(app.srcdir, pagename)
    if notebook is None:
        return
    options = app.config.html_theme_options
    url = colab_url(options["repository_url"], options.get("repository_branch", "main"),
                    notebook.relative_to(app.srcdir).as_posix())
    context["body"] = (
        f'<p class="labfree-colab"><a class="reference external" href="{url}">'
        f'<span class="labfree-colab-mark">&#9654;</span> Open in Colab</a> '
        f'<span class="labfree-colab-note">runs this chapter as <code>{notebook.name}</code>; '
        f"its first cell installs labfree</span></p>\n" + context["body"]
    )


def setup(app):
    app.connect("html-page-context", _add_link)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
