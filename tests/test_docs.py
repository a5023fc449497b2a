"""The documentation: the site builds without a single warning, its command-line reference covers every
command and option of the parser, and the README's relative links lead to files that exist."""

from __future__ import annotations

import argparse
import html
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nsganet.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
HAS_MKDOCS = all(importlib.util.find_spec(name) is not None for name in ("mkdocs", "mkdocstrings", "markdown"))
needs_mkdocs = pytest.mark.skipif(not HAS_MKDOCS, reason="mkdocs and mkdocstrings-python are not installed "
                                  "(pip install -c constraints.txt -e '.[docs]')")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as `make docs` builds it (strict: any warning fails), into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    assert not warnings, "\n".join(warnings)
    return out


def parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and every sub-command's parser below it."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.extend(parsers(sub))
    return found


@needs_mkdocs
def test_site_builds_without_warnings(site: Path) -> None:
    for page in ("index.html", "getting-started/index.html", "search/index.html", "cli/index.html",
                 "api/index.html", "benchmarks/index.html"):
        assert (site / page).is_file(), page
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("nsganet.api.search", "SearchSpace", "SupernetSpace", "Strategy", "EvaluatorRequest",
                 "Executor", "Predictor", "Registry", "Objective"):
        assert name in api, name


@needs_mkdocs
def test_cli_reference_covers_every_command_and_option(site: Path) -> None:
    from markdown.extensions.toc import slugify

    page = (site / "cli" / "index.html").read_text(encoding="utf-8")
    assert "<!-- cli-reference -->" not in page
    # the page's sections, by the id of their heading
    sections = dict(re.findall(r'<h2 id="([^"]+)">(.*?)(?=<h2 id=|\Z)', page, flags=re.S))
    every = parsers(build_parser())
    assert len(every) > 10
    for parser in every:
        anchor = slugify(parser.prog, "-")
        assert anchor in sections, f"{parser.prog} is missing from the command-line reference"
        for action in parser._actions:
            if action.help is argparse.SUPPRESS:
                continue
            for option in action.option_strings:
                assert html.escape(option) in sections[anchor], f"{parser.prog} {option}"


def test_readme_links_lead_to_files() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", readme, flags=re.S)  # links inside code blocks are not links
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [link for link in links if not re.match(r"[a-z][a-z0-9+.-]*:", link) and not link.startswith("#")]
    assert relative, "the README links no file"
    for link in relative:
        path, _, anchor = link.partition("#")
        target = ROOT / path
        assert target.exists(), f"README.md links {link}, which does not exist"
        if anchor and target.suffix == ".md" and HAS_MKDOCS:
            from markdown.extensions.toc import slugify

            body = re.sub(r"```.*?```", "", target.read_text(encoding="utf-8"), flags=re.S)
            headings = {slugify(h.strip().replace("`", ""), "-") for h in re.findall(r"^#+ (.+)$", body, flags=re.M)}
            assert anchor in headings, f"README.md links {link}: {path} has no heading {anchor!r}"
