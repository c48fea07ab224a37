// The drawing pad's script (components/drawpad/index.html says what the pad does): the picture and
// its strokes, the models run in this page (components/browser_model/model.js), the maps and bars
// painted, and Streamlit's component messages. window.__pad keeps the timings bench/drawpad.py reads.

import {loadModel} from "../browser_model/model.js";

const SIDE = 28;
const CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
  "Ankle boot"];
const UNDO_KEPT = 50;  // strokes
const LIMITS = {shift: 6, rotate: 45, zoom: [0.7, 1.3]};  // convlab/transforms.py's
const CENTRE = (SIDE - 1) / 2;

const $ = (id) => document.getElementById(id);
const pad = $("pad"), strip = $("strip"), slider = $("filter"), status = $("status");
const picture = new Float32Array(SIDE * SIDE);  // 0 (dark) .. 1 (light), row by row, as Fashion-MNIST
const undo = [];
const S = {
  args: null,
  tool: "pen",
  drawing: false,
  last: null,  // the last stroke point, in picture cells
  models: [],  // [{label, model}] once loaded; the page's model first
  modelsKey: null,
  problem: null,  // why the models can't run here
  startToken: null,
  pageFilter: null,  // the page's filter as last rendered
  lut: null,  // 256 × rgb of the maps' colour map
  dirtySince: null,  // the earliest change not painted yet (performance.now() clock)
  frame: 0,
  events: 0,
  probe: null,  // the shift probe's pictures and transform: {images, slot, transform, grab}
};
const timing = window.__pad = {times: [], updates: 0, inputs: 0, picture};

// -- Streamlit's component messages (as components/plotly_react/protocol.js) ----------------------
const send = (type, data) => window.parent.postMessage(Object.assign({isStreamlitMessage: true, type}, data), "*");
let value = {};
function sendValue(extra) {
  value = Object.assign({}, value, extra);
  send("streamlit:setComponentValue", {value, dataType: "json"});
}
let lastHeight = 0;
function fitHeight() {
  const height = Math.ceil(document.documentElement.getBoundingClientRect().height) + 4;
  if (height !== lastHeight) send("streamlit:setFrameHeight", {height: (lastHeight = height)});
}
new ResizeObserver(fitHeight).observe(document.body);

window.addEventListener("message", (event) => {
  if (!event.data || event.data.type !== "streamlit:render") return;
  const {args, theme} = event.data;
  if (theme) {
    document.body.style.color = theme.textColor || "";
    if (theme.font) document.body.style.fontFamily = theme.font;
    document.body.style.setProperty("--primary", theme.primaryColor || "#b83140");
  }
  render(args);
});

// -- the args: models, layers, colours, a picture to start from ------------------------------------
function render(args) {
  S.args = args;
  S.lut = lookup(args.colorscale);
  document.title = args.title || "Drawing pad";
  if (window.frameElement) window.frameElement.title = document.title;  // the frame, named for a screen reader
  const layers = args.layers || [];
  const most = Math.max(1, ...layers.map((layer) => layer[2]));
  slider.max = String(most - 1);
  $("count").textContent = String(most);
  if (args.filter !== S.pageFilter) {  // the page's filter moved (or first render): the slider follows it
    S.pageFilter = args.filter;
    slider.value = String(Math.min(Math.max(args.filter || 0, 0), most - 1));
  }
  $("number").textContent = slider.value;
  $("filter-row").hidden = !layers.length;  // a dense model: no maps, only its answer follows the pen
  buildStrip(layers);
  if (args.mode === "probe") probeRender(args);
  const start = args.start;
  if (start && start.token !== S.startToken) {
    S.startToken = start.token;
    undo.length = 0;
    picture.set(start.pixels.map((pixel) => pixel / 255));
  }
  const key = (args.models || []).map((entry) => entry.urls.checksum).join(",");
  if (key !== S.modelsKey) {
    S.modelsKey = key;
    loadModels(args.models || []);
  }
  changed();
  fitHeight();
}

async function loadModels(entries) {
  const key = entries.map((entry) => entry.urls.checksum).join(",");
  S.models = [];
  S.problem = null;
  status.textContent = "Loading the models into your browser…";
  const started = performance.now();
  try {
    // The page's model first: the pad answers the pen as soon as it is in; the other model's bars follow.
    for (const [i, entry] of entries.entries()) {
      const model = await loadModel(entry.urls);
      if (S.modelsKey !== key) return;  // another model was chosen meanwhile
      S.models = [...S.models, {label: entry.label, model}];
      timing.models = S.models.length;
      if (i === 0) {
        timing.loadedMs = performance.now() - started;
        status.textContent = `The models run in your browser (${model.backend.toUpperCase()}): ` +
          (S.probe ? "every move is answered here." : "every stroke is answered here.");
      }
      changed();
    }
  } catch (error) {
    if (S.modelsKey !== key) return;
    S.problem = error.message;
    status.textContent = `The models can't run in this browser: ${error.message} ` +
      "The page draws your picture's journey each time you lift the pen, which is slower.";
    sendValue({kind: "error", error: error.message, n: eventId()});
  }
}

// -- drawing ---------------------------------------------------------------------------------
function cellAt(event) {
  const box = pad.getBoundingClientRect();
  return {x: (event.clientX - box.left) / box.width * SIDE, y: (event.clientY - box.top) / box.height * SIDE};
}

function stamp(x, y) {
  const radius = Number($("size").value);
  const erase = S.tool === "eraser";
  for (let row = Math.max(0, Math.floor(y - radius - 1)); row <= Math.min(SIDE - 1, Math.ceil(y + radius + 1)); row++) {
    for (let col = Math.max(0, Math.floor(x - radius - 1)); col <= Math.min(SIDE - 1, Math.ceil(x + radius + 1)); col++) {
      const distance = Math.hypot(col + 0.5 - x, row + 0.5 - y);
      const cover = Math.min(1, Math.max(0, radius + 0.5 - distance));  // a soft edge one cell wide
      if (cover <= 0) continue;
      const at = row * SIDE + col;
      picture[at] = erase ? Math.min(picture[at], 1 - cover) : Math.max(picture[at], cover);
    }
  }
}

function strokeTo(point) {
  const from = S.last || point;
  const steps = Math.max(1, Math.ceil(Math.hypot(point.x - from.x, point.y - from.y) / 0.35));
  for (let step = 1; step <= steps; step++) {
    stamp(from.x + (point.x - from.x) * step / steps, from.y + (point.y - from.y) * step / steps);
  }
  S.last = point;
}

function remember() {
  undo.push(picture.slice());
  if (undo.length > UNDO_KEPT) undo.shift();
}

pad.addEventListener("pointerdown", (event) => {
  if (S.probe) return grab(event);
  try {
    pad.setPointerCapture(event.pointerId);  // the stroke goes on past the pad's edge
  } catch (error) {  // a pointer the browser doesn't track (a synthetic one): the stroke stops at the edge
  }
  remember();
  S.drawing = true;
  S.last = null;
  strokeTo(cellAt(event));
  changed(event.timeStamp);
});
pad.addEventListener("pointermove", (event) => {
  if (S.probe) return drag(event);
  if (!S.drawing) return;
  const moves = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const move of moves.length ? moves : [event]) strokeTo(cellAt(move));
  timing.inputs++;
  changed(event.timeStamp);
});
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => {
    if (S.probe && S.probe.grab) {
      S.probe.grab = null;
      reportTransform();
      return;
    }
    if (!S.drawing) return;
    S.drawing = false;
    S.last = null;
    report();
  });
}

function report() {
  const bytes = Array.from(picture, (pixel) => Math.round(pixel * 255));
  sendValue({kind: "drawn", pixels: bytes, n: eventId()});
}

function pressTool(tool) {
  S.tool = tool;
  $("pen").setAttribute("aria-pressed", String(tool === "pen"));
  $("eraser").setAttribute("aria-pressed", String(tool === "eraser"));
}
$("pen").addEventListener("click", () => pressTool("pen"));
$("eraser").addEventListener("click", () => pressTool("eraser"));
$("undo").addEventListener("click", () => {
  if (!undo.length) return;
  picture.set(undo.pop());
  changed();
  report();
});
$("invert").addEventListener("click", () => {
  remember();
  for (let i = 0; i < picture.length; i++) picture[i] = 1 - picture[i];
  changed();
  report();
});
$("clear").addEventListener("click", () => {
  remember();
  picture.fill(0);
  changed();
  report();
});
slider.addEventListener("input", () => {
  $("number").textContent = slider.value;
  changed();
});
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "z") $("undo").click();
  else if (event.target === pad && event.key === "e") pressTool("eraser");
  else if (event.target === pad && event.key === "p") pressTool("pen");
});

const instance = Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
function eventId() {
  return instance + "-" + (++S.events);
}

// -- the shift probe: a picture moved by the hand ------------------------------------------------
function probeRender(args) {
  document.body.classList.add("probe");
  $("tools").hidden = true;
  $("probe-tools").hidden = false;
  pad.setAttribute("aria-label", "The chosen picture, moved: drag it to shift it, the wheel zooms it");
  const key = JSON.stringify(args.images.map((image) => image.slice(0, 8)));
  if (!S.probe || S.probe.key !== key) {
    S.probe = {key, images: args.images.map((image) => Float32Array.from(image, (pixel) => pixel / 255)),
               slot: 0, transform: null, grab: null, names: args.names || []};
    $("slots").replaceChildren(...S.probe.images.map((_, slot) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = String(slot + 1);
      button.title = `Show image ${slot + 1}${S.probe.names[slot] ? ": " + S.probe.names[slot] : ""}`;
      button.addEventListener("click", () => { S.probe.slot = slot; markSlot(); moved(); });
      return button;
    }));
    markSlot();
  }
  const given = args.transform || {};
  if (!S.probe.grab && JSON.stringify(given) !== JSON.stringify(S.probe.given)) {  // the page's sliders moved
    S.probe.given = given;
    S.probe.transform = {shift_x: given.shift_x || 0, shift_y: given.shift_y || 0, rotate: given.rotate || 0,
                         zoom: given.zoom || 1};
    $("turn").value = String(S.probe.transform.rotate);
  }
  moved();
}

function markSlot() {
  [...$("slots").children].forEach((button, slot) => button.setAttribute("aria-pressed", String(slot === S.probe.slot)));
}

function grab(event) {
  try {
    pad.setPointerCapture(event.pointerId);
  } catch (error) {  // a synthetic pointer: the drag stops at the pad's edge
  }
  S.probe.grab = {x: event.clientX, y: event.clientY, from: Object.assign({}, S.probe.transform)};
}

function drag(event) {
  const grabbed = S.probe.grab;
  if (!grabbed) return;
  const cell = pad.getBoundingClientRect().width / SIDE;
  const within = (value) => Math.max(-LIMITS.shift, Math.min(LIMITS.shift, value));
  const x = within(grabbed.from.shift_x + Math.round((event.clientX - grabbed.x) / cell));
  const y = within(grabbed.from.shift_y + Math.round((event.clientY - grabbed.y) / cell));
  if (x === S.probe.transform.shift_x && y === S.probe.transform.shift_y) return;  // whole pixels only
  Object.assign(S.probe.transform, {shift_x: x, shift_y: y});
  timing.inputs++;
  moved(event.timeStamp);
}

pad.addEventListener("wheel", (event) => {
  if (!S.probe) return;
  event.preventDefault();
  const [low, high] = LIMITS.zoom;
  const zoom = Math.round((S.probe.transform.zoom + (event.deltaY < 0 ? 0.05 : -0.05)) * 20) / 20;
  S.probe.transform.zoom = Math.max(low, Math.min(high, zoom));
  moved(event.timeStamp);
  clearTimeout(S.probe.wheelTimer);
  S.probe.wheelTimer = setTimeout(reportTransform, 400);  // the hand stopped: the page takes it
}, {passive: false});
$("turn").addEventListener("input", (event) => {
  if (!S.probe) return;
  S.probe.transform.rotate = Number($("turn").value);
  moved(event.timeStamp);
});
$("turn").addEventListener("change", () => S.probe && reportTransform());
$("unmove").addEventListener("click", () => {
  if (!S.probe) return;
  S.probe.transform = {shift_x: 0, shift_y: 0, rotate: 0, zoom: 1};
  $("turn").value = "0";
  moved();
  reportTransform();
});

function moved(since) {
  const {transform, images, slot} = S.probe;
  $("turned").textContent = `${transform.rotate}°`;
  picture.set(transformed(images[slot], transform));
  changed(since);
}

function reportTransform() {
  const {shift_x, shift_y, rotate, zoom} = S.probe.transform;
  sendValue({kind: "transform", shift_x, shift_y, rotate, zoom, n: eventId()});
}

// convlab/transforms.py's apply: a whole-pixel shift exactly; a turn or a zoom as one affine map about
// the centre, sampled bilinearly with black beyond the edge (SciPy's "grid-constant"), clipped to 0–1.
function transformed(image, {shift_x, shift_y, rotate, zoom}) {
  const out = new Float32Array(SIDE * SIDE);
  if (rotate === 0 && zoom === 1) {
    for (let row = 0; row < SIDE; row++) {
      for (let col = 0; col < SIDE; col++) {
        const r = row - shift_y, c = col - shift_x;
        if (r >= 0 && r < SIDE && c >= 0 && c < SIDE) out[row * SIDE + col] = image[r * SIDE + c];
      }
    }
    return out;
  }
  const angle = rotate * Math.PI / 180, cos = Math.cos(angle), sin = Math.sin(angle);
  // the inverse of zoom · [[cos, −sin], [sin, cos]] (rows, cols): an output pixel's source
  const a = cos / zoom, b = sin / zoom, c = -sin / zoom, d = cos / zoom;
  const at = (r, c) => (r >= 0 && r < SIDE && c >= 0 && c < SIDE ? image[r * SIDE + c] : 0);
  for (let row = 0; row < SIDE; row++) {
    for (let col = 0; col < SIDE; col++) {
      const y = row - CENTRE - shift_y, x = col - CENTRE - shift_x;
      const sr = a * y + b * x + CENTRE, sc = c * y + d * x + CENTRE;
      const r0 = Math.floor(sr), c0 = Math.floor(sc), fr = sr - r0, fc = sc - c0;
      const value = at(r0, c0) * (1 - fr) * (1 - fc) + at(r0, c0 + 1) * (1 - fr) * fc +
        at(r0 + 1, c0) * fr * (1 - fc) + at(r0 + 1, c0 + 1) * fr * fc;
      out[row * SIDE + col] = Math.min(1, Math.max(0, value));
    }
  }
  return out;
}

// -- painting --------------------------------------------------------------------------------
function changed(since) {
  const at = since === undefined ? performance.now() : since;
  S.dirtySince = S.dirtySince === null ? at : Math.min(S.dirtySince, at);
  if (!S.frame) S.frame = requestAnimationFrame(update);
}

function update() {
  S.frame = 0;
  const since = S.dirtySince;
  S.dirtySince = null;
  paintGrey(pad, picture);
  paintGrey(strip.querySelector("canvas[data-layer=input]"), picture);
  if (S.models.length) {
    const results = S.models.map(({model}) => model.journey(picture));
    timing.last = {maps: results[0].maps, probabilities: results.map((result) => result.probabilities)};
    paintMaps(results[0].maps);
    paintBars(results.map((result, i) => ({label: S.models[i].label, probabilities: result.probabilities})));
  }
  requestAnimationFrame(() => {  // the next frame: what this one drew is on screen
    timing.times.push(performance.now() - since);
    if (timing.times.length > 5000) timing.times.splice(0, 1000);
    timing.updates++;
  });
}

function paintGrey(canvas, pixels) {
  if (!canvas) return;
  const image = new ImageData(SIDE, SIDE);
  for (let i = 0; i < pixels.length; i++) {
    const grey = Math.round(pixels[i] * 255);
    image.data.set([grey, grey, grey, 255], 4 * i);
  }
  canvas.getContext("2d").putImageData(image, 0, 0);
}

function buildStrip(layers) {
  const key = JSON.stringify(layers);
  if (strip.dataset.key === key) return;
  strip.dataset.key = key;
  strip.replaceChildren(panel("input", SIDE, "input 28×28"),
    ...layers.map(([name, side]) => panel(name, side, `${name} · ${side}×${side}`)));
}

function panel(layer, side, caption) {
  const figure = document.createElement("figure");
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = side;
  canvas.dataset.layer = layer;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", layer === "input" ? "Your drawing as the model sees it, 28 by 28" : caption);
  const text = document.createElement("figcaption");
  text.textContent = caption;
  figure.append(canvas, text);
  return figure;
}

function paintMaps(maps) {
  const filter = Number(slider.value);
  for (const map of maps) {
    const canvas = strip.querySelector(`canvas[data-layer="${map.layer}"]`);
    if (!canvas) continue;
    const [, side, , filters] = map.shape;
    const caption = canvas.nextSibling;
    const context = canvas.getContext("2d");
    if (filter >= filters) {
      context.clearRect(0, 0, side, side);
      caption.textContent = `${map.layer}: only ${filters} filters`;
      canvas.setAttribute("aria-label", caption.textContent);
      continue;
    }
    let high = 0;
    for (let cell = 0; cell < side * side; cell++) high = Math.max(high, map.data[cell * filters + filter]);
    const image = new ImageData(side, side);
    for (let cell = 0; cell < side * side; cell++) {
      const level = high > 0 ? Math.round(map.data[cell * filters + filter] / high * 255) : 0;
      image.data.set(S.lut[level], 4 * cell);
    }
    context.putImageData(image, 0, 0);
    caption.textContent = `${map.layer} · ${side}×${side}` + (high > 0 ? "" : " · all zero");
    canvas.setAttribute("aria-label", `${map.layer}, filter ${filter}: ` + (high > 0 ? `brightest ${high.toFixed(2)}` : "all zero"));
  }
}

function paintBars(models) {
  const box = $("models");
  if (box.children.length !== models.length) {
    box.replaceChildren(...models.map(() => {
      const block = document.createElement("div");
      block.className = "bars";
      block.innerHTML = "<h3></h3>" + CLASS_NAMES.map((name) =>
        `<div class="bar"><span>${name}</span><span><span class="fill"></span></span><span class="pct"></span></div>`
      ).join("");
      return block;
    }));
  }
  models.forEach(({label, probabilities}, i) => {
    const block = box.children[i];
    let best = 0;
    for (let c = 1; c < 10; c++) if (probabilities[c] > probabilities[best]) best = c;
    block.querySelector("h3").textContent = `${label}: ${CLASS_NAMES[best]} (${Math.round(probabilities[best] * 100)}%)`;
    block.querySelectorAll(".bar").forEach((row, c) => {
      row.classList.toggle("top", c === best);
      row.querySelector(".fill").style.width = `${(probabilities[c] * 100).toFixed(1)}%`;
      row.querySelector(".pct").textContent = `${(probabilities[c] * 100).toFixed(1)}%`;
    });
  });
}

// The maps' colour map as 256 steps (Plotly's colour scales interpolate linearly between their stops).
function lookup(colorscale) {
  const stops = (colorscale || [[0, "rgb(0, 0, 0)"], [1, "rgb(255, 255, 255)"]]).map(([position, colour]) =>
    [Number(position), colour.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number)]);
  return Array.from({length: 256}, (_, level) => {
    const t = level / 255;
    let i = 0;
    while (i < stops.length - 2 && t > stops[i + 1][0]) i++;
    const [p0, c0] = stops[i], [p1, c1] = stops[i + 1];
    const f = p1 > p0 ? Math.min(1, Math.max(0, (t - p0) / (p1 - p0))) : 0;
    return [...c0.map((v, k) => Math.round(v + (c1[k] - v) * f)), 255];
  });
}

send("streamlit:componentReady", {apiVersion: 1});
