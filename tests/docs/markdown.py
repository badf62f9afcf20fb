"""The Markdown pages of the checkout, read as GitHub and MyST read them (CommonMark).

Shared by the docs lint (:mod:`tests.docs.test_lint`) and the runner of every documented
command (:mod:`tests.docs.test_commands`): which files are pages, their fences, their headings'
anchors and their links.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

ROOT = Path(__file__).resolve().parents[2]

#: Folders under docs/ that sphinx-build writes (gitignored): not pages of the checkout.
GENERATED = ("_build", "api", "notebooks")

#: Pages outside docs/ that are read as documentation (CONTRIBUTING.md is also included into
#: docs/contributing.md).
ROOT_PAGES = ("README.md", "CONTRIBUTING.md")

SHELL = {"bash", "console", "shell", "sh"}


def pages(root: Path = ROOT) -> list[Path]:
    """README.md, CONTRIBUTING.md and every docs/**/*.md of ``root``, sorted."""
    docs = sorted(
        path for path in (root / "docs").rglob("*.md") if path.relative_to(root / "docs").parts[0] not in GENERATED
    )
    return [root / name for name in ROOT_PAGES if (root / name).exists()] + docs


def is_myst(path: Path, root: Path = ROOT) -> bool:
    """A page Sphinx renders with MyST (under docs/), as opposed to one GitHub renders."""
    return path.is_relative_to(root / "docs")


@cache
def _parser(myst: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    if myst:
        # MyST's `dollarmath` with its defaults (docs/conf.py enables it): `$$` inside a
        # paragraph is not display math, so it shows as a stray `$` around inline math.
        md.use(dollarmath_plugin, allow_labels=True, allow_space=True, allow_digits=True, double_inline=False)
    return md


def parse(text: str, *, myst: bool = False):
    """The block tokens of ``text``."""
    return _parser(myst).parse(text)


def _myst_heading_levels(root: Path) -> int:
    """How many heading levels MyST gives anchors to (``myst_heading_anchors`` of docs/conf.py)."""
    match = re.search(
        r"^myst_heading_anchors\s*=\s*(\d+)", (root / "docs" / "conf.py").read_text(encoding="utf-8"), re.M
    )
    return int(match.group(1)) if match else 0


def slug(text: str) -> str:
    """GitHub's anchor of a heading (MyST's default slug is the same): lower case, every
    character but letters, digits, ``_``, ``-`` and spaces dropped, spaces turned into ``-``."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _inline_text(token) -> str:
    return "".join(c.content for c in token.children or () if c.type in ("text", "code_inline", "math_inline"))


@dataclass(frozen=True)
class Fence:
    """A fenced block: its info string, content, first line (1-based) and opening marker."""

    info: str
    content: str
    line: int
    markup: str
    end: int  # the line after the block (1-based), from the parser's map


def fences(tokens) -> list[Fence]:
    return [Fence(t.info.strip(), t.content, t.map[0] + 1, t.markup, t.map[1] + 1) for t in tokens if t.type == "fence"]


def _children(tokens):
    for token in tokens:
        if token.type == "inline":
            yield from token.children or ()


def links(tokens) -> list[tuple[str, str]]:
    """Every (kind, target) of a page: ``("link", href)`` and ``("image", src)``, raw HTML included."""
    out = []
    for child in _children(tokens):
        if child.type == "link_open":
            out.append(("link", child.attrs["href"]))
        elif child.type == "image":
            out.append(("image", child.attrs["src"]))
    for token in [*tokens, *_children(tokens)]:
        if token.type in ("html_block", "html_inline"):
            out += [("image", src) for src in re.findall(r"<img\b[^>]*\bsrc=\"([^\"]+)\"", token.content)]
            out += [("link", href) for href in re.findall(r"<a\b[^>]*\bhref=\"([^\"]+)\"", token.content)]
    return out


def anchors(path: Path, root: Path = ROOT, *, myst: bool) -> set[str]:
    """The ``#anchors`` a link can name on ``path``: its headings' slugs (every level on GitHub,
    the first ``myst_heading_anchors`` levels under MyST, duplicates numbered -1, -2, ...), its
    MyST ``(label)=`` targets and its raw HTML ``id``/``name`` attributes."""
    text = path.read_text(encoding="utf-8")
    tokens = parse(text, myst=is_myst(path, root))
    levels = _myst_heading_levels(root) if myst else 6
    seen: Counter = Counter()
    out = set()
    for k, token in enumerate(tokens):
        if token.type == "heading_open":
            base = slug(_inline_text(tokens[k + 1]))
            name = f"{base}-{seen[base]}" if seen[base] else base
            seen[base] += 1
            if int(token.tag[1:]) <= levels:
                out.add(name)
    out |= set(re.findall(r"^\(([\w.:-]+)\)=\s*$", text, re.M))
    out |= set(re.findall(r"<[a-z]+\b[^>]*\b(?:id|name)=\"([^\"]+)\"", text))
    return out


def stray_dollars(tokens) -> list[str]:
    """Text that still holds a ``$`` after MyST's math parsing: math that will not render."""
    return [child.content for child in _children(tokens) if child.type == "text" and "$" in child.content]


def fence_defects(text: str, tokens) -> list[str]:
    """Fences that do not close where the author meant: a closing line that carries text after
    its backticks (CommonMark reads it as content, so the block runs on to the next bare fence)
    or a fence left open to the end of its container."""
    lines = text.splitlines()
    out = []
    for fence in fences(tokens):
        char, n = fence.markup[0], len(fence.markup)
        run = re.compile(rf"\s*({re.escape(char)}{{{n},}})(.*)$")
        body = fence.content.splitlines()
        for k, line in enumerate(body):
            match = run.match(line)
            if match and match.group(2).strip():
                out.append(
                    f"line {fence.line + 1 + k}: {line.strip()[:60]!r} inside the fence opened on line "
                    f"{fence.line} does not close it (a closing fence carries no text)"
                )
        last = lines[fence.end - 2] if fence.end - 2 < len(lines) else ""
        closed = fence.end - 2 > fence.line - 1 and re.fullmatch(rf"\s*{re.escape(char)}{{{n},}}\s*", last)
        if not closed:
            out.append(f"line {fence.line}: the fence `{fence.markup}{fence.info}` is never closed")
    return out


def _link_problem(page: Path, kind: str, target: str, root: Path) -> str | None:
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
        return None  # http(s), mailto: outside the checkout
    path, _, fragment = target.partition("#")
    dest = (page.parent / path).resolve() if path else page
    if not dest.exists():
        return f"{kind} {target!r}: no such file"
    if kind == "link" and fragment and dest.suffix == ".md":
        if fragment not in anchors(dest, root, myst=is_myst(page, root)):
            return f"link {target!r}: no heading or label gives the anchor #{fragment}"
    return None


def problems(root: Path = ROOT) -> list[str]:
    """Everything wrong with the pages of ``root``: unclosed fences, missing images, dead
    relative links and anchors, and (on MyST pages) math that will not render."""
    out = []
    for page in pages(root):
        text = page.read_text(encoding="utf-8")
        tokens = parse(text, myst=is_myst(page, root))
        name = page.relative_to(root)
        out += [f"{name}: {p}" for p in fence_defects(text, tokens)]
        for kind, target in links(tokens):
            problem = _link_problem(page, kind, target, root)
            if problem:
                out.append(f"{name}: {problem}")
        if is_myst(page, root):
            out += [f"{name}: a `$` outside math in {t.strip()[:60]!r}" for t in stray_dollars(tokens)]
    return out
