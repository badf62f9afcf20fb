"""README.md, CONTRIBUTING.md and every docs page render as written: parsed as CommonMark
(what GitHub and MyST read), no fence runs past where its author closed it, every image exists,
every relative link reaches a file and every ``#anchor`` a heading or label, and no math shows a
stray ``$``. Each defect is planted in a copy of the pages to show the lint catches it."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.docs.markdown import ROOT, fences, pages, parse, problems, slug

README = ROOT / "README.md"

#: The first lines a new user meets: the two set-up commands, exactly.
SETUP = ["pip install -e . && ctmc-lab verify", "pip install -e '.[test]' && pytest"]


def test_every_page_renders_as_written():
    assert problems() == []


def test_the_pages_include_the_readme_and_every_docs_page():
    names = {str(p.relative_to(ROOT)) for p in pages()}
    assert {"README.md", "CONTRIBUTING.md", "docs/index.md", "docs/theory.md", "docs/user_guide/denoiser.md"} <= names
    assert not any(n.startswith(("docs/_build", "docs/api/")) for n in names)


def test_readme_fits_on_a_page_and_opens_with_the_two_setup_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    first = fences(parse(text))[0]
    assert first.info == "bash"
    assert [line.split("#")[0].strip() for line in first.content.splitlines()] == SETUP


def test_readme_says_where_the_docs_pages_are():
    targets = {href for kind, href in _links(README) if kind == "link"}
    for page in ("gallery", "audit", "user_guide/studies", "notebooks", "performance", "verify"):
        assert f"docs/{page}.md" in targets, page


def _links(path):
    from tests.docs.markdown import links

    return links(parse(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Audit: LLaDA's default likelihood evaluator", "audit-lladas-default-likelihood-evaluator"),
        ("`ctmc-lab verify`: what is verified, and how", "ctmc-lab-verify-what-is-verified-and-how"),
        ("Lemma 3.3: DSE equals scaled DCE", "lemma-33-dse-equals-scaled-dce"),
        ("§2.4 Theorem 3.1 (I-MDSE)", "24-theorem-31-i-mdse"),
        ("The infinite variance of λ-DCE", "the-infinite-variance-of-λ-dce"),
    ],
)
def test_anchors_are_githubs_slugs(heading, anchor):
    token = parse(f"## {heading}\n")[1]
    text = "".join(c.content for c in token.children)
    assert slug(text) == anchor


# ---------------------------------------------------------------- planted defects


@pytest.fixture
def copy(tmp_path):
    """The pages (and docs/conf.py, which sets MyST's heading anchors) in a scratch tree, figures linked."""
    for page in pages():
        dest = tmp_path / page.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(page, dest)
    shutil.copyfile(ROOT / "docs" / "conf.py", tmp_path / "docs" / "conf.py")
    (tmp_path / "docs" / "figures").symlink_to(ROOT / "docs" / "figures")
    assert problems(tmp_path) == []  # the copy is clean: what follows is the planted defect's doing
    return tmp_path


def _edit(path, old, new, count=1):
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def test_a_closing_fence_that_carries_text_is_caught(copy):
    readme = copy / "README.md"
    text = readme.read_text(encoding="utf-8")
    # The closing fence of the README's Python example, followed by prose on the same line.
    closing = re.search(r"```python\n.*?\n(```)\n", text, re.S)
    readme.write_text(text[: closing.start(1)] + "``` Right: the rest of the paragraph" + text[closing.end(1) :])
    found = problems(copy)
    assert any("README.md: line" in p and "does not close it" in p for p in found), found


def test_a_fence_left_open_is_caught(copy):
    with open(copy / "docs" / "notebooks.md", "a", encoding="utf-8") as page:
        page.write("\n```python\nx = 1\n")
    assert any(p.startswith("docs/notebooks.md:") and "never closed" in p for p in problems(copy))


def test_a_missing_image_is_caught(copy):
    _edit(copy / "docs" / "gallery.md", "figures/fig1a_dna128_nll.png", "figures/fig1a.png")
    assert problems(copy) == ["docs/gallery.md: image 'figures/fig1a.png': no such file"]


def test_a_dead_relative_link_is_caught(copy):
    _edit(copy / "README.md", "(docs/audit.md)", "(docs/audits.md)")
    assert problems(copy) == ["README.md: link 'docs/audits.md': no such file"]


def test_a_dead_anchor_is_caught_and_a_live_one_is_not(copy):
    _edit(copy / "README.md", "(docs/verify.md)", "(docs/verify.md#options)")  # a heading of verify.md
    assert problems(copy) == []
    _edit(copy / "README.md", "(docs/verify.md#options)", "(docs/verify.md#the-options)")
    assert problems(copy) == [
        "README.md: link 'docs/verify.md#the-options': no heading or label gives the anchor #the-options"
    ]


def test_an_anchor_beyond_mysts_heading_levels_is_dead_in_the_docs(copy):
    page = copy / "docs" / "verify.md"
    _edit(page, "## Options\n", "## Options\n\n#### Deep\n\n[up](#options) [down](#deep)\n")
    assert problems(copy) == ["docs/verify.md: link '#deep': no heading or label gives the anchor #deep"]


def test_display_math_inside_a_paragraph_is_caught(copy):
    theory = copy / "docs" / "theory.md"
    text = theory.read_text(encoding="utf-8")
    # theory §1.4's display equation, glued back onto its list item's paragraph.
    glued = re.sub(r"Then\n\n(  \$\$p_\{\\lambda)", r"Then\n\1", text, count=1)
    assert glued != text
    theory.write_text(glued, encoding="utf-8")
    assert problems(copy) == ["docs/theory.md: a `$` outside math in '$'"] * 2
