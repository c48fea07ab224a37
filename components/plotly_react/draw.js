// Drawing. Plotly redraws the grid (15 heatmaps with their axes) in about 45 ms on a small laptop,
// too slow for a hand on a slider. So Plotly draws each figure the page sends (exact values), and
// any other filter is painted onto canvases laid over the map panels (a few ms), from the held
// maps, in the same colours, with the same notes. The page learns the filter once the hand rests
// and sends its figure back; should it not come, Plotly draws the held maps' figure itself
// (settle), so hover and the colour bars catch up either way. At most one draw an animation
// frame, always of what the control shows then. Also: the words for a screen reader, and what
// the tests and the benchmark read (window.convlabShown, the "convlab:drawn" event).

import {S, bar, chart, control, filterCount, frame, fullScreenSize, inFullScreen, overlay, stage} from "./state.js";
import {eventId, sendValue, setHeight, showError, themed} from "./protocol.js";
import {decoded, highsOf, rangeTop} from "./maps.js";
import {figureFor, paletteOf} from "./figure.js";
import {reportRoom} from "./room.js";

const SETTLE_AFTER = 1200;  // ms
// A Plotly draw holds the browser for ~45 ms, and a key pressed meanwhile waits: the page's
// figure of a filter already painted is plotted once the hand has rested this long.
const REST = 1000;  // ms
const timers = {rest: null, settle: null};  // the plot after the hand rests, the settle after a paint
let plottedLayout = null;
// What the paint's positions depend on: the maps, the scale, the figure's size and marks.
const layoutOf = (a) => JSON.stringify([a.scrub && a.scrub.url, a.scrub && a.scrub.scale, a.figure.layout.height,
                                        a.figure.layout.shapes, (a.figure.layout.annotations || []).filter((n) => n.name !== "note").length]);
let drawRequested = false;
let settled = null;  // or the filter of the held maps' figure Plotly shows instead

// Streamlit's own charts have a full-screen button in their toolbar; this one is in Plotly's
// (a projector shows the grid as large as it goes). The chart, with its control, then fills the screen.
const fullScreenButton = {
  name: "fullscreen",
  title: "Full screen (Esc to leave)",
  icon: {width: 1000, height: 1000, path: "M0 0h400v100H100v300H0zM600 0h400v400H900V100H600zM0 600h100v300h300v100H0zM900 600h100v400H600V900h300z"},
  click: () => (document.fullscreenElement ? document.exitFullscreen() : frame.requestFullscreen()),
};
document.addEventListener("fullscreenchange", () => {
  frame.style.background = inFullScreen() ? ((S.theme && S.theme.backgroundColor) || "white") : "";
  if (!window.Plotly || !chart.data) return;
  // width null: back to the page's width (autosize)
  Plotly.relayout(chart, inFullScreen() ? fullScreenSize() : {width: null, height: S.figureHeight});
});

export function requestDraw() {
  if (drawRequested) return;
  drawRequested = true;
  requestAnimationFrame(() => { drawRequested = false; draw(); });
}

function plot(figure) {
  const args = S.args;
  const layout = themed(figure.layout || {});
  S.figureHeight = layout.height || null;
  if (inFullScreen()) Object.assign(layout, fullScreenSize());
  const config = Object.assign({responsive: true}, args.config || {}, {modeBarButtonsToAdd: [fullScreenButton]});
  if (!chart.data) chart.textContent = "";  // clear an earlier error message
  Plotly.react(chart, figure.data, layout, config).then(() => {  // heatmaps: drawn before it returns
    wireEvents();
    nameToolbar();
    // the words follow the maps now drawn (a scrub's filter was named by announce, Plotly draws after)
    describe(args.scrub ? describedFilter : args.describe ? args.describe.filter : null);
    if (!inFullScreen()) setHeight((S.figureHeight || chart.offsetHeight) + (bar.hidden ? 0 : bar.offsetHeight));
    reportRoom();
  }).catch(showError);
}

export function draw() {
  const args = S.args;
  if (!args || !window.Plotly) return;
  try {
    if (!S.pagePlotted) {
      if (performance.now() - S.lastMove >= REST || !args.scrub || !S.maps || layoutOf(args) !== plottedLayout) {
        S.pagePlotted = true;
        settled = null;
        plottedLayout = layoutOf(args);
        plot(args.figure);
      } else {  // only the maps' values change and the hand is still moving: paint, plot once it rests
        clearTimeout(timers.rest);
        timers.rest = setTimeout(requestDraw, S.lastMove + REST - performance.now());
      }
    }
    const scrubbing = !!(args.scrub && S.maps && (S.shown !== S.pageFilter || !S.pagePlotted));
    if (scrubbing && settled !== S.shown) {
      paint(S.shown);
      clearTimeout(timers.settle);
      timers.settle = setTimeout(settle, SETTLE_AFTER);
    } else {
      if (!scrubbing && settled !== null) {  // back on the page's filter after a settle
        settled = null;
        plot(args.figure);
      }
      unpaint();
    }
    if (args.scrub) announce(scrubbing ? S.shown : S.pageFilter, !scrubbing);
  } catch (error) {
    showError(error);
  }
}

function settle() {
  if (S.holding) {
    timers.settle = setTimeout(settle, SETTLE_AFTER);
    return;
  }
  if (!(S.args && S.args.scrub && S.maps && S.shown !== S.pageFilter) || settled === S.shown) return;
  settled = S.shown;
  plot(figureFor(S.shown));
  unpaint();
  announce(S.shown, false);
}

// The number beside the control names the maps on screen, set in the same frame; the chart's
// data-filter says the same for tests and the benchmark, and "convlab:drawn" tells them of each draw.
function announce(filter, exact) {
  document.getElementById("number").textContent = filter;
  control.setAttribute("aria-valuetext", "Filter " + filter + " of " + filterCount());
  describe(filter);
  chart.dataset.filter = filter;
  chart.dataset.exact = exact ? "yes" : "no";
  chart.dataset.draws = Number(chart.dataset.draws || 0) + 1;
  chart.dispatchEvent(new CustomEvent("convlab:drawn", {detail: {filter: filter, exact: exact, painted: S.painted !== null, z: shownMap}}));
}

// The map on screen of image `slot`, layer `name` (what a test compares with the model's).
function shownMap(slot, name) {
  if (S.painted !== null) {
    const layer = S.maps.layers.find((layer) => layer.name === name);
    return layer && S.painted < layer.filters ? decoded(layer, slot, S.painted) : null;
  }
  const trace = (chart.data || []).find((trace) => trace.meta && trace.meta.slot === slot && trace.meta.layer === name);
  return trace ? trace.z : null;
}

// -- for a screen reader ------------------------------------------------------------------------
// Where a map is brightest, in the words of convlab/filtermeasures.py's peak_place: the ninth of the
// map its first largest cell (row by row) lies in; "all zero" for a map with no activation.
const VERTICALS = ["top", "middle", "bottom"], HORIZONTALS = ["left", "centre", "right"];
function brightest(z) {
  let top = -Infinity, at = [0, 0];
  z.forEach((cells, row) => cells.forEach((value, col) => { if (value > top) [top, at] = [value, [row, col]]; }));
  if (!(top > 0)) return "all zero";
  const ninth = (index, side) => Math.min(Math.floor(3 * (index + 0.5) / side), 2);
  const [v, h] = [ninth(at[0], z.length), ninth(at[1], z[0].length)];
  return "brightest at the " + (v === 1 && h === 1 ? "centre" : VERTICALS[v] + " " + HORIZONTALS[h]);
}

// One line per map on screen (args.describe names the rows' images), rewritten in place when the
// maps change: "conv1, filter 1, image 23 (Ankle boot): brightest at the top left".
const described = document.getElementById("described");
let describedFilter = null;
export function describe(filter) {
  const args = S.args;
  describedFilter = filter;
  if (!args || !args.describe || filter === null || filter === undefined) {
    described.replaceChildren();
    return;
  }
  const names = args.describe.images || [];
  const panels = (chart.data || []).filter((trace) => trace.meta && trace.meta.layer && trace.meta.layer !== "input")
    .map((trace) => [trace.meta.slot, trace.meta.layer]);
  if (S.painted !== null) {  // the painted maps: every layer's, also where the plotted figure had a note
    S.maps.layers.forEach((layer) => { for (let slot = 0; slot < S.maps.images; slot++) panels.push([slot, layer.name]); });
  }
  const seen = new Set(), lines = [];
  for (const [slot, name] of panels.sort((a, b) => a[0] - b[0])) {
    if (seen.has(slot + "/" + name)) continue;
    seen.add(slot + "/" + name);
    const z = shownMap(slot, name);
    const image = names[slot] || "image " + (slot + 1);
    const where = z ? brightest(z) : "no map (the layer has fewer filters)";
    lines.push(name + ", filter " + filter + ", " + image + ": " + where);
  }
  while (described.children.length > lines.length) described.lastChild.remove();
  lines.forEach((line, index) => {
    const item = described.children[index] || described.appendChild(document.createElement("li"));
    if (item.textContent !== line) item.textContent = line;
  });
}

// Plotly's toolbar buttons (camera, full screen) are buttons the keyboard reaches, named only by a
// tooltip (data-title) and an icon: give each its name for a screen reader.
function nameToolbar() {
  for (const button of chart.querySelectorAll(".modebar-btn[data-title]:not([aria-label])")) {
    button.setAttribute("aria-label", button.getAttribute("data-title"));
  }
}

// For the tests and the benchmark: what the chart shows now, each map by "slot/layer", and the
// colours painted over the panels (RGB, row by row) while a filter is painted.
window.convlabShown = () => {
  const now = {filter: Number(chart.dataset.filter), exact: chart.dataset.exact === "yes", painted: S.painted !== null,
               maps: {}, colours: {}};
  for (const trace of chart.data || []) {
    if (trace.meta && trace.meta.layer && trace.meta.layer !== "input") now.maps[trace.meta.slot + "/" + trace.meta.layer] = null;
  }
  if (S.maps) S.maps.layers.forEach((layer) => { for (let slot = 0; slot < S.maps.images; slot++) now.maps[slot + "/" + layer.name] = null; });
  for (const key of Object.keys(now.maps)) {
    const [slot, name] = key.split("/");
    now.maps[key] = shownMap(Number(slot), name);
  }
  if (S.painted !== null) {
    for (const {canvas, key} of pieces) {
      if (canvas.style.display === "none" || canvas.width < 2) continue;
      const rgba = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      now.colours[key] = Array.from(rgba).filter((_, i) => i % 4 !== 3);
    }
  }
  return now;
};

// -- painting a filter over the panels ------------------------------------------------------------
// The maps' colour scale as a table of colours (figure.js's paletteOf), made again when the page's
// colour map changes.
let palette = null;
let paletteScale = null;  // the scale it was made from, as JSON

const pieces = [];  // a canvas and a note per map panel, reused
function piece(index) {
  if (!pieces[index]) {
    const canvas = document.createElement("canvas"), note = document.createElement("div");
    overlay.append(canvas, note);
    pieces[index] = {canvas: canvas, note: note};
  }
  return pieces[index];
}

// Filter `filter`'s maps painted over the map panels where Plotly put them (its laid-out axes).
function paint(filter) {
  const scrub = S.args.scrub, full = chart._fullLayout, maps = S.maps, theme = S.theme;
  if (!full) return;
  const scale = JSON.stringify(scrub.trace.colorscale);
  if (scale !== paletteScale) [palette, paletteScale] = [paletteOf(scrub.trace.colorscale), scale];
  const columns = maps.layers.length + 1;
  const {columnHighs, figureHigh} = highsOf(maps, filter);
  const font = (scrub.note.font.size || 13) + "px " + ((theme && theme.font) || "sans-serif");
  let used = 0;
  for (let row = 0; row < maps.images; row++) {
    maps.layers.forEach((layer, index) => {
      const suffix = String(row * columns + index + 2);
      const xa = full["xaxis" + suffix], ya = full["yaxis" + suffix];
      if (!xa || !ya) return;
      const current = piece(used++), {canvas, note} = current;
      current.key = row + "/" + layer.name;
      for (const element of [canvas, note]) {
        Object.assign(element.style, {display: "", left: xa._offset + "px", top: ya._offset + "px",
                                      width: xa._length + "px", height: ya._length + "px"});
      }
      note.style.font = font;
      const context = canvas.getContext("2d");
      if (filter >= layer.filters) {  // "conv1 has only 16 filters" on the page's background
        canvas.width = canvas.height = 1;
        context.fillStyle = (theme && theme.backgroundColor) || "white";
        context.fillRect(0, 0, 1, 1);
        note.textContent = scrub.fewer[index].replace(/<br>/g, "\n");
        note.style.color = (theme && theme.textColor) || "black";
        return;
      }
      const side = layer.side, high = layer.highs[row * layer.filters + filter];
      const top = rangeTop(scrub.scale, high, columnHighs[index], figureHigh);
      if (canvas.width !== side) canvas.width = canvas.height = side;
      const image = context.createImageData(side, side);
      const start = (row * layer.filters + filter) * side * side;
      for (let cell = 0; cell < side * side; cell++) {
        const value = layer.codes[start + cell] / 255 * high;
        const colour = 3 * Math.round(Math.min(Math.max(value / top, 0), 1) * 1023);
        image.data[4 * cell] = palette[colour];
        image.data[4 * cell + 1] = palette[colour + 1];
        image.data[4 * cell + 2] = palette[colour + 2];
        image.data[4 * cell + 3] = 255;
      }
      context.putImageData(image, 0, 0);
      note.textContent = high === 0 ? "all zero" : "";
      note.style.color = scrub.zero_color;
    });
  }
  for (let i = used; i < pieces.length; i++) pieces[i].canvas.style.display = pieces[i].note.style.display = "none";
  labelColourBars(scrub.scale, columnHighs, figureHigh);
  stage.classList.add("scrubbing");
  S.painted = filter;
}

// The shared scales' colour bars keep their gradient (always 0 to the range's top); their
// numbers are hidden while a filter is painted, and its range's ends written at the bar's ends.
const barLabels = [];
function labelColourBars(scale, columnHighs, figureHigh) {
  const theme = S.theme;
  let used = 0;
  if (scale !== "panel") {
    const origin = stage.getBoundingClientRect(), full = chart._fullLayout;
    const centres = columnHighs.map((_, index) => {
      const xa = full["xaxis" + String(index + 2)];
      return xa ? origin.left + xa._offset + xa._length / 2 : null;
    });
    for (const bar of chart.querySelectorAll("g.colorbar")) {
      const fill = bar.querySelector("rect.cbfill");
      const tick = bar.querySelector("g.cbaxis text");
      if (!fill) continue;
      const box = fill.getBoundingClientRect(), across = box.width > box.height;
      let high = figureHigh;
      if (scale === "layer") {  // the column whose panels the bar sits under
        let nearest = 0;
        centres.forEach((centre, index) => {
          if (centre !== null && Math.abs(centre - (box.left + box.width / 2)) < Math.abs(centres[nearest] - (box.left + box.width / 2))) nearest = index;
        });
        high = columnHighs[nearest];
      }
      if (high === null) continue;
      const font = tick ? getComputedStyle(tick).fontSize + " " + getComputedStyle(tick).fontFamily : "12px sans-serif";
      const ends = [[0, across ? box.left : box.right + 4, across ? box.bottom + 2 : box.bottom - 14],
                    [high > 0 ? Number(high.toPrecision(3)) : 1, across ? box.right : box.right + 4, across ? box.bottom + 2 : box.top]];
      ends.forEach(([value, x, y], end) => {
        if (!barLabels[used]) overlay.append(barLabels[used] = document.createElement("span"));
        const label = barLabels[used++];
        label.textContent = String(value);
        Object.assign(label.style, {display: "", font: font, color: (theme && theme.textColor) || "black",
                                    top: (y - origin.top) + "px", left: (x - origin.left) + "px",
                                    transform: across && end === 1 ? "translateX(-100%)" : ""});
      });
    }
  }
  for (let i = used; i < barLabels.length; i++) barLabels[i].style.display = "none";
}

function unpaint() {
  if (S.painted === null) return;
  for (const {canvas, note} of pieces) canvas.style.display = note.style.display = "none";
  for (const label of barLabels) label.style.display = "none";
  stage.classList.remove("scrubbing");
  S.painted = null;
}

// A click on a heatmap cell: which panel (the trace's meta, set by the figure; a tiles figure's
// customdata) and which cell; and a chart laid out anew (resized, full screen) while a filter is
// painted over it: paint again.
let eventsWired = false;
function wireEvents() {
  if (eventsWired || !chart.on) return;
  eventsWired = true;
  chart.on("plotly_afterplot", () => { if (S.painted !== null) requestDraw(); });
  chart.on("plotly_click", (event) => {
    if (!(S.fit || S.clicks)) return;
    const point = event && event.points && event.points[0];
    if (!point || !point.data || point.data.type !== "heatmap" || !point.data.meta) return;
    if (point.data.meta.mosaic) {  // a tiles figure, one heatmap: the cell's tile and its place in it
      const [tile, x, y] = point.data.customdata[point.y][point.x];
      if (tile >= 0) sendValue({kind: "click", click: {panel: {tile: tile}, x: x, y: y}, n: eventId()});
      return;
    }
    sendValue({kind: "click", click: {panel: point.data.meta, x: point.x, y: point.y}, n: eventId()});
  });
}
