"""The documentation keeps up with the code: every section the code cites exists on the
theory page, and every JSON field the commands write is documented on the schemas page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ctmc_lab.cli import main

ROOT = Path(__file__).resolve().parents[1]
THEORY = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
SCHEMAS = (ROOT / "docs" / "json_schemas.md").read_text(encoding="utf-8")
LABELS = set(re.findall(r"^\((theory-[0-9-]+)\)=$", THEORY, re.M))
CITING = re.compile(r"math_spec|docs/theory\.md")


def test_theory_page_has_every_section_and_its_label():
    for section in range(11):
        assert f"theory-{section}" in LABELS
        assert re.search(rf"^## §{section} ", THEORY, re.M), f"§{section} heading missing"
    for label in LABELS:
        number = label.removeprefix("theory-").replace("-", ".")
        assert re.search(rf"^#+ §{re.escape(number)} ", THEORY, re.M), f"{label} labels no §{number} heading"


def _citations():
    for folder in ("ctmc_lab", "proofs_check", "notebooks", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if CITING.search(line):
                    for number in re.findall(r"§(\d+(?:\.\d+)?)", line):
                        yield f"{path.relative_to(ROOT)}:{k}", number


def test_every_cited_section_exists():
    cited = list(_citations())
    assert len(cited) > 50  # the code cites the theory page throughout
    missing = [(where, n) for where, n in cited if "theory-" + n.replace(".", "-") not in LABELS]
    assert not missing, f"cited sections with no heading on docs/theory.md: {missing}"


def _keys(obj, out):
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.add(key)
            if key != "timings":  # keyed by check id: data, not field names
                _keys(value, out)
    elif isinstance(obj, list):
        for value in obj:
            _keys(value, out)
    return out


# Keys that are data, not field names: estimator names are listed in the text, check ids and
# timings are per check.
DATA_KEYS = re.compile(r"^(thm|lemma|cor|eq|kernels|lambda|mp|sym)[\w.]*\.|^[A-Z]\w*$")


@pytest.mark.parametrize(
    "argv",
    [
        ["nll", "--sequence", "AAAACGTC", "TTTTTTTT"],
        ["nll", "--dist", "markov4", "--pairs", "1", "--response-length", "4", "--mc-samples", "64"],
        ["curve", "--sequence", "AAAACGTC", "--times", "0.1,0.5"],
        ["estimate", "--estimator", "time_free", "--samples", "64", "--seed", "0", "--sequence", "AAAACGTC"],
        ["verify", "--only", "Thm 4.1", "--precision", "float64", "--quick"],
    ],
    ids=["nll", "nll-markov", "curve", "estimate", "verify"],
)
def test_every_json_field_is_documented(tmp_path, argv, capsys):
    out = tmp_path / "out.json"
    assert main([*argv, "--json", str(out)]) == 0
    capsys.readouterr()
    keys = _keys(json.loads(out.read_text()), set())
    undocumented = sorted(
        k for k in keys if not DATA_KEYS.search(k) and f'"{k}"' not in SCHEMAS and f"`{k}`" not in SCHEMAS
    )
    assert not undocumented, f"fields written by `ctmc-lab {argv[0]}` missing from docs/json_schemas.md: {undocumented}"


def test_bench_record_fields_are_documented():
    record = json.loads((ROOT / "benchmarks" / "results.json").read_text(encoding="utf-8"))
    fields = set(record) | set(record["machine"]) | {k for row in record["workloads"] for k in row}
    undocumented = sorted(k for k in fields if f'"{k}"' not in SCHEMAS)
    assert not undocumented, f"fields of benchmarks/results.json missing from docs/json_schemas.md: {undocumented}"


def test_every_figure_is_in_the_gallery_with_a_caption():
    gallery = (ROOT / "docs" / "gallery.md").read_text(encoding="utf-8")
    for png in sorted((ROOT / "docs" / "figures").glob("*.png")):
        ref = f"(figures/{png.name})"
        assert ref in gallery, f"docs/figures/{png.name} has no entry in docs/gallery.md"
        after = gallery[gallery.index(ref) :]
        assert "**What you see.**" in after.split("\n## ")[0], f"{png.name} has no 'What you see' caption"
