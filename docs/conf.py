"""Sphinx configuration of the ctmc-lab documentation.

Build with ``pip install -e '.[docs]' && sphinx-build -W --keep-going -n docs docs/_build/html``
from the repository root. Notebooks are rendered with their committed outputs (never executed
here); the CLI reference is generated from the argparse parsers, the API reference from the
docstrings.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import types  # noqa: E402

import ctmc_lab  # noqa: E402

# autosummary imports every submodule it lists; the two ``__main__`` modules would run the
# command line on Sphinx's own argv. Stand-ins keep them out of the build.
for _main in ("ctmc_lab.cli.__main__", "proofs_check.__main__"):
    sys.modules.setdefault(_main, types.ModuleType(_main))

project = "ctmc-lab"
author = "The ctmc-lab developers"
copyright = "2026, The ctmc-lab developers"  # noqa: A001
release = ctmc_lab.__version__  # the one source of the version
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
    "sphinxarg.ext",
    "html_anchors",  # docs/_ext: every local link of the HTML build must reach its page and anchor
]

# ---------------------------------------------------------------- sources
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "figures/*.csv"]
templates_path = ["_templates"]
root_doc = "index"

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "attrs_inline", "substitution"]
myst_heading_anchors = 3
# |version| and {{version}} in the pages come from ctmc_lab.__version__.
myst_substitutions = {"version": release}
# The notebooks carry their outputs (the tests keep them in sync with the .py sources).
nb_execution_mode = "off"
nb_output_stderr = "remove-warn"

# The notebooks live in notebooks/ at the root (paired .py/.ipynb); Sphinx reads sources only
# below docs/, so the .ipynb files are copied next to the pages at every build.
_nb_out = DOCS / "notebooks"
_nb_out.mkdir(exist_ok=True)
for _nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
    if not (_nb_out / _nb.name).exists() or (_nb_out / _nb.name).read_bytes() != _nb.read_bytes():
        shutil.copyfile(_nb, _nb_out / _nb.name)

# ---------------------------------------------------------------- API reference
autosummary_generate = True
autosummary_imported_members = False
autosummary_ignore_module_all = False  # list exactly what autodoc documents: `__all__`
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()
# A "[source]" link goes to the module that documents the object, not to the module its
# ``__module__`` names: a function documented on two pages (re-exported in a module's
# ``__all__``, or wrapped with ``functools.wraps``) would otherwise get "[docs]" links back from
# the defining module's source whose anchors name the other page's module, and exist nowhere.
viewcode_follow_imported_members = False

# matplotlib is referred to by name only: no inventory is available offline.
nitpick_ignore_regex = [(r"py:.*", r"matplotlib\..*")]

# No intersphinx: the build must run offline (CI has no network), and -n would turn an
# unreachable inventory into a failure.

# ---------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"ctmc-lab {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navbar_end": ["search-button", "theme-switcher"],
    "navbar_persistent": [],
    "header_links_before_dropdown": 5,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
html_show_sourcelink = False
# Pages without subpages need no section navigation on the left.
html_sidebars = {
    page: []
    for page in (
        "index",
        "getting_started",
        "theory",
        "cli",
        "json_schemas",
        "gallery",
        "performance",
        "workloads",
        "verify",
        "commands",
        "audit",
        "citing",
        "contributing",
    )
}


# ---------------------------------------------------------------- docstrings as plain text
# The docstrings write |x|, |M| and |a - b| as in the paper; reStructuredText would read each
# |...| as a substitution. Escape the bars in prose, leaving inline literals, roles, tables and
# doctest blocks alone, so the docstrings stay readable in help() and render in the docs; and
# turn their section citations into links to the theory page.
import re  # noqa: E402

_LITERAL = re.compile(r"(``.+?``|:[\w:]+:`[^`]*`|`[^`]*`_?)")


# Citations of the theory page ("``docs/theory.md`` §3.5", "§4.2", and the old file name
# "math_spec.md §3.5") become links to its sections, for every label the page defines.
_THEORY_LABELS = set(re.findall(r"^\((theory-[0-9-]+)\)=", (DOCS / "theory.md").read_text(encoding="utf-8"), re.M))
_CITED_FILE = re.compile(r"(?:``|`)?(?:math_spec(?:\.md)?|docs/theory\.md)(?:``|`)?\s*(?=§)")
_TABLE_BORDER = re.compile(r"^\s*=+(\s+=+)+\s*$")
_SECTION = re.compile(r"(theory )?§(\d+(?:\.\d+)?)")


def _link_sections(text: str) -> str:
    def link(m):
        label = "theory-" + m.group(2).replace(".", "-")
        if label not in _THEORY_LABELS:
            return m.group(0)
        return f":ref:`{m.group(1) or ''}§{m.group(2)} <{label}>`"

    return _SECTION.sub(link, text)


def _prose(line: str, *, link: bool = True) -> str:
    if link:
        line = _CITED_FILE.sub("theory ", line)
    parts = _LITERAL.split(line)
    out = (p.replace("|", r"\|") for p in parts[::2])
    if link:
        out = (_link_sections(p) for p in out)
    parts[::2] = list(out)
    return "".join(parts)


def _escape_docstring_bars(app, what, name, obj, options, lines):
    in_doctest = in_block = False
    block_indent = 0
    has_grid_table = any(line.lstrip().startswith("+-") for line in lines)
    in_simple_table = False  # from a ===== border to the next blank line: cells keep their widths
    for k, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if in_block and stripped and indent <= block_indent:
            in_block = False
        if stripped.startswith(">>>"):
            in_doctest = True
        elif not stripped:
            in_doctest = False
        if _TABLE_BORDER.match(line):
            in_simple_table = True
        elif not stripped:
            in_simple_table = False
        grid_row = has_grid_table and stripped.startswith(("|", "+")) and stripped.rstrip().endswith(("|", "+"))
        if in_doctest or in_block or grid_row or stripped.startswith(".. math"):
            pass
        elif "|" in line or "§" in line:
            lines[k] = _prose(line, link=not in_simple_table)
        if line.rstrip().endswith("::") and not in_doctest:
            in_block, block_indent = True, indent


def setup(app):
    # Before numpydoc (priority 500) turns sections into reST.
    app.connect("autodoc-process-docstring", _escape_docstring_bars, priority=100)
