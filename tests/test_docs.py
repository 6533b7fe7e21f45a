"""The docs cannot drift from the code: every table of keys, figures, causes, semantics,
patterns, approaches, presets, charts and shipped scenarios in ``docs/`` is what
``python -m sim.report.docs`` generates from the registries and the schema; every scenario key
has a meaning; the README keeps its quick start and its length."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim.registry.causes import DUP_CAUSES, LOSS_CAUSES
from sim.registry.figures import ARCHITECTURE_FIGURES, DELIVERY_FIGURES
from sim.registry.presets import PRESETS
from sim.registry.semantics import SEMANTICS
from sim.report import docs
from sim.scenario.schema import Scenario

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"


def test_every_generated_table_is_what_the_code_generates() -> None:
    stale = [str(p.relative_to(ROOT)) for p in docs.stale(DOCS)]
    assert stale == [], f"run: python -m sim.report.docs --write ({', '.join(stale)})"


def test_every_generator_has_its_region_in_the_docs() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in docs.pages(DOCS))
    used = set(re.findall(r"<!-- generated: ([a-z-]+) -->", text))
    assert used == set(docs.GENERATORS)


def test_a_stale_table_is_found_and_rewritten(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Causes\n\n<!-- generated: loss-causes -->\n| old |\n<!-- end generated -->\nafter\n",
        encoding="utf-8",
    )
    assert docs.stale(tmp_path) == [page]
    assert docs.main(["--docs", str(tmp_path), "--check"]) == 1
    assert docs.main(["--docs", str(tmp_path), "--write"]) == 0
    assert docs.stale(tmp_path) == []
    text = page.read_text(encoding="utf-8")
    assert "| old |" not in text and text.endswith("<!-- end generated -->\nafter\n")
    for cause in LOSS_CAUSES:
        assert f"`{cause.column}`" in text


def test_an_unknown_region_is_refused() -> None:
    with pytest.raises(KeyError, match="no generated region named 'nothing'"):
        docs.regenerate("<!-- generated: nothing -->\n<!-- end generated -->\n")


def test_the_tables_name_every_entry_of_every_registry() -> None:
    page = {p.name: p.read_text(encoding="utf-8") for p in docs.pages(DOCS)}
    for semantics in SEMANTICS:
        assert f"| `{semantics.name}` |" in page["model.md"]
    for cause in [*LOSS_CAUSES, *DUP_CAUSES]:
        assert f"| `{cause.name}` | `{cause.column}` |" in page["causes.md"]
    for figure in DELIVERY_FIGURES:
        assert f"| `{figure.name}` |" in page["figures.md"]
    for figure in ARCHITECTURE_FIGURES:
        assert f"| `{figure.name}` |" in page["figures.md"]
    for preset in PRESETS:
        assert f"| `{preset.name}` |" in page["presets.md"]


def test_every_scenario_key_has_a_meaning_and_a_row() -> None:
    page = (DOCS / "scenario-format.md").read_text(encoding="utf-8")
    for section, model, _, _ in docs._sections(Scenario, "", "top level"):
        for name, info in model.model_fields.items():
            if name == "dist" or docs._is_section(info):
                continue
            assert docs.meaning(model, name), f"{section} {name}"
            assert f"| `{name}` |" in page, f"{section} {name}"


def test_a_key_without_a_meaning_stops_the_docs(monkeypatch: pytest.MonkeyPatch) -> None:
    known = docs.meaning
    monkeypatch.setattr(
        docs, "meaning", lambda model, name: None if name == "seed" else known(model, name)
    )
    with pytest.raises(docs.Undocumented, match="scenario key seed has no description"):
        docs.scenario_keys()


def test_mkdocs_lists_every_page() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = re.findall(r":\s*([\w-]+\.md)\s*$", config, flags=re.MULTILINE)
    assert sorted(listed) == sorted(p.name for p in docs.pages(DOCS))


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme) <= 12_000, len(readme)
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = quick.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = block.strip().splitlines()
    assert len(commands) == 2, commands
    run, test = commands
    assert "pip install -q ." in run and run.endswith("dsim run")
    assert "pip install -q '.[test]'" in test and test.endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -q '.[test]'" in ci and "/bin/python -m pytest\n" in ci
    assert "mkdocs build --strict" in ci
    for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", readme):
        assert (ROOT / image).is_file(), image
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link
