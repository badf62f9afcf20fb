"""The docs build's dead-link check (``docs/_ext/html_anchors.py``, run by ``sphinx-build``
after every HTML build, a warning per dead link, which ``-W`` makes fatal) finds what it must:
a link to a missing page, and a link to an anchor its page does not define, such as the
"[docs]" links viewcode wrote from a source page to a function documented under another
module's name."""

from __future__ import annotations

import importlib.util

from tests.docs.markdown import ROOT

_spec = importlib.util.spec_from_file_location("html_anchors", ROOT / "docs" / "_ext" / "html_anchors.py")
html_anchors = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(html_anchors)

API = """<html><body>
<dl class="py function"><dt class="sig sig-object py" id="pkg.studies.fig.fig">fig</dt></dl>
<a class="reference internal" href="#pkg.studies.fig.fig">fig</a>
<a href="../../_modules/pkg/studies/fig.html#fig">[source]</a>
<a href="https://example.org/#top">outside</a><a href="mailto:a@b.c">mail</a>
<a href="../../index.html">home</a><a name="legacy"></a>
</body></html>"""

SOURCE = """<html><body><div id="fig"></div>
<a class="viewcode-back" href="../../../api/generated/pkg.studies.fig.html#{anchor}">[docs]</a>
</body></html>"""


def _build(tmp_path, anchor):
    (tmp_path / "api" / "generated").mkdir(parents=True)
    (tmp_path / "_modules" / "pkg" / "studies").mkdir(parents=True)
    (tmp_path / "index.html").write_text('<a href="api/generated/pkg.studies.fig.html#legacy">x</a>')
    (tmp_path / "api" / "generated" / "pkg.studies.fig.html").write_text(API)
    (tmp_path / "_modules" / "pkg" / "studies" / "fig.html").write_text(SOURCE.format(anchor=anchor))
    return tmp_path


def test_a_build_whose_links_all_resolve_passes(tmp_path):
    assert html_anchors.dead_links(_build(tmp_path, "pkg.studies.fig.fig")) == []


def test_a_docs_link_to_an_anchor_of_another_module_is_dead(tmp_path):
    # What viewcode wrote before docs/conf.py set viewcode_follow_imported_members = False:
    # the study module's source page linking to its function under the plotting module's name.
    dead = html_anchors.dead_links(_build(tmp_path, "pkg.plotting.figures.fig"))
    assert dead == [
        "_modules/pkg/studies/fig.html: ../../../api/generated/pkg.studies.fig.html#pkg.plotting.figures.fig "
        "(no anchor #pkg.plotting.figures.fig on api/generated/pkg.studies.fig.html)"
    ]


def test_a_link_to_a_missing_page_is_dead(tmp_path):
    root = _build(tmp_path, "pkg.studies.fig.fig")
    (root / "index.html").write_text('<a href="api/generated/gone.html">x</a><a href="#nowhere">y</a>')
    assert html_anchors.dead_links(root) == [
        "index.html: #nowhere (no anchor #nowhere on index.html)",
        "index.html: api/generated/gone.html (no such file)",
    ]
