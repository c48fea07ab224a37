// What the chart tells the page (its value, through Streamlit's setStateValue), the page's theme
// (Streamlit's --st-… custom properties), plotly.js loaded once per page, and an error shown in place.

// These modules come from /convlab/assets/<version>/plotly_react/ (ui/assets.py), where the browser keeps
// them; plotly.js from the same version's vendor/ folder, the packed maps from /convlab/maps/.
export const asset = (path) => new URL(path, import.meta.url).href;

// plotly.js once per page, however many charts (and whichever version of these modules) ask for it:
// one promise on window, resolved with our plotly.js. Kept apart from window.Plotly, which Streamlit's own
// chart code (another, full build of another release) sets too when it loads: the charts draw with ours,
// the release the figures are built for, and Streamlit's keeps its own.
export const plotly = () => window.convlabPlotlyObject || null;

export function plotlyLoaded() {
  if (!window.convlabPlotly) {
    window.convlabPlotly = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      const before = window.Plotly;
      script.src = asset("../vendor/plotly.js-cartesian/plotly-cartesian.min.js");
      script.onload = () => {
        window.convlabPlotlyObject = window.Plotly;
        if (before) window.Plotly = before;  // Streamlit's, as it was
        resolve(window.convlabPlotlyObject);
      };
      script.onerror = () => {
        window.convlabPlotly = null;  // a later chart tries again
        reject(new Error("could not load " + script.src));
      };
      document.head.appendChild(script);
    });
  }
  return window.convlabPlotly;
}

// Each event's number is new for this page, also after the chart is drawn again (a view left
// and opened): the page drops an event whose number it has seen (ui/charts.chart_event).
const instance = Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
let events = 0;
export const eventId = () => instance + "-" + (++events);

// The chart's value, one dict merged from every report ({width, height, fullscreen} and the newest
// event), as the page reads it (ui/charts.chart_room); setting it reruns the page.
export function sendValue(c, extra) {
  c.value = Object.assign({}, c.value, extra);
  if (c.setStateValue && !c.destroyed) c.setStateValue("report", c.value);
}

// The page's theme, as Streamlit sets it on the component's element (custom properties --st-…).
export function themeOf(element) {
  const style = getComputedStyle(element);
  const read = (name) => style.getPropertyValue("--st-" + name).trim();
  const theme = {primaryColor: read("primary-color"), backgroundColor: read("background-color"),
                 textColor: read("text-color"), font: read("font")};
  return theme.font || theme.textColor ? theme : null;
}

// Streamlit's own charts follow the app's theme; a figure drawn here gets the same fonts
// and text colour, on a transparent background, unless the figure sets its own.
// A chart laid out by Plotly alone (not the journey, which fits itself to the room) makes room for its axes'
// labels, as the plotly package's and Streamlit's templates do, with faint grid lines.
const GRID = "rgba(49, 51, 63, 0.12)";
const AXES = {automargin: true, gridcolor: GRID, zerolinecolor: GRID};
export function themed(c, layout) {
  const theme = c.theme;
  const font = Object.assign({}, theme ? {family: theme.font, color: theme.textColor} : {}, layout.font || {});
  const template = c.args && (c.args.scrub || c.args.fit) ? {} : {template: {layout: {xaxis: AXES, yaxis: AXES}}};
  return Object.assign({paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", autosize: true},
                       template, layout, {font: font});
}

export function showError(c, error) {
  console.error("plotly_react:", error);
  c.chart.textContent = "This chart could not be drawn (" + error.message + "). Reload the page to try again.";
}

// A figure's long number arrays come as typed-array specs ({dtype, bdata, shape}: base64 of little-endian
// float32 or float64, convlab/figures/typed.py); here they become the nested arrays they were, NaN as
// null (a gap), so Plotly and this chart's code read exactly what the page built.
const isSpec = (value) => value && typeof value === "object" && typeof value.bdata === "string" && value.dtype && value.shape;
function decodedSpec(spec) {
  let bytes;
  if (Uint8Array.fromBase64) bytes = Uint8Array.fromBase64(spec.bdata);
  else {
    const text = atob(spec.bdata);
    bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  }
  const flat = spec.dtype === "f4" ? new Float32Array(bytes.buffer) : new Float64Array(bytes.buffer);
  const shape = String(spec.shape).split(",").map(Number);
  let at = 0;
  const build = (depth) => {
    const out = new Array(shape[depth]);
    for (let i = 0; i < shape[depth]; i++) {
      if (depth < shape.length - 1) out[i] = build(depth + 1);
      else { const value = flat[at++]; out[i] = Number.isNaN(value) ? null : value; }
    }
    return out;
  };
  return build(0);
}
export function unpacked(figure) {
  if (!figure || !Array.isArray(figure.data)) return figure;
  const data = figure.data.map((trace) => {
    let copy = trace;
    for (const [name, value] of Object.entries(trace)) {
      if (!isSpec(value)) continue;
      if (copy === trace) copy = Object.assign({}, trace);
      copy[name] = decodedSpec(value);
    }
    return copy;
  });
  return Object.assign({}, figure, {data: data});
}
