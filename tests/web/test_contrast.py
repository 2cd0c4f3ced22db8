"""WCAG 2 contrast of the UI's colour pairs, computed from the stylesheet itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "src/deepshield/web/static/app.css").read_text()
COLOURS = dict(re.findall(r"--([a-z]+):\s*(#[0-9a-fA-F]{6})", CSS))


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("text", ["ink", "muted", "accent", "bad", "good", "warn"])
@pytest.mark.parametrize("background", ["paper", "panel"])
def test_text_colours_meet_wcag_aa(text: str, background: str) -> None:
    assert contrast(COLOURS[text], COLOURS[background]) >= 4.5


def test_button_text_on_accent() -> None:
    assert contrast("#ffffff", COLOURS["accent"]) >= 4.5
