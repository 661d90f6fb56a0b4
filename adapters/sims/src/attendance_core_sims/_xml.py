"""Safe XML reading for the adapter: defusedxml only, encodings, line numbers, FormatError.

Every document goes through :class:`defusedxml.ElementTree.DefusedXMLParser` with DTDs,
entity declarations and external references forbidden, so a "billion laughs" file or an
external entity fails at its declaration (before anything is expanded) with a
:class:`~attendance_core.errors.FormatError`. The parser target records the line of every
start tag, which is what rejected rows and error messages quote.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Mapping
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

import attrs
import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from attendance_core.errors import FormatError

__all__ = [
    "XmlDocument",
    "child_text",
    "iter_named",
    "local_name",
    "local_name_as_written",
    "parse_xml",
]

_DECLARATION = re.compile(rb"^(\xef\xbb\xbf)?\s*<\?xml[^>]*?\?>")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_UTF8_NAMES = frozenset({"utf-8", "utf8", "utf_8"})


@attrs.frozen(kw_only=True, eq=False)
class XmlDocument:
    """A parsed document: its root element, the line of each element and reading notes."""

    root: Element
    lines: Mapping[Element, int]
    notes: tuple[str, ...] = ()

    def line(self, element: Element) -> int:
        """The 1-based line of ``element``'s start tag (0 when unknown)."""
        return self.lines.get(element, 0)


class _LineTarget:
    """A parser target that builds the tree and notes the line of every start tag."""

    def __init__(self) -> None:
        self.builder = TreeBuilder()
        self.lines: dict[Element, int] = {}
        self.parser: Any = None

    def start(self, tag: str, attrib: dict[str, str]) -> Element:
        element = self.builder.start(tag, attrib)
        if self.parser is not None:
            self.lines[element] = int(self.parser.CurrentLineNumber)
        return element

    def end(self, tag: str) -> Element:
        return self.builder.end(tag)

    def data(self, data: str) -> None:
        self.builder.data(data)

    def close(self) -> Element:
        return self.builder.close()


def _declared_encoding(raw: bytes) -> str | None:
    match = _DECLARATION.match(raw[:512])
    if match is None:
        return None
    found = _ENCODING.search(match.group(0))
    return found.group(1).decode("ascii").lower() if found else None


def _prepare(raw: bytes, name: str) -> tuple[bytes, tuple[str, ...]]:
    """The bytes expat should read, re-encoded when a file without a usable declaration is
    not UTF-8 (read as cp1252, then Latin-1, with a note)."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw, ()
    declared = _declared_encoding(raw)
    if declared is not None and declared not in _UTF8_NAMES:
        try:
            codecs.lookup(declared)
        except LookupError:
            raise FormatError(
                f"unknown XML encoding {declared!r} in the declaration", file=name, row=1
            ) from None
        return raw, ()  # expat honours the declaration (ISO-8859-1, cp1252, ...)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return raw, ()
    try:
        text = raw.decode("cp1252")
        used = "cp1252"
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
        used = "Latin-1"
    said = "declares UTF-8 but is not" if declared else "is not UTF-8 and declares no encoding"
    # drop the encoding pseudo-attribute: the text is handed over re-encoded as UTF-8
    body = text.encode("utf-8")
    match = _DECLARATION.match(body)
    if match is not None:
        head = _ENCODING.sub(b'encoding="UTF-8"', match.group(0))
        body = head + body[match.end() :]
    return body, (f"the file {said}; read as {used}",)


def parse_xml(raw: bytes, name: str) -> XmlDocument:
    """Parse ``raw`` safely; any problem is a :class:`FormatError` naming ``name`` (and the
    line when the parser gives one)."""
    if not raw.strip():
        raise FormatError("empty file: no XML in it", file=name)
    data, notes = _prepare(raw, name)
    target = _LineTarget()
    parser = SafeET.DefusedXMLParser(
        target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    target.parser = parser.parser
    try:
        parser.feed(data)
        root = parser.close()
    except ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        reason = str(exc).split(":")[0]
        raise FormatError(f"not well-formed XML ({reason})", file=name, row=line) from None
    except DefusedXmlException as exc:
        line = int(target.parser.CurrentLineNumber)
        raise FormatError(
            f"XML refused for safety: {type(exc).__name__} (DTDs, entities and external "
            "references are not read)",
            file=name,
            row=line,
        ) from None
    except (ValueError, LookupError, UnicodeError, RecursionError) as exc:
        raise FormatError(f"not readable as XML ({type(exc).__name__})", file=name) from None
    if not isinstance(root, Element):
        raise FormatError("no XML root element", file=name)
    return XmlDocument(root=root, lines=target.lines, notes=notes)


def local_name(tag: Any) -> str:
    """The tag without its ``{namespace}``, lower-cased (``""`` for comments/PIs)."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def child_text(element: Element, names: frozenset[str]) -> tuple[str | None, str | None, Element]:
    """The first value among ``names`` (lower-case local names): an attribute of ``element``
    or the text of a direct child. Returns (value, name as written, element holding it)."""
    for key, value in element.attrib.items():
        if local_name(key) in names:
            return value.strip(), local_name_as_written(key), element
    for child in element:
        if local_name(child.tag) in names:
            text = (child.text or "").strip()
            return text, local_name_as_written(child.tag), child
    return None, None, element


def local_name_as_written(tag: str) -> str:
    """The tag without its ``{namespace}``, case kept."""
    return tag.rsplit("}", 1)[-1]


def iter_named(root: Element, names: frozenset[str]) -> Iterator[Element]:
    """Every element below (and including) ``root`` whose local name is in ``names``, in
    document order, without looking inside a match: a ``<Mark>`` child that holds the code of
    an ``<AttendanceMark>`` record is a field, not a second record."""
    stack = [root]
    while stack:
        element = stack.pop()
        if local_name(element.tag) in names:
            yield element
            continue
        stack.extend(reversed(list(element)))
