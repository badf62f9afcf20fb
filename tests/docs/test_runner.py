"""The pieces of the docs runner: how a page becomes steps, and how shown output is compared."""

from __future__ import annotations

import pytest

from tests.docs.runner import commands, same_output, steps, transcript_problems


@pytest.mark.parametrize(
    ("shown", "actual"),
    [
        ("array([0.91629073, 1.60943791])", "array([0.91629073, 1.60943791])"),
        ("1.0123", "1.01233864147"),  # printed rounded
        ("bias=-1.1e-16", "bias=2.2e-16"),  # a rounding-level residual, any platform's
        ("max |dev| = 5.33e-15", "max |dev|   =   3.1e-15"),
        ("x0=AAC, s=1e-3", "x0=AAC, s=0.001"),
        ("inf", "inf"),
    ],
)
def test_output_that_reads_the_same(shown, actual):
    assert same_output(shown, actual)


@pytest.mark.parametrize(
    ("shown", "actual"),
    [
        ("1.0123", "1.0125"),  # beyond the last printed digit
        ("variance 0.1104", "variance 0.1103"),
        ("bias=0.0", "bias=0.096"),
        ("mean 1.0", "median 1.0"),  # the words differ
        ("array([1., 2.])", "array([1., 2., 3.])"),
        ("inf", "1e308"),
        ("46 passed", "47 passed"),
    ],
)
def test_output_that_does_not(shown, actual):
    assert not same_output(shown, actual)


def test_a_transcript_matches_its_lines_in_order_with_gaps_and_prefixes():
    output = "header\nrow 1 1.5\nrow 2 2.5\nsummary: 2 rows in 3.7 s\n"
    assert transcript_problems("header\n...\nrow 2 2.5\nsummary: 2 rows in ...\n", output) == []
    assert transcript_problems("row 2 2.5\nrow 1 1.5\n", output) == ["row 1 1.5"]  # order matters
    assert transcript_problems("summary: 3 rows in ...\n", output) == ["summary: 3 rows in ..."]


def test_commands_split_at_and_and_drop_comments():
    assert commands("pip install -e . && ctmc-lab verify   # the main job") == ["pip install -e .", "ctmc-lab verify"]
    assert commands('ctmc-lab verify --only "Thm 4.1"') == ["ctmc-lab verify --only 'Thm 4.1'"]
    assert commands("echo '{\"A\": 1}' > my.json") == ["echo '{\"A\": 1}' > my.json"]


def test_a_text_fence_after_a_code_fence_is_its_output(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "```bash\nctmc-lab nll\nctmc-lab curve\n```\n\n```text\nout\n```\n\nprose\n\n```text\nnot output\n```\n"
    )
    first, second = steps(page)
    assert (first.transcript, second.transcript) == (None, "out\n")


def test_a_python_fence_headed_file_is_saved_not_run(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("```python\n# file: pkg/m.py\nX = 1\n```\n\n```python\nprint(2)\n```\n")
    saved, code = steps(page)
    assert (saved.kind, saved.path, code.kind) == ("file", "pkg/m.py", "python")
