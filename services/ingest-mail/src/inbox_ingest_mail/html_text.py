"""HTML mail to text with inscriptis (layout-aware) on an lxml tree. Pure and total.

- Line breaks follow the layout: blocks, `<br>`, list items, table rows.
- Links are kept: `주문 상세 (https://shop.example/o/1)`; a bare URL stays itself.
- Images show their alt text in brackets: `[흠집 사진]`; scripts and styles never show.
- `<blockquote>` lines get `> ` per level, so the quote heuristics see plain-text quoting.
- `without_quotes` drops the containers mail clients put quoted history in (Gmail
  `div.gmail_quote`, Outlook `#divRplyFwdMsg` and what follows, Thunderbird
  `.moz-cite-prefix`, Yahoo `.yahoo_quoted`, any `<blockquote>`): the visible part of an
  HTML-only reply.
"""

from __future__ import annotations

import re
from typing import Final

from inscriptis import Inscriptis
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig
from lxml import etree
from lxml.html import HtmlElement, document_fromstring

MAX_HTML_CHARS: Final = 2_000_000  # render at most this much (the bus keeps 100k anyway)
_OPEN: Final = "\ue000"  # private-use sentinels marking blockquote bounds in the rendering
_CLOSE: Final = "\ue001"
_CONFIG: Final = ParserConfig(css=CSS_PROFILES["strict"], display_links=True, display_images=True)
_LINK: Final = re.compile(r"\[([^\[\]\n]*)\]\(((?:https?|mailto|tel|ftp):[^()\s]*)\)")
# Containers of quoted history, by client.
_QUOTE_XPATH: Final = (
    "//div[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')]"
    " | //div[contains(@class, 'yahoo_quoted')]"
    " | //div[contains(@class, 'moz-cite-prefix')]"
    " | //blockquote"
)
_OUTLOOK_REPLY_XPATH: Final = "//*[@id='divRplyFwdMsg' or @id='appendonsend']"


def _tree(html: str) -> HtmlElement | None:
    html = re.sub(r"^\s*<\?xml[^>]*\?>", "", html[:MAX_HTML_CHARS])
    if not html.strip():
        return None
    try:
        return document_fromstring(html)
    except (etree.ParserError, ValueError):
        return None


def _mark_blockquotes(tree: HtmlElement) -> None:
    for quote in tree.iter("blockquote"):
        opening, closing = etree.Element("div"), etree.Element("div")
        opening.text, closing.text = _OPEN, _CLOSE
        opening.tail, quote.text = quote.text, None  # the quote's leading text follows it
        quote.insert(0, opening)
        quote.append(closing)


def _drop_outlook_tail(tree: HtmlElement) -> None:
    """Outlook: the reply header block and everything after it in document order."""
    for start in tree.xpath(_OUTLOOK_REPLY_XPATH):
        node = start
        while node is not None and node.getparent() is not None:
            for sibling in list(node.itersiblings()):
                node.getparent().remove(sibling)
            node = node.getparent()
        if start.getparent() is not None:
            start.getparent().remove(start)
        return  # the first block is where the history starts


def _drop_quotes(tree: HtmlElement) -> None:
    _drop_outlook_tail(tree)
    for node in tree.xpath(_QUOTE_XPATH):
        parent = node.getparent()
        if parent is not None:
            tail = node.tail
            parent.remove(node)
            if tail and tail.strip():  # keep text that followed the quote
                span = etree.SubElement(parent, "span")
                span.text = tail


def _link(match: re.Match[str]) -> str:
    text, url = match.group(1).strip(), match.group(2)
    bare = url.removeprefix("mailto:").removeprefix("tel:")
    if not text or text in (url, bare):
        return bare if url.startswith(("mailto:", "tel:")) else url
    return f"{text} ({bare if url.startswith('mailto:') else url})"


def _quote_prefixes(text: str) -> str:
    depth, lines = 0, []
    for line in text.split("\n"):
        opened, closed = line.count(_OPEN), line.count(_CLOSE)
        body = line.replace(_OPEN, "").replace(_CLOSE, "")
        depth += opened
        if body.strip():
            lines.append("> " * depth + body.strip() if depth else body.rstrip())
        elif not (opened or closed):
            lines.append("")
        depth = max(0, depth - closed)
    return "\n".join(lines)


def _render(tree: HtmlElement) -> str:
    for bad in tree.xpath("//script | //style | //head | //template"):
        if bad.getparent() is not None:
            bad.getparent().remove(bad)
    text = Inscriptis(tree, _CONFIG).get_text()
    text = _LINK.sub(_link, text)
    text = _quote_prefixes(text.replace("\xa0", " "))
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n").strip()


def _fallback(html: str) -> str:
    text = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", html[:MAX_HTML_CHARS])
    text = re.sub(r"(?i)<br\s*/?>|</(p|div|li|tr)>", "\n", text)
    text = re.sub(r"<[^>]*>", " ", text)
    return "\n".join(" ".join(line.split()) for line in text.splitlines()).strip()


def html_to_text(html: str, *, without_quotes: bool = False) -> str:
    """The text an agent reads; `without_quotes` drops quoted history containers first."""
    try:
        tree = _tree(html)
        if tree is None:
            return _fallback(html)
        if without_quotes:
            _drop_quotes(tree)
        else:
            _mark_blockquotes(tree)
        return _render(tree)
    except Exception:  # lxml/inscriptis on hostile markup: keep the mail, lose the layout
        return _fallback(html)
