// Drawing. Plotly redraws the grid (15 heatmaps with their axes) in about 45 ms on a small laptop,
// too slow for a hand on a slider. So Plotly draws each figure the page sends (exact values), and
// any other filter is painted onto canvases laid over the map panels (a few ms), from the held
// maps, in the same colours, with the same notes. The page learns the filter once the hand rests
// and sends its figure back; should it not come, Plotly draws the held maps' figure itself
// (settle), so hover and the colour bars catch up either way. At most one draw an animation
// frame, always of what the control shows then. Also: the words for a screen reader, and what
// the tests and the benchmark read (the Plotly div's convlabShown(), its "convlab:drawn" event).
// Every function takes the chart it draws (state.js's createChart).

import {filterCount, fullScreenSize, inFullScreen} from "./state.js";
import {eventId, plotly, sendValue, showError, themed} from "./protocol.js";
import {decoded, highsOf, rangeTop} from "./maps.js";
import {figureFor, paletteOf} from "./figure.js";
import {reportRoom} from "./room.js";

const SETTLE_AFTER = 1200;  // ms
// A Plotly draw holds the browser for ~45 ms, and a key pressed meanwhile waits: the page's
// figure of a filter already painted is plotted once the hand has rested this long.
const REST = 1000;  // ms
// What the paint's positions depend on: the maps, the scale, the figure's size and marks.
const layoutOf = (a) => JSON.stringify([a.scrub && a.scrub.url, a.scrub && a.scrub.scale, a.figure.layout.height,
                                        a.figure.layout.shapes, (a.figure.layout.annotations || []).filter((n) => n.name !== "note").length]);

// Streamlit's own charts have a full-screen button in their toolbar; this one is in Plotly's
// (a projector shows the grid as large as it goes). The chart, with its control, then fills the screen.
// One button a chart, made once: a config that differs (a new click function) makes Plotly.react
// draw the whole chart anew instead of updating it.
function fullScreenButton(c) {
  if (!c.fullScreenButton) {
    c.fullScreenButton = {
      name: "fullscreen",
      title: "Full screen (Esc to leave)",
      icon: {width: 1000, height: 1000, path: "M0 0h400v100H100v300H0zM600 0h400v400H900V100H600zM0 600h100v300h300v100H0zM900 600h100v400H600V900h300z"},
      click: () => (document.fullscreenElement ? document.exitFullscreen() : c.root.requestFullscreen()),
    };
  }
  return c.fullScreenButton;
}

// The page entered or left full screen (main.js tells every chart): true when this chart filled the
// screen or went back (then laid out for the screen, or for the page again).
export function fullScreenChanged(c) {
  const now = inFullScreen(c);
  if (now === c.fullScreen) return false;
  c.fullScreen = now;
  c.root.style.background = now ? ((c.theme && c.theme.backgroundColor) || "white") : "";
  if (!plotly() || !c.chart.data) return true;
  // width null: back to the page's width (autosize)
  plotly().relayout(c.chart, now ? fullScreenSize(c) : {width: null, height: c.figureHeight});
  return true;
}

export function requestDraw(c) {
  if (c.drawRequested) return;
  c.drawRequested = true;
  requestAnimationFrame(() => {
    c.drawRequested = false;
    // A chart that left the page since (a run that opens another view re-renders it first) isn't drawn:
    // at no width, Plotly would draw it anew for nothing, and again once it is put back (main.js's park).
    if (!c.destroyed && !c.parked && c.root.isConnected) draw(c);
  });
}

function plot(c, figure) {
  const args = c.args;
  const layout = themed(c, figure.layout || {});
  c.figureHeight = layout.height || null;
  if (inFullScreen(c)) Object.assign(layout, fullScreenSize(c));
  const config = Object.assign({responsive: true}, args.config || {}, {modeBarButtonsToAdd: [fullScreenButton(c)]});
  if (!c.chart.data) c.chart.textContent = "";  // clear an earlier error message
  // The page's figure as Plotly last drew it (as sent: Plotly changes the layout it is given), in the same
  // theme, size and width: the same again (a view opened again, a rerun that changed other things) is not
  // drawn again. Plotly.react would: every array is a new one.
  const drawn = figure === args.figure
    ? {sent: args.sent, around: JSON.stringify([c.theme, layout.width, layout.height, c.chart.clientWidth])} : null;
  const before = c.plotted;
  const again = drawn !== null && before !== null && drawn.sent === before.sent && drawn.around === before.around
    && c.chart.data;
  c.plotted = drawn;
  (again ? Promise.resolve() : plotly().react(c.chart, figure.data, layout, config)).then(() => {  // heatmaps: drawn before it returns
    if (c.destroyed) return;
    wireEvents(c);
    nameToolbar(c);
    // the words follow the maps now drawn (a scrub's filter was named by announce, Plotly draws after)
    describe(c, args.scrub ? c.describedFilter : args.describe ? args.describe.filter : null);
    reportRoom(c);
  }).catch((error) => {
    c.plotted = null;  // drawn again next time
    showError(c, error);
  });
}

export function draw(c) {
  const args = c.args;
  if (!args || !plotly() || c.destroyed || c.parked) return;
  try {
    if (!c.pagePlotted) {
      if (performance.now() - c.lastMove >= REST || !args.scrub || !c.maps || layoutOf(args) !== c.plottedLayout) {
        c.pagePlotted = true;
        c.settled = null;
        c.plottedLayout = layoutOf(args);
        plot(c, args.figure);
      } else {  // only the maps' values change and the hand is still moving: paint, plot once it rests
        clearTimeout(c.timers.rest);
        c.timers.rest = setTimeout(() => requestDraw(c), c.lastMove + REST - performance.now());
      }
    }
    const scrubbing = !!(args.scrub && c.maps && (c.shown !== c.pageFilter || !c.pagePlotted));
    if (scrubbing && c.settled !== c.shown) {
      paint(c, c.shown);
      clearTimeout(c.timers.settle);
      c.timers.settle = setTimeout(() => settle(c), SETTLE_AFTER);
    } else {
      if (!scrubbing && c.settled !== null) {  // back on the page's filter after a settle
        c.settled = null;
        plot(c, args.figure);
      }
      unpaint(c);
    }
    if (args.scrub) announce(c, scrubbing ? c.shown : c.pageFilter, !scrubbing);
  } catch (error) {
    showError(c, error);
  }
}

function settle(c) {
  if (c.destroyed) return;
  if (c.holding) {
    c.timers.settle = setTimeout(() => settle(c), SETTLE_AFTER);
    return;
  }
  if (!(c.args && c.args.scrub && c.maps && c.shown !== c.pageFilter) || c.settled === c.shown) return;
  c.settled = c.shown;
  plot(c, figureFor(c, c.shown));
  unpaint(c);
  announce(c, c.shown, false);
}

// The number beside the control names the maps on screen, set in the same frame; the Plotly div's
// data-filter says the same for tests and the benchmark, and "convlab:drawn" tells them of each draw.
function announce(c, filter, exact) {
  const chart = c.chart;
  c.number.textContent = filter;
  c.control.setAttribute("aria-valuetext", "Filter " + filter + " of " + filterCount(c));
  describe(c, filter);
  chart.dataset.filter = filter;
  chart.dataset.exact = exact ? "yes" : "no";
  chart.dataset.draws = Number(chart.dataset.draws || 0) + 1;
  chart.dispatchEvent(new CustomEvent("convlab:drawn", {detail: {filter: filter, exact: exact, painted: c.painted !== null,
                                                                 z: (slot, name) => shownMap(c, slot, name)}}));
}

// The map on screen of image `slot`, layer `name` (what a test compares with the model's).
function shownMap(c, slot, name) {
  if (c.painted !== null) {
    const layer = c.maps.layers.find((layer) => layer.name === name);
    return layer && c.painted < layer.filters ? decoded(layer, slot, c.painted) : null;
  }
  const trace = (c.chart.data || []).find((trace) => trace.meta && trace.meta.slot === slot && trace.meta.layer === name);
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
export function describe(c, filter) {
  const args = c.args, described = c.described;
  c.describedFilter = filter;
  if (!args || !args.describe || filter === null || filter === undefined) {
    described.replaceChildren();
    return;
  }
  const names = args.describe.images || [];
  const panels = (c.chart.data || []).filter((trace) => trace.meta && trace.meta.layer && trace.meta.layer !== "input")
    .map((trace) => [trace.meta.slot, trace.meta.layer]);
  if (c.painted !== null) {  // the painted maps: every layer's, also where the plotted figure had a note
    c.maps.layers.forEach((layer) => { for (let slot = 0; slot < c.maps.images; slot++) panels.push([slot, layer.name]); });
  }
  const seen = new Set(), lines = [];
  for (const [slot, name] of panels.sort((a, b) => a[0] - b[0])) {
    if (seen.has(slot + "/" + name)) continue;
    seen.add(slot + "/" + name);
    const z = shownMap(c, slot, name);
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
function nameToolbar(c) {
  for (const button of c.chart.querySelectorAll(".modebar-btn[data-title]:not([aria-label])")) {
    button.setAttribute("aria-label", button.getAttribute("data-title"));
  }
}

// For the tests and the benchmark (the Plotly div's convlabShown()): what the chart shows now, each map
// by "slot/layer", and the colours painted over the panels (RGB, row by row) while a filter is painted.
export function shown(c) {
  const chart = c.chart;
  const now = {filter: Number(chart.dataset.filter), exact: chart.dataset.exact === "yes", painted: c.painted !== null,
               maps: {}, colours: {}};
  for (const trace of chart.data || []) {
    if (trace.meta && trace.meta.layer && trace.meta.layer !== "input") now.maps[trace.meta.slot + "/" + trace.meta.layer] = null;
  }
  if (c.maps) c.maps.layers.forEach((layer) => { for (let slot = 0; slot < c.maps.images; slot++) now.maps[slot + "/" + layer.name] = null; });
  for (const key of Object.keys(now.maps)) {
    const [slot, name] = key.split("/");
    now.maps[key] = shownMap(c, Number(slot), name);
  }
  if (c.painted !== null) {
    for (const {canvas, key} of c.pieces) {
      if (canvas.style.display === "none" || canvas.width < 2) continue;
      const rgba = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      now.colours[key] = Array.from(rgba).filter((_, i) => i % 4 !== 3);
    }
  }
  return now;
}

// -- painting a filter over the panels ------------------------------------------------------------
// The maps' colour scale as a table of colours (figure.js's paletteOf, c.palette), made again when the
// page's colour map changes; a canvas and a note per map panel (c.pieces), reused.
function piece(c, index) {
  const pieces = c.pieces;
  if (!pieces[index]) {
    const canvas = document.createElement("canvas"), note = document.createElement("div");
    c.overlay.append(canvas, note);
    pieces[index] = {canvas: canvas, note: note};
  }
  return pieces[index];
}

// Filter `filter`'s maps painted over the map panels where Plotly put them (its laid-out axes).
function paint(c, filter) {
  const scrub = c.args.scrub, full = c.chart._fullLayout, maps = c.maps, theme = c.theme;
  if (!full) return;
  const scale = JSON.stringify(scrub.trace.colorscale);
  if (scale !== c.paletteScale) [c.palette, c.paletteScale] = [paletteOf(scrub.trace.colorscale), scale];
  const palette = c.palette, pieces = c.pieces;
  const columns = maps.layers.length + 1;
  const {columnHighs, figureHigh} = highsOf(maps, filter);
  const font = (scrub.note.font.size || 13) + "px " + ((theme && theme.font) || "sans-serif");
  let used = 0;
  for (let row = 0; row < maps.images; row++) {
    maps.layers.forEach((layer, index) => {
      const suffix = String(row * columns + index + 2);
      const xa = full["xaxis" + suffix], ya = full["yaxis" + suffix];
      if (!xa || !ya) return;
      const current = piece(c, used++), {canvas, note} = current;
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
  labelColourBars(c, scrub.scale, columnHighs, figureHigh);
  c.stage.classList.add("scrubbing");
  c.painted = filter;
}

// The shared scales' colour bars keep their gradient (always 0 to the range's top); their
// numbers are hidden while a filter is painted, and its range's ends written at the bar's ends.
function labelColourBars(c, scale, columnHighs, figureHigh) {
  const theme = c.theme, barLabels = c.barLabels;
  let used = 0;
  if (scale !== "panel") {
    const origin = c.stage.getBoundingClientRect(), full = c.chart._fullLayout;
    const centres = columnHighs.map((_, index) => {
      const xa = full["xaxis" + String(index + 2)];
      return xa ? origin.left + xa._offset + xa._length / 2 : null;
    });
    for (const bar of c.chart.querySelectorAll("g.colorbar")) {
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
        if (!barLabels[used]) c.overlay.append(barLabels[used] = document.createElement("span"));
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

function unpaint(c) {
  if (c.painted === null) return;
  for (const {canvas, note} of c.pieces) canvas.style.display = note.style.display = "none";
  for (const label of c.barLabels) label.style.display = "none";
  c.stage.classList.remove("scrubbing");
  c.painted = null;
}

// A click on a heatmap cell: which panel (the trace's meta, set by the figure; a tiles figure's
// customdata) and which cell; with args.points, a click on any other point: its x, y, trace and
// number; and a chart laid out anew (resized, full screen) while a filter is painted over it: paint again.
function wireEvents(c) {
  const chart = c.chart;
  if (c.eventsWired || !chart.on) return;
  c.eventsWired = true;
  chart.on("plotly_afterplot", () => { if (c.painted !== null) requestDraw(c); });
  chart.on("plotly_click", (event) => {
    const point = event && event.points && event.points[0];
    if (!point || !point.data) return;
    if (c.points && !(point.data.type === "heatmap" && point.data.meta)) {  // any other point (args.points)
      sendValue(c, {kind: "click", click: {panel: null, x: point.x, y: point.y, curve: point.curveNumber,
                                            point: point.pointNumber}, n: eventId()});
      return;
    }
    if (!(c.fit || c.clicks) || point.data.type !== "heatmap" || !point.data.meta) return;
    if (point.data.meta.mosaic) {  // a tiles figure, one heatmap: the cell's tile and its place in it
      const [tile, x, y] = point.data.customdata[point.y][point.x];
      if (tile >= 0) sendValue(c, {kind: "click", click: {panel: {tile: tile}, x: x, y: y}, n: eventId()});
      return;
    }
    sendValue(c, {kind: "click", click: {panel: point.data.meta, x: point.x, y: point.y}, n: eventId()});
  });
}
