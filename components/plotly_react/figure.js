// The journey's figure for any filter, from the held maps: journey_figure's rules
// (convlab/figures/journey.py), and the maps' colour scale as a table of colours for painting.

import {decoded, highsOf, rangeTop} from "./maps.js";

// Chart c's page figure with every map swapped for filter `filter`'s: journey_figure's rules
// (colour ranges per panel, layer or figure from the exact maxima, one colour bar per shared
// range, "all zero" and "only N filters" notes), with hover saying the value is 8-bit.
export function figureFor(c, filter) {
  const scrub = c.args.scrub, base = c.args.figure, maps = c.maps, columns = maps.layers.length + 1;
  const layout = Object.assign({}, base.layout);
  const annotations = (base.layout.annotations || []).filter((note) => note.name !== "note");
  const notes = [];
  const note = (suffix, text, color) => Object.assign({}, scrub.note, {text: text, xref: "x" + suffix + " domain",
    yref: "y" + suffix + " domain", font: Object.assign({}, scrub.note.font, color ? {color: color} : {})});
  const {columnHighs, figureHigh} = highsOf(maps, filter);
  const bars = new Set();
  const data = [];
  for (let row = 0; row < maps.images; row++) {
    const input = base.data.find((trace) => trace.meta && trace.meta.slot === row && trace.meta.layer === "input");
    if (input) data.push(input);
    maps.layers.forEach((layer, index) => {
      const column = index + 1, suffix = String(row * columns + column + 1);
      const here = filter < layer.filters;
      layout["xaxis" + suffix] = Object.assign({}, base.layout["xaxis" + suffix], {visible: here});
      layout["yaxis" + suffix] = Object.assign({}, base.layout["yaxis" + suffix], {visible: here});
      if (!here) {
        notes.push(note(suffix, scrub.fewer[index]));
        return;
      }
      const high = layer.highs[row * layer.filters + filter];
      const trace = Object.assign({}, scrub.trace, {
        z: decoded(layer, row, filter), zmin: 0, zmax: rangeTop(scrub.scale, high, columnHighs[index], figureHigh),
        xaxis: "x" + suffix, yaxis: "y" + suffix, name: layer.name, meta: {slot: row, layer: layer.name},
        hovertemplate: scrub.trace.hovertemplate.replace("{bound}", (high / 510).toPrecision(2)),
      });
      const barKey = scrub.scale === "layer" ? String(column) : "figure";
      if (scrub.scale !== "panel" && !bars.has(barKey)) {
        bars.add(barKey);
        Object.assign(trace, {showscale: true, colorbar: scrub.colorbars[String(column)]});
      }
      if (high === 0) notes.push(note(suffix, "all zero", scrub.zero_color));
      data.push(trace);
    });
  }
  layout.annotations = annotations.concat(notes);
  return {data: data, layout: layout};
}

// The maps' colour scale (the page's colour map: inferno, viridis or cividis) as a table of 1024
// colours, as Plotly interpolates it: linearly in RGB.
export function paletteOf(scale) {
  const stops = scale.map(([position, colour]) => [position, colour.match(/[\d.]+/g).map(Number)]);
  const table = new Uint8ClampedArray(1024 * 3);
  for (let i = 0, k = 0; i < 1024; i++) {
    const t = i / 1023;
    while (k < stops.length - 2 && t > stops[k + 1][0]) k++;
    const [p0, c0] = stops[k], [p1, c1] = stops[k + 1];
    const f = p1 > p0 ? Math.min(Math.max((t - p0) / (p1 - p0), 0), 1) : 0;
    for (let j = 0; j < 3; j++) table[3 * i + j] = Math.round(c0[j] + (c1[j] - c0[j]) * f);
  }
  return table;
}
