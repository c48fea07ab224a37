"""What a person would see cut off on the page: words clipped or ellipsised, tables wider than their
box, chart texts outside the chart or on top of each other.

``clipped_texts(page)`` reads the open page in a real browser (Playwright) and returns one readable
line per problem, empty when nothing is cut off. What it looks at:

* every visible element holding text of its own (buttons, tabs, widget labels, headings, Markdown
  paragraphs and list items, captions, DOM table cells, a select box's chosen value): cut off when
  the element itself scrolls sideways (``scrollWidth`` > ``clientWidth``, 1 px spared) or ends in
  an ellipsis, or when its text reaches past an ancestor that clips it (overflow other than
  visible), or past the window's right edge;
* ``st.dataframe``: a canvas (glide-data-grid), so its cells can't be read; a grid whose columns
  are wider than its box (they run out of sight at the right: "best test accur") is reported with
  its column names, and ``narrow_columns`` checks the widths a column_config sets against the
  width of the header and the cells in the grid's own font;
* Plotly charts (the page's and same-origin components' frames): legend entries, axis titles,
  annotations (a figure's headings) and tick labels that overlap each other, and any of them
  outside the chart's box.

Only what is rendered and on the page's width counts: a collapsed sidebar, a closed popover or words
for a screen reader only (clipped to nothing) are not seen, so they are not reported.
"""

from __future__ import annotations

TOLERANCE = 1  # px: sub-pixel rounding is no cut

CLIPPED_JS = r"""
(tolerance) => {
  const LINE_SLACK = 4;  // px: a line box taller than its glyphs may poke out of a button unseen
  // Not words a person reads as such: code, the tooltips' hidden copies, the icons' ligature names.
  const SKIPPED = 'script, style, svg, canvas, noscript, textarea, [data-testid=stTooltipContent], '
    + '[data-testid=stIconMaterial]';
  const TICK_SLACK = 7;  // px: a tick label's box (a line of 11 px type) under an annotation's padded box
  // px between two headings' boxes side by side: boxes that touch leave only their padding between the
  // words, which then read as one ("26×26pool1"); a pixel apart, there is a space's worth.
  const MIN_GAP = 1;
  const problems = [];
  const where = (el) => {
    const keyed = el.closest('[class*="st-key-"]');
    const key = keyed && [...keyed.classList].find(c => c.startsWith('st-key-'));
    const view = el.ownerDocument.defaultView.frameElement ? ' (in a component frame)' : '';
    return (key ? ` in ${key.slice(7)}` : '') + view;
  };
  const short = (text) => {
    const t = text.replace(/\s+/g, ' ').trim();
    return t.length > 70 ? t.slice(0, 67) + '...' : t;
  };
  const kind = (el) => {
    if (el.closest('button, [role=button]')) return 'button';
    if (el.closest('[role=tab]')) return 'tab';
    if (el.closest('h1, h2, h3, h4, h5, h6')) return 'heading';
    if (el.closest('[data-testid=stWidgetLabel], label')) return 'label';
    if (el.closest('th')) return 'table header';
    if (el.closest('td')) return 'table cell';
    if (el.closest('[data-baseweb=select]')) return 'select box value';
    if (el.closest('[data-testid=stCaptionContainer]')) return 'caption';
    if (el.closest('[data-testid=stAlertContainer]')) return 'message';
    return 'text';
  };
  const docs = [document];
  for (const frame of document.querySelectorAll('iframe')) {
    try {
      const r = frame.getBoundingClientRect();
      if (frame.contentDocument && r.width > 0 && r.height > 0) docs.push(frame.contentDocument);
    } catch (e) { /* another origin's frame: not ours to read */ }
  }
  const shown = (el) => {
    const win = el.ownerDocument.defaultView;
    if (el.checkVisibility && !el.checkVisibility({visibilityProperty: true, opacityProperty: true})) return false;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) return false;
    // Off the page's width (a collapsed sidebar is moved out of the window, not removed).
    return r.right > 0 && r.left < win.innerWidth && !forScreenReaders(el);
  };
  // Words for a screen reader only, clipped to nothing on purpose (the charts' lists of what each map
  // shows): no one sees them, so nothing of them is cut off.
  const forScreenReaders = (el) => {
    for (let up = el; up; up = up.parentElement) {
      if (up.ownerDocument.defaultView.getComputedStyle(up).clip === 'rect(0px, 0px, 0px, 0px)') return true;
    }
    return false;
  };
  const textRect = (el) => {
    let box = null;
    for (const node of el.childNodes) {
      if (node.nodeType !== Node.TEXT_NODE || !node.textContent.trim()) continue;
      const range = el.ownerDocument.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) {
        if (r.width === 0) continue;
        box = box ? {left: Math.min(box.left, r.left), right: Math.max(box.right, r.right),
                     top: Math.min(box.top, r.top), bottom: Math.max(box.bottom, r.bottom)}
                  : {left: r.left, right: r.right, top: r.top, bottom: r.bottom};
      }
    }
    return box;
  };
  const clips = (style) => style.overflowX !== 'visible';
  const seen = new Set();
  for (const doc of docs) {
    const win = doc.defaultView;
    const walker = doc.createTreeWalker(doc.body, NodeFilter.SHOW_TEXT);
    const holders = new Set();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      const el = node.parentElement;
      if (!el || el.closest(SKIPPED)) continue;
      holders.add(el);
    }
    for (const el of holders) {
      if (!shown(el)) continue;
      const text = short(el.textContent);
      const style = win.getComputedStyle(el);
      let problem = null;
      if (style.textOverflow === 'ellipsis' && el.scrollWidth > el.clientWidth + tolerance) {
        problem = `ends in "…": ${el.clientWidth}px shown of ${el.scrollWidth}px`;
      } else if (clips(style) && el.scrollWidth > el.clientWidth + tolerance && style.overflowX !== 'auto'
                 && style.overflowX !== 'scroll') {
        problem = `cut off: ${el.clientWidth}px shown of ${el.scrollWidth}px`;
      } else {
        const box = textRect(el);
        if (!box) continue;
        if (box.right > win.innerWidth + tolerance) {
          problem = `runs past the window's right edge by ${Math.round(box.right - win.innerWidth)}px`;
        }
        // Up and down, only boxes below the first one that scrolls vertically count: the page scrolls.
        let vertical = true;
        for (let up = el.parentElement; up && !problem && up !== doc.documentElement; up = up.parentElement) {
          const upStyle = win.getComputedStyle(up);
          if (!clips(upStyle) && upStyle.overflowY === 'visible') continue;
          const r = up.getBoundingClientRect();
          const left = r.left + up.clientLeft, right = left + up.clientWidth;
          const top = r.top + up.clientTop, bottom = top + up.clientHeight;
          if (clips(upStyle) && (box.right > right + tolerance || box.left < left - tolerance)) {
            const hidden = Math.round(Math.max(box.right - right, left - box.left));
            problem = `cut off by its box: ${hidden}px of the text out of sight`;
          } else if (vertical && (upStyle.overflowY === 'hidden' || upStyle.overflowY === 'clip')
                     && (box.bottom > bottom + LINE_SLACK || box.top < top - LINE_SLACK)) {
            const hidden = Math.round(Math.max(box.bottom - bottom, top - box.top));
            problem = `cut off below or above: ${hidden}px out of sight`;
          }
          if (upStyle.overflowY === 'auto' || upStyle.overflowY === 'scroll') vertical = false;
        }
      }
      if (problem) {
        const line = `${kind(el)} "${text}"${where(el)}: ${problem}`;
        if (!seen.has(line)) { seen.add(line); problems.push(line); }
      }
    }
    // Dataframes: a canvas; the grid's scroller is wider than its box when columns run out of sight.
    for (const grid of doc.querySelectorAll('[data-testid=stDataFrame]')) {
      if (!shown(grid)) continue;
      const scroller = grid.querySelector('.dvn-scroller');
      if (!scroller || scroller.scrollWidth <= scroller.clientWidth + tolerance) continue;
      const headers = [...grid.querySelectorAll('th[role=columnheader]')].map(th => th.textContent.trim());
      problems.push(`table (${short(headers.join(', '))})${where(grid)}: its columns are ${scroller.scrollWidth}px `
                    + `wide in a ${scroller.clientWidth}px box: the last columns are cut off`);
    }
    // Plotly: texts of one chart on top of each other, or outside the chart.
    for (const plot of doc.querySelectorAll('.js-plotly-plot')) {
      if (!shown(plot)) continue;
      const outer = plot.getBoundingClientRect();
      const items = [];
      const add = (selector, what) => {
        for (const el of plot.querySelectorAll(selector)) {
          const r = el.getBoundingClientRect();
          const label = short(el.textContent || '');
          if (r.width > 0 && r.height > 0 && label) items.push({what, label, r});
        }
      };
      add('.legend .legendtext', 'legend entry');  // the words: an entry's click area is wider than they are
      add('g[class$=title] > text, .g-gtitle text, .cbtitle text', 'title');
      add('.annotation-text-g', 'annotation');
      add('g[class$="tick"] > text', 'tick label');  // xtick, ytick, y5tick: every subplot's
      for (const item of items) {
        const r = item.r;
        if (r.left < outer.left - tolerance || r.right > outer.right + tolerance
            || r.top < outer.top - tolerance || r.bottom > outer.bottom + tolerance) {
          problems.push(`chart ${item.what} "${item.label}"${where(plot)}: outside the chart's box`);
        }
      }
      // Across (dx) and down (dy): how far two texts' boxes overlap; negative, the gap between them.
      const across = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const down = (a, b) => Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      for (let i = 0; i < items.length; i++) {
        for (let j = i + 1; j < items.length; j++) {
          const a = items[i], b = items[j];
          if (a.what === 'tick label' && b.what === 'tick label') continue;  // plotly spaces its own ticks
          if (a.what === 'legend entry' && b.what === 'legend entry') continue;  // laid out by the legend
          const dx = across(a.r, b.r), dy = down(a.r, b.r);
          let problem = null;
          if (a.what === 'tick label' || b.what === 'tick label') {
            // A tick's box and an annotation's padded one are taller than their glyphs: touching is no collision.
            if (dx > TICK_SLACK && dy > TICK_SLACK) problem = 'on top of each other';
          } else if (a.what === 'annotation' && b.what === 'annotation' && dy > tolerance && dx > -MIN_GAP) {
            problem = dx > tolerance ? 'on top of each other' : 'run together (no gap between them)';
          } else if (dx > tolerance && dy > tolerance) {
            problem = 'on top of each other';
          }
          if (problem) {
            const by = dx > 0 ? ` (by ${Math.round(dx)}×${Math.round(dy)}px)` : '';
            problems.push(`chart ${a.what} "${a.label}" and ${b.what} "${b.label}"${where(plot)}: ${problem}${by}`);
          }
        }
      }
    }
  }
  return problems;
}
"""

# The widths st.column_config's words stand for, in px (Streamlit 1.67's DataFrame: small 75,
# medium 200, large 400); glide pads a cell 8 px each side.
COLUMN_WIDTHS = {"small": 75, "medium": 200, "large": 400}
CELL_PADDING = 2 * 8
GRID_FONT = "400 14px 'Source Sans', sans-serif"  # the grid's header and cell font (--gdg-*-font-style)


# Transitions and animations that end (the sidebar collapsing on a narrow window): the page mid-way is no
# page a person reads. Endless ones (spinners) don't count.
SETTLED_JS = (
    "() => document.getAnimations().every(a => a.playState !== 'running' "
    "|| !isFinite(a.effect.getComputedTiming().endTime))"
)


def clipped_texts(page, settle_ms: float = 5_000) -> list[str]:
    """Readable descriptions of everything cut off on the open page (see the module's docstring), once
    its transitions have ended (at most ``settle_ms``)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(SETTLED_JS, timeout=settle_ms, polling=100)
    except PlaywrightTimeout:
        pass  # still moving: measure it as it is, rather than fail for it
    return page.evaluate(CLIPPED_JS, TOLERANCE)


def text_widths(page, texts: list[str], font: str = GRID_FONT) -> list[float]:
    """Each text's width in px in ``font``, measured by the page's own canvas (the grid draws so)."""
    return page.evaluate(
        "([texts, font]) => { const c = document.createElement('canvas').getContext('2d'); c.font = font; "
        "return texts.map(t => c.measureText(t).width); }",
        [texts, font],
    )


def narrow_columns(page, frame, column_config: dict, font: str = GRID_FONT) -> list[str]:
    """The columns of ``frame`` whose width set in ``column_config`` is narrower than their header or
    one of their cells (``frame``'s values as text, formatted as the page would show them) in ``font``
    (presenter mode's grid: 17.5 px, its 20 px root font's 0.875 rem)."""
    problems = []
    for column in frame.columns:
        config = column_config.get(column) or {}
        width = config.get("width")
        if width is None:  # sized to its contents by the grid; a too-wide grid is clipped_texts' to find
            continue
        width = COLUMN_WIDTHS.get(width, width)
        texts = [str(config.get("label") or column), *(_shown(value, config) for value in frame[column])]
        widest = max(text_widths(page, texts, font))
        if widest + CELL_PADDING > width + TOLERANCE:
            problems.append(f"column {column!r}: {width}px wide, its widest text needs {widest + CELL_PADDING:.0f}px")
    return problems


def _shown(value, config: dict) -> str:
    """A cell as the grid writes it: a number in its column's printf format or "localized" (thousands
    separated), else the value as text."""
    number_format = (config.get("type_config") or {}).get("format")
    if isinstance(value, (int, float)) and number_format == "localized":
        return f"{value:,}"
    if isinstance(value, (int, float)) and number_format and number_format.startswith("%"):
        return number_format % value
    return str(value)
