// Every filter's maps of the journey's images, held in the browser: the packed maps' wire format
// (convlab/mapcodec.py), fetched once per set, each map decoded as mapcodec does, and the tops of
// the shared colour ranges.

import {asset} from "./protocol.js";

const fetched = new Map();  // file name -> promise of decoded maps (the last few sets)

// The packed maps' wire format (convlab/mapcodec.py): "CLMAPS", a uint32 header length, a JSON
// header, then per layer the maps' exact maxima (float32, images × filters) and their cells
// (a byte each, images × filters × side × side).
export function decodeMaps(buffer) {
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  if (bytes.length < 10 || new TextDecoder().decode(bytes.subarray(0, 6)) !== "CLMAPS") throw new Error("not ConvLab's packed maps");
  const length = view.getUint32(6, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(10, 10 + length)));
  if (header.format !== 1) throw new Error("packed maps of format " + header.format + ", not 1");
  let offset = 10 + length;
  const layers = header.layers.map((layer) => {
    const count = header.images * layer.filters;
    const highs = new Float32Array(count);
    for (let i = 0; i < count; i++) highs[i] = view.getFloat32(offset + 4 * i, true);
    offset += 4 * count;
    const codes = bytes.subarray(offset, offset + count * layer.side * layer.side);
    offset += count * layer.side * layer.side;
    return {name: layer.name, side: layer.side, filters: layer.filters, highs: highs, codes: codes};
  });
  if (offset !== bytes.length) throw new Error("packed maps of the wrong length");
  return {images: header.images, layers: layers};
}

export function loadMaps(name) {
  if (!fetched.has(name)) {
    fetched.set(name, fetch(asset("../../../maps/" + name)).then((response) => {
      if (!response.ok) throw new Error("the maps could not be fetched (" + response.status + ")");
      return response.arrayBuffer();
    }).then(decodeMaps));
    if (fetched.size > 4) fetched.delete(fetched.keys().next().value);
  }
  return fetched.get(name);
}

// One map of one image, decoded as mapcodec does: code / 255 * its exact maximum.
export function decoded(layer, image, filter) {
  const side = layer.side, high = layer.highs[image * layer.filters + filter];
  const start = (image * layer.filters + filter) * side * side;
  const z = new Array(side);
  for (let row = 0; row < side; row++) {
    const cells = new Array(side);
    for (let col = 0; col < side; col++) cells[col] = layer.codes[start + row * side + col] / 255 * high;
    z[row] = cells;
  }
  return z;
}

// Filter `filter`'s largest value per layer column (null where the layer has fewer filters) and
// in the figure, from the maps' exact maxima: the tops of the shared colour ranges
// (convlab/figures/scales.py's ranges_of_highs, with a flat range's top at 1: ``top``).
export function highsOf(maps, filter) {
  const columnHighs = maps.layers.map((layer) => {
    if (filter >= layer.filters) return null;
    let high = 0;
    for (let image = 0; image < maps.images; image++) high = Math.max(high, layer.highs[image * layer.filters + filter]);
    return high;
  });
  return {columnHighs: columnHighs, figureHigh: Math.max(0, ...columnHighs.filter((high) => high !== null))};
}

// The top of a map's colour range under `scale` (figures.scales.floored_range: a flat range isn't drawn mid-scale).
export function rangeTop(scale, high, columnHigh, figureHigh) {
  const shared = scale === "layer" ? columnHigh : scale === "figure" ? figureHigh : high;
  return shared > 0 ? shared : 1;
}
