"""Bringing an element that just appeared into the visitor's view (phones stack the page)."""

from __future__ import annotations

from nicegui import ui

# Waits (a few frames) for the element to be laid out, then scrolls only when its top is
# off screen or in the lower part of it: beside the form on a laptop, nothing moves.
_SCRIPT = """
(() => {
  let frames = 0;
  const go = () => {
    const el = getHtmlElement(%d);
    if (!el || !el.offsetParent) {
      if (frames++ < 30) requestAnimationFrame(go);
      return;
    }
    const top = el.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight * 0.6) {
      el.scrollIntoView({behavior: 'smooth', block: 'start'});
    }
  };
  requestAnimationFrame(go);
})()
"""


def bring_into_view(element: ui.element) -> None:
    """Scroll the page so ``element`` starts at the top, if it is not already well in view."""
    element.classes("scroll-mt-20")  # clear of the sticky header
    ui.run_javascript(_SCRIPT % element.id)
