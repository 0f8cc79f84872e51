"""tablespace's Textual themes: data only, registered by the app.

Three themes ship: a warm light "kitchen table" (the default), a dark
"night kitchen" and a high-contrast one. Textual's built-in themes stay
available too; whichever a member picks is remembered in the home config.
"""

from __future__ import annotations

from textual.theme import Theme

KITCHEN_TABLE = Theme(
    name="kitchen-table",
    primary="#9C4A1A",  # terracotta
    secondary="#5E7A3A",  # herb green
    accent="#B7791F",  # crust gold
    warning="#B45309",
    error="#B91C1C",
    success="#3F7D3A",
    foreground="#2E2219",  # espresso ink
    background="#F6EEDF",  # flour
    surface="#EFE3CD",  # linen
    panel="#E4D3B4",  # oak
    dark=False,
    variables={
        "footer-key-foreground": "#9C4A1A",
        "block-cursor-foreground": "#FFF8EC",
        "block-cursor-background": "#9C4A1A",
        "input-selection-background": "#B7791F 40%",
    },
)

NIGHT_KITCHEN = Theme(
    name="night-kitchen",
    primary="#E08A4F",  # ember
    secondary="#9DBA6A",
    accent="#E8B04B",
    warning="#F0A33B",
    error="#EF5B5B",
    success="#7CC47F",
    foreground="#EDE3D4",
    background="#1C1714",
    surface="#25201B",
    panel="#332A22",
    dark=True,
    variables={
        "footer-key-foreground": "#E8B04B",
        "block-cursor-foreground": "#1C1714",
        "block-cursor-background": "#E08A4F",
    },
)

HIGH_CONTRAST = Theme(
    name="high-contrast",
    primary="#FFFF00",
    secondary="#00FFFF",
    accent="#FF00FF",
    warning="#FFA500",
    error="#FF4040",
    success="#00FF00",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#1A1A1A",
    dark=True,
    luminosity_spread=0.0,
    text_alpha=1.0,
    variables={
        "footer-key-foreground": "#FFFF00",
        "block-cursor-foreground": "#000000",
        "block-cursor-background": "#FFFF00",
        "block-cursor-text-style": "bold",
        "border": "#FFFFFF",
        "border-blurred": "#AAAAAA",
    },
)

THEMES: tuple[Theme, ...] = (KITCHEN_TABLE, NIGHT_KITCHEN, HIGH_CONTRAST)
DEFAULT_THEME = KITCHEN_TABLE.name
