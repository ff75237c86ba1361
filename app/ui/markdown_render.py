"""Markdown -> the HTML subset Qt's rich text understands, with highlighted code blocks.

markdown-it-py parses (CommonMark + tables + strikethrough); pygments colours code with inline
styles (Qt's rich text has no stylesheet classes for spans). Each code block gets a "Copy" link
`copy:N`; the message widget copies block N when it is clicked. Raw HTML in the model's answer
is escaped, never rendered: an answer cannot inject links or images.
"""

from __future__ import annotations

import html
from functools import lru_cache
from typing import Any

from app.core.i18n import translate

LIGHT_CODE_BACKGROUND = "#f3f4f6"
DARK_CODE_BACKGROUND = "#1f2430"


@lru_cache(maxsize=1)
def _parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


def _highlight(code: str, language: str, dark: bool) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import TextLexer, get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    formatter = HtmlFormatter(noclasses=True, nowrap=True, style="monokai" if dark else "friendly")
    return str(highlight(code, lexer, formatter))


def finished_length(text: str) -> int:
    """How much of a streaming answer is whole Markdown blocks: up to its last blank line that
    is not inside a code fence (0 when no block is finished yet). What follows may still change
    its meaning (a list growing, a fence not yet closed), so it stays plain text until then."""
    end = 0
    position = 0
    in_fence = False
    for line in text.splitlines(keepends=True):
        position += len(line)
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
            if not in_fence and line.endswith("\n"):
                end = position  # a closed code block is finished at its closing fence
        elif not in_fence and not stripped and line.endswith("\n"):
            end = position
    return end


def render_markdown(text: str, dark: bool = False, first_block: int = 0) -> tuple[str, list[str]]:
    """Return (html, code_blocks); code_blocks[i] is what the `copy:<first_block + i>` link
    copies (first_block: code blocks of the same answer rendered before this part)."""
    parser = _parser()
    tokens = parser.parse(text)
    code_blocks: list[str] = []
    background = DARK_CODE_BACKGROUND if dark else LIGHT_CODE_BACKGROUND
    code_word = translate("markdown_render", "code")  # a code block of no named language
    copy_word = html.escape(translate("markdown_render", "Copy"))

    def fence(tokens: Any, index: int, _options: Any, _env: Any) -> str:
        token = tokens[index]
        code = token.content
        language = (token.info or "").strip().split(" ")[0]
        number = first_block + len(code_blocks)
        code_blocks.append(code)
        body = _highlight(code, language, dark).rstrip("\n").replace("\n", "<br>")
        label = html.escape(language or code_word)
        return (
            f'<table width="100%" cellpadding="8" cellspacing="0" style="background:{background};'
            f' margin: 6px 0;"><tr><td>'
            f'<span style="font-size:11px; color:#888;">{label}</span> '
            f'&nbsp;<a href="copy:{number}" style="font-size:11px;">{copy_word}</a>'
            f'<pre style="font-family: monospace; margin:0; white-space: pre-wrap;">{body}</pre>'
            "</td></tr></table>"
        )

    def code_inline(tokens: Any, index: int, _options: Any, _env: Any) -> str:
        # Qt's rich text draws a bare <code> in the body font; say monospace explicitly, with
        # the code blocks' background so `names` stand out in a sentence.
        code = html.escape(tokens[index].content)
        return f'<code style="font-family: monospace; background:{background};">{code}</code>'

    renderer = parser.renderer
    renderer.rules["code_inline"] = code_inline
    renderer.rules["fence"] = fence
    renderer.rules["code_block"] = fence
    return renderer.render(tokens, parser.options, {}), code_blocks
