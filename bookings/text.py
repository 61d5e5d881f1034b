"""Clean-up shared by every path that takes a guest's text (API, staff pages, admin, services)."""

from __future__ import annotations

# Unicode bidirectional controls: embeddings and overrides (U+202A–U+202E), isolates (U+2066–U+2069)
# and the marks U+200E, U+200F, U+061C. In a name they can flip how the staff pages show it.
BIDI_CONTROLS = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C])
_BIDI_TABLE: dict[int, None] = dict.fromkeys(BIDI_CONTROLS)


def strip_bidi(text: str) -> str:
    """Return the text without Unicode bidi control characters (names and notes, on every input)."""
    return text.translate(_BIDI_TABLE) if text else text
