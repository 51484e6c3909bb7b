"""Griffe extension for the API reference: the package's docstrings use reST roles
(``:func:`~anomsearch.x.f```), which Markdown would print verbatim; write them as code spans.

Loaded by mkdocstrings (``extensions`` in mkdocs.yml); not part of the package.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE_SHORT_METHOD = re.compile(r":(?:meth|attr):`~[\w.]*?(\w+\.\w+)`")
_ROLE_SHORT = re.compile(r":[\w:]+:`~[\w.]*?(\w+)`")
_ROLE = re.compile(r":[\w:]+:`([^`]+)`")
_MATH = re.compile(r"^(\s*)\.\. math::[ \t]*(\S.*)$", re.MULTILINE)
_MATH_BLOCK = re.compile(r"^[ \t]*\.\. math::[ \t]*\n", re.MULTILINE)  # block follows: code
_LITERAL = re.compile(r"(\S)::$", re.MULTILINE)


_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Attributes|Keyword Args):\s*$")
_ENTRY = re.compile(r"^\*{0,2}[\w, ]+(\s*\([^)]*\))?:(\s|$)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def normalize_args(text: str) -> str:
    """Google ``Args:`` entries as griffe parses them: a list of names wrapped over several lines
    (``a, b,`` / ``c: text``) is joined onto one line, and a line that is no ``name: text`` entry
    becomes part of the previous entry's description."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        header = _SECTION.match(line)
        if not header:
            continue
        entry_indent = None
        while i < len(lines):
            line = lines[i]
            if line.strip() and _indent(line) <= len(header.group(1)):
                break
            i += 1
            if not line.strip():
                out.append(line)
                continue
            if entry_indent is None:
                entry_indent = _indent(line)
            if _indent(line) == entry_indent:
                while line.rstrip().endswith(",") and i < len(lines) and lines[i].strip():
                    line = line.rstrip() + " " + lines[i].strip()
                    i += 1
                if out and not _ENTRY.match(line.strip()):
                    line = " " * (entry_indent + 4) + line.strip()
            out.append(line)
    return "\n".join(out)


def rst_to_markdown(text: str) -> str:
    """reST roles, ``.. math::`` lines and ``::`` literal-block markers to Markdown."""
    text = _ROLE_SHORT_METHOD.sub(r"`\1`", text)
    text = _ROLE_SHORT.sub(r"`\1`", text)
    text = _ROLE.sub(r"`\1`", text)
    text = _MATH.sub(r"\1`\2`", text)
    text = _MATH_BLOCK.sub("", text)
    return _LITERAL.sub(r"\1:", text)


class RstRoles(griffe.Extension):
    """Rewrite every docstring once the object tree is loaded."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = normalize_args(rst_to_markdown(obj.docstring.value))
