"""MkDocs hook: images of the repository outside ``docs/`` (benchmark plots) on the site.

Pages link them as ``../benchmarks/results/....png``, a path that works where
the Markdown files are read in the repository. The hook adds each linked image
to the site under ``repo/`` and points the page's link there, so the same link
works on both.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

IMAGE = re.compile(r"(!\[[^\]]*\]\()(\.\./[^)\s]+\.(?:png|svg|jpg|jpeg|gif))(\))")
PREFIX = "repo"


def _targets(markdown: str, page_dir: str) -> list[tuple[str, str]]:
    """(link as written, path relative to the repository root) of the repository images ``markdown`` shows."""
    found = []
    for match in IMAGE.finditer(markdown):
        link = match.group(2)
        path = posixpath.normpath(posixpath.join("docs", page_dir, link))
        if not path.startswith(("docs/", "../")):
            found.append((link, path))
    return found


def on_files(files: Files, config: Any) -> Files:
    docs = Path(config.docs_dir)
    root = Path(config.config_file_path).parent
    added = set()
    for page in docs.rglob("*.md"):
        page_dir = page.parent.relative_to(docs).as_posix()
        for _, path in _targets(page.read_text(encoding="utf-8"), "" if page_dir == "." else page_dir):
            if path not in added and (root / path).is_file():
                files.append(File.generated(config, f"{PREFIX}/{path}", abs_src_path=str(root / path)))
                added.add(path)
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    page_dir = posixpath.dirname(page.file.src_uri)

    def point(match: re.Match) -> str:
        targets = _targets(match.group(0), page_dir)
        if not targets:
            return match.group(0)
        site_path = posixpath.relpath(f"{PREFIX}/{targets[0][1]}", page_dir or ".")
        return f"{match.group(1)}{site_path}{match.group(3)}"

    return IMAGE.sub(point, markdown)
