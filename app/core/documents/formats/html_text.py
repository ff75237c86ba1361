"""HTML as text blocks under their heading path: web pages, saved manuals, EPUB chapters and
HTML mail bodies all read through this one parser (the standard library's html.parser)."""

from __future__ import annotations

import html.parser

from app.core.documents.extract import clean, heading_path


class HTMLText(html.parser.HTMLParser):
    """Block-level text under its heading path (h1-h6, and the term of a definition list:
    a manual's "work_mem (integer)" is the title of the paragraphs that explain it). A table
    row is one block ("cell | cell"). Scripts, styles, navigation bars and tables of contents
    are dropped: they repeat on every page and match every question."""

    _BLOCK_TAGS = "p div li td th tr br section article blockquote pre dd dt table ul ol header "
    _BLOCK_TAGS += "footer main aside figure figcaption h1 h2 h3 h4 h5 h6 title dl caption"
    BLOCKS = frozenset(_BLOCK_TAGS.split())
    HIDDEN = frozenset({"script", "style", "noscript", "template", "svg", "head", "nav"})
    # Containers that are navigation by their class or role (DocBook, Sphinx, most sites).
    _NAV_CLASSES = frozenset(
        {
            "navheader",
            "navfooter",
            "toc",
            "navbar",
            "breadcrumb",
            "breadcrumbs",
            "sphinxsidebar",
            "related",
            "skip-link",
        }
    )
    _HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
    _TERM_LEVEL = 10  # a <dt> sits under every h1-h6; nested lists go deeper
    _CAPTION_LEVEL = 8  # a table's or figure's title: under the headings, above list terms
    # A heading inside one of these belongs to it: when it closes, the text after it is under
    # the heading from before ("Tip" boxes, DocBook's div.sect2, HTML5 sections).
    _CONTAINERS = frozenset({"div", "section", "article", "aside"})
    _ASIDES = frozenset({"note", "tip", "warning", "caution", "important", "admonition", "sidebar"})
    _SCOPED_CLASSES = _ASIDES | {"example", "table", "figure"}
    _SCOPED_PREFIXES = ("sect", "refsect", "section", "chapter", "appendix")

    def __init__(self, keep_navigation: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.keep_navigation = keep_navigation
        self.blocks: list[tuple[str, str | None]] = []
        self._buf: list[str] = []
        self._hidden = 0
        self._skip: list[str] = []  # open tags of a navigation container being skipped
        self._heading_level: int | None = None  # inside <hN> or <dt>: its level
        self._path: list[tuple[int, str]] = []  # (level, title), outermost first
        self._dl_depth = 0
        self._title: str | None = None
        self._in_title = False
        self._row: list[str] | None = None  # cells of the table row being read
        self._pre = 0  # inside <pre>: line breaks are the text's own
        # Open containers: (tag, the heading path to restore when it closes or None, whether it
        # is an aside: a "Note" box's title is a child of the section it sits in, whatever its
        # <hN> says).
        self._containers: list[tuple[str, list[tuple[int, str]] | None, bool]] = []

    def _current(self) -> str | None:
        return heading_path(t for _, t in self._path) or self._title

    def _flush(self) -> None:
        raw = "".join(self._buf)
        # Outside <pre>, a line break in the markup is a space (the source's line wrapping).
        text = clean(raw) if self._pre else " ".join(raw.split())
        self._buf.clear()
        if not text:
            return
        if self._heading_level is not None:
            level = self._heading_level
            if self._containers and self._containers[-1][2] and self._path:
                level = max(level, self._path[-1][0] + 1)
            self._path = [(lv, t) for lv, t in self._path if lv < level]
            self._path.append((level, text.strip(" \t¶§#🔗")))
        elif self._in_title:
            self._title = text
        elif self._row is not None:
            self._row.append(text)
        else:
            self.blocks.append((text, self._current()))

    def _container(self, tag: str, attrs: list[tuple[str, str | None]]) -> tuple[bool, bool]:
        """(scoped, aside) for an opening container tag."""
        if tag != "div":
            return True, tag == "aside"
        classes = (dict(attrs).get("class") or "").split()
        aside = any(c in self._ASIDES for c in classes)
        scoped = aside or any(
            c in self._SCOPED_CLASSES or c.startswith(self._SCOPED_PREFIXES) for c in classes
        )
        return scoped, aside

    def _is_nav(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        if self.keep_navigation:
            return False
        values = dict(attrs)
        if (values.get("role") or "") == "navigation":
            return True
        classes = set((values.get("class") or "").split())
        return tag in ("div", "ul", "table", "dl") and bool(classes & self._NAV_CLASSES)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip:
            if tag == self._skip[0]:
                self._skip.append(tag)
            return
        if tag in self.HIDDEN and tag != "head" and not (tag == "nav" and self.keep_navigation):
            self._hidden += 1
            return
        if self._is_nav(tag, attrs):
            self._flush()
            self._skip.append(tag)
            return
        if tag in self.BLOCKS:
            self._flush()  # inside a table row, the text so far is the previous cell
        if tag in self._CONTAINERS:
            scoped, aside = self._container(tag, attrs)
            self._containers.append((tag, list(self._path) if scoped else None, aside))
        elif tag == "pre":
            self._pre += 1
        if tag in self._HEADINGS:
            self._heading_level = self._HEADINGS[tag]
        elif tag == "caption" or (
            tag == "p"
            and "title" in (dict(attrs).get("class") or "").split()
            and self._containers
            and self._containers[-1][1] is not None
        ):
            # <caption>, or DocBook's <p class="title"> of a table, figure or example box
            self._heading_level = self._CAPTION_LEVEL
        elif tag == "dl":
            self._dl_depth += 1
        elif tag == "dt":
            self._heading_level = self._TERM_LEVEL + self._dl_depth
        elif tag == "tr":
            self._row = []
        if tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag == self._skip[0]:
                self._skip.pop()
            return
        if tag in self.HIDDEN and tag != "head" and not (tag == "nav" and self.keep_navigation):
            self._hidden = max(0, self._hidden - 1)
            return
        if tag in self.BLOCKS:
            self._flush()
        if tag in self._CONTAINERS and any(c[0] == tag for c in self._containers):
            while self._containers:  # unclosed inner tags close with their container
                open_tag, saved, _aside = self._containers.pop()
                if open_tag == tag:
                    if saved is not None:
                        self._path = saved
                    break
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        if (
            tag in self._HEADINGS
            or tag in ("dt", "caption")
            or (tag == "p" and self._heading_level == self._CAPTION_LEVEL)
        ):
            self._heading_level = None
        elif tag == "dl":
            # The list's terms end with it: the text after it is under the heading again.
            self._path = [(lv, t) for lv, t in self._path if lv < self._TERM_LEVEL + self._dl_depth]
            self._dl_depth = max(0, self._dl_depth - 1)
        elif tag == "tr" and self._row is not None:
            cells = [c for i, c in enumerate(self._row) if i == 0 or c != self._row[i - 1]]
            self._row = None
            if cells:
                self.blocks.append((" | ".join(cells), self._current()))
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if not self._hidden and not self._skip:
            self._buf.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def html_blocks(markup: str) -> list[tuple[str, str | None]]:
    """(text, heading) blocks of an HTML document (also EPUB chapters and HTML mail bodies).
    A page that is nothing but navigation (a book's part page: its table of contents) keeps
    that text: it is all the page says."""
    parser = HTMLText()
    parser.feed(markup)
    parser.close()
    if not parser.blocks:
        parser = HTMLText(keep_navigation=True)
        parser.feed(markup)
        parser.close()
    return parser.blocks
