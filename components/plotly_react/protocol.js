// Streamlit's component protocol (componentReady, render, setFrameHeight, setComponentValue), written
// out so no build step or npm package is needed; the page's theme and fonts; plotly.js, loaded once.

import {S, chart} from "./state.js";

// These modules come from /convlab/assets/<version>/plotly_react/ (ui/assets.py), where the browser keeps
// them; plotly.js from the same version's vendor/ folder, the packed maps from /convlab/maps/.
export const asset = (path) => new URL(path, import.meta.url).href;

export const plotlyLoaded = new Promise((resolve, reject) => {
  const script = document.createElement("script");
  script.src = asset("../vendor/plotly.js-cartesian/plotly-cartesian.min.js");
  script.onload = resolve;
  script.onerror = () => reject(new Error("could not load " + script.src));
  document.head.appendChild(script);
});

export function send(type, data) {
  window.parent.postMessage(Object.assign({isStreamlitMessage: true, type: type}, data), "*");
}

let lastHeight = 0;
export function setHeight(height) {
  if (height !== lastHeight) {
    lastHeight = height;
    send("streamlit:setFrameHeight", {height: height});
  }
}

// Each event's number is new for this page, also after the chart is drawn again (a tab left
// and opened): the page drops an event whose number it has seen (ui/charts.chart_event).
const instance = Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
let events = 0;
export const eventId = () => instance + "-" + (++events);
let value = {};

export function sendValue(extra) {
  value = Object.assign({}, value, extra);
  send("streamlit:setComponentValue", {value: value, dataType: "json"});
}

// The app's own font (Source Sans) is a web font of the page around this frame, which this
// frame doesn't load: borrow the page's loaded font faces (same origin), so the chart's
// titles match the rest of the page instead of falling back to the browser's sans-serif.
export function borrowPageFonts() {
  try {
    window.parent.document.fonts.forEach((face) => { if (!document.fonts.has(face)) document.fonts.add(face); });
  } catch (error) { /* another origin: the browser's fonts */ }
}

// Streamlit's own charts follow the app's theme; a figure drawn here gets the same fonts
// and text colour, on a transparent background, unless the figure sets its own.
export function themed(layout) {
  const theme = S.theme;
  const font = Object.assign({}, theme ? {family: theme.font, color: theme.textColor} : {}, layout.font || {});
  return Object.assign({paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", autosize: true},
                       layout, {font: font});
}

export function showError(error) {
  console.error("plotly_react:", error);
  chart.textContent = "This chart could not be drawn (" + error.message + "). Reload the page to try again.";
  setHeight(60);
}

// The frame's name for a screen reader: this document's title, and the iframe's own (Streamlit
// titles it with the component's module path), set through frameElement (same origin).
export function title(text) {
  if (document.title !== text) document.title = text;
  try {
    if (window.frameElement && window.frameElement.title !== text) window.frameElement.title = text;
  } catch (error) { /* another origin: the document's title alone */ }
}
