"""A Sphinx extension: after an HTML build, every local link must reach a page and an anchor.

Sphinx's ``-n`` checks the cross-references it resolves itself, not links it writes without
resolving them, such as the "[docs]" links of ``sphinx.ext.viewcode`` from a source page back
to the object's documentation (their anchor is built from a module name and can name an object
that page does not define). This extension reads every generated HTML file, collects its
``id``/``name`` anchors, and warns once for each ``href`` into the build whose file or ``#anchor``
does not exist; ``sphinx-build -W`` turns the warnings into a failed build.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Page(HTMLParser):
    """The anchors a page defines and the links it makes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.anchors: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.anchors.add(attrs[key])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def _local(href: str) -> tuple[str, str] | None:
    """(path, fragment) of a link into the build, or None for an external or non-page link."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:")):
        return None
    return unquote(parts.path), unquote(parts.fragment)


def dead_links(outdir) -> list[str]:
    """Every link of an HTML build whose target file or anchor is missing, as ``"page: href (why)"``.

    Parameters
    ----------
    outdir : path
        The HTML output directory.

    Returns
    -------
    list of str
        Sorted; empty when every local link resolves.
    """
    root = Path(outdir).resolve()
    pages = {}
    for path in sorted(root.rglob("*.html")):
        page = _Page()
        page.feed(path.read_text(encoding="utf-8", errors="replace"))
        pages[path] = page
    dead = set()
    for path, page in pages.items():
        for href in page.links:
            local = _local(href)
            if local is None:
                continue
            target_path, fragment = local
            target = (path.parent / target_path).resolve() if target_path else path
            where = f"{path.relative_to(root)}: {href}"
            if not target.is_relative_to(root) or not target.exists():
                dead.add(f"{where} (no such file)")
            elif fragment and target.suffix == ".html" and fragment not in pages[target].anchors:
                dead.add(f"{where} (no anchor #{fragment} on {target.relative_to(root)})")
    return sorted(dead)


def _check(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    for link in dead_links(app.outdir):
        logger.warning("dead link in the HTML build: %s", link)


def setup(app):
    app.connect("build-finished", _check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
