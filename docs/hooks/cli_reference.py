"""MkDocs hook: the command-line reference, generated from the ``nsganet`` argument parser at build time.

A page holding the marker line ``<!-- cli-reference -->`` (``docs/cli.md``)
gets, in its place, every command and sub-command of the parser that
``nsganet.cli.build_parser`` builds: usage, description, each option with its
help and default, and the epilog. Nothing is run: the parser is built in this
process, so the page says what the installed code accepts.
"""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path
from typing import Any

from markdown.extensions.toc import slugify

MARKER = "<!-- cli-reference -->"
#: Width of the usage lines, as on a wide terminal.
WIDTH = 100


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render(build_parser(config)))


def build_parser(config: Any) -> argparse.ArgumentParser:
    try:
        from nsganet.cli import build_parser as build
    except ImportError:  # a checkout whose package is not installed: read it from src/
        sys.path.insert(0, str(Path(config.config_file_path).parent / "src"))
        from nsganet.cli import build_parser as build
    return build()


def commands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    """Every parser under ``parser``, itself first, depth first: (full command, parser, its one-line help)."""
    found = [(parser.prog, parser, "")]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                for prog, p, help_text in commands(sub):
                    found.append((prog, p, help_text or helps.get(name, "")))
    return found


def render(parser: argparse.ArgumentParser) -> str:
    """The reference of ``parser`` and all its sub-commands, as Markdown headings over HTML blocks."""
    parts = []
    for prog, p, _ in commands(parser):
        parts.append(f"## {prog}\n")
        parts.extend(render_parser(p))
    return "\n".join(parts)


def formatter(parser: argparse.ArgumentParser) -> argparse.HelpFormatter:
    try:
        return parser.formatter_class(prog=parser.prog, width=WIDTH)
    except TypeError:  # a formatter class that takes no width
        return parser._get_formatter()


def render_parser(parser: argparse.ArgumentParser) -> list[str]:
    fmt = formatter(parser)
    fmt.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    parts = [f"<pre><code>{html.escape(fmt.format_help().strip())}</code></pre>\n"]
    raw = issubclass(parser.formatter_class, argparse.RawDescriptionHelpFormatter)
    if parser.description:
        parts.append(text_block(parser.description, raw))
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parts.append(subcommand_list(parser, action))
    for group in parser._action_groups:
        rows = [option_row(parser, a) for a in group._group_actions
                if a.help is not argparse.SUPPRESS and not isinstance(a, argparse._SubParsersAction)]
        if rows:
            title = html.escape(group.title or "options")
            if group.description:
                title += f": {html.escape(group.description)}"
            what = "argument" if all(not a.option_strings for a in group._group_actions) else "option"
            parts.append(f"<p><strong>{title}</strong></p>\n")
            parts.append(f"<table>\n<thead><tr><th>{what}</th><th>meaning</th><th>default</th></tr></thead>\n"
                         "<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n")
    if parser.epilog:
        parts.append(text_block(parser.epilog, raw))
    return parts


def subcommand_list(parser: argparse.ArgumentParser, action: argparse._SubParsersAction) -> str:
    helps = {a.dest: a.help or "" for a in action._choices_actions}
    items = []
    for name, sub in action.choices.items():
        link = f'<a href="#{slugify(sub.prog, "-")}"><code>{html.escape(sub.prog)}</code></a>'
        items.append(f"<li>{link}: {html.escape(helps.get(name, ''))}</li>")
    return "<p><strong>commands</strong></p>\n<ul>\n" + "\n".join(items) + "\n</ul>\n"


def option_row(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    fmt = formatter(parser)
    invocation = fmt._format_action_invocation(action)
    help_text = fmt._expand_help(action) if action.help else ""
    return (f"<tr><td><code>{html.escape(invocation)}</code></td><td>{html.escape(help_text)}</td>"
            f"<td>{default_text(action)}</td></tr>")


def default_text(action: argparse.Action) -> str:
    """The parser's default of an option, where it says something ('' for flags off and unset values)."""
    default = action.default
    if default is None or default is argparse.SUPPRESS or (action.nargs == 0 and isinstance(default, bool)):
        return ""
    if isinstance(default, (list, tuple)):
        default = ",".join(map(str, default))
    return f"<code>{html.escape(str(default))}</code>"


def text_block(text: str, raw: bool) -> str:
    """Paragraphs of a description or epilog; with a raw formatter, paragraphs with indented lines stay as laid
    out (examples, tables), the others are reflowed."""
    blocks = []
    for paragraph in text.strip("\n").split("\n\n"):
        lines = paragraph.splitlines()
        if raw and any(line[:1].isspace() for line in lines):
            blocks.append(f"<pre><code>{html.escape(paragraph)}</code></pre>")
        else:
            blocks.append(f"<p>{html.escape(' '.join(line.strip() for line in lines))}</p>")
    return "\n".join(blocks) + "\n"
