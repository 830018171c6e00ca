"""Model cards embedded in the report, so that "the model card of these weights" travels with it.

A result names its weights' card as a repository-relative path (``provenance.model.card``, e.g.
``docs/model-cards/demo.md``) or a web address. A path is looked up in the laanet source tree this report is made
from (``docs/model-cards/`` only: a results file cannot make the report read other files); when found, the card
is rendered from Markdown (markdown-it-py, raw HTML off, pictures off: the report loads nothing) into an appendix
and the provenance links to it. A web address is linked as is. Otherwise the path is shown as text.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

CARDS_FOLDER = PurePosixPath("docs/model-cards")


@dataclass(frozen=True)
class Card:
    """A model card as the report shows it: ``html`` is the rendered card (None when not found)."""

    ref: str  # as the result gives it
    href: str | None  # where the provenance row links: "#card-N", an https:// address, or None
    html: str | None = None
    anchor: str | None = None


def repository_root() -> Path:
    """The laanet source tree (``src/laanet/..`` up two levels); its ``docs/`` exists in a checkout, not in a wheel."""
    import laanet

    return Path(laanet.__file__).resolve().parents[2]


def find_card(ref: str, root: Path | None = None) -> Path | None:
    """The card file for the repository-relative ``ref``, if it is a ``.md`` under ``docs/model-cards/``."""
    root = (root or repository_root()).resolve()
    folder = (root / CARDS_FOLDER).resolve()
    candidate = (root / ref).resolve()
    if candidate.suffix != ".md" or candidate.parent != folder or not candidate.is_file():
        return None
    return candidate


def render_markdown(text: str) -> str:
    """Markdown to HTML with raw HTML escaped and images dropped (their alt text stays)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
    md.disable("image")

    tokens = md.parse(text)
    for token in tokens:
        opened: list[bool] = []  # per open link: was it turned into a plain span
        for child in token.children or []:
            if child.type == "link_open":
                href = str(child.attrGet("href") or "")
                plain = not href.startswith(("https://", "http://"))  # links into the repository do not resolve here
                if plain:
                    child.tag, child.attrs = "span", {}
                opened.append(plain)
            elif child.type == "link_close" and opened and opened.pop():
                child.tag = "span"
    return md.renderer.render(tokens, md.options, {})


class CardBook:
    """The cards of one report, each rendered once however many inputs refer to it."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root
        self._cards: dict[str, Card] = {}

    def card(self, ref: str) -> Card:
        if ref in self._cards:
            return self._cards[ref]
        if ref.lower().startswith(("https://", "http://")):
            card = Card(ref, ref)
        else:
            path = find_card(ref, self.root)
            if path is None:
                card = Card(ref, None)
            else:
                anchor = f"card-{sum(c.anchor is not None for c in self._cards.values()) + 1}"
                card = Card(ref, f"#{anchor}", render_markdown(path.read_text(encoding="utf-8", errors="replace")), anchor)
        self._cards[ref] = card
        return card

    @property
    def embedded(self) -> list[Card]:
        return [c for c in self._cards.values() if c.html is not None]
