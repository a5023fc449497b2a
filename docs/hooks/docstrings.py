"""MkDocs hook: nsganet's docstrings are written for reading in the source, with Sphinx-style roles.

On the site, ``:class:`~nsganet.spaces.Architecture``` reads as
``Architecture``: the role (``:func:``, ``:class:``, ``:meth:``, ``:attr:``,
``:mod:``, ``:data:``, ...) and the ``~`` that asks for the short name are
dropped from the rendered HTML, as are reST's ``::`` before a code block and
its ``\\ `` joins.
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|mod|data|exc|obj|const|ref|term):(<code>)")
SHORT = re.compile(r"<code>~(?:[\w]+\.)*([\w]+)</code>")


def on_page_content(content: str, page: Any, config: Any, files: Any) -> str:
    content = ROLE.sub(r"\1", content)
    content = SHORT.sub(r"<code>\1</code>", content)
    content = content.replace("</code>\\ ", "</code>")
    return re.sub(r"::(</p>)", r":\1", content)
