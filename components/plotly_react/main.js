// A chart's start (loader.js calls mount for each chart Streamlit mounts, again on each new render,
// and its cleanup when the chart leaves the page): one object per chart (state.js), the render
// from the page, the keys on the chart and, in presenter mode, on the page; the page's listeners,
// registered once for every chart; and window.convlabCharts, where a class's page
// (components/class_follow) hands a teacher's filter to a chart.

import {createChart, inFullScreen} from "./state.js";
import {eventId, plotly, plotlyLoaded, sendValue, showError, themeOf, unpacked} from "./protocol.js";
import {loadMaps} from "./maps.js";
import {answered, labelPlay, reducedMotion, release, reportSoon, setShown, step, stopPlaying, togglePlay, wireControl} from "./control.js";
import {fullScreenChanged, requestDraw, shown} from "./draw.js";
import {reportRoom, reportRoomSoon, watchRoom} from "./room.js";

const charts = new WeakMap();  // Streamlit's element -> its chart
const live = new Set();  // the charts on the page, for the page's listeners
// A view left takes its charts off the page, and opening it again mounts them anew: each drawn chart is
// kept aside by its key (the newest PARKED), drawn as it was, and put back when a chart of that key mounts;
// Plotly then redraws it only if the page's figure differs (draw.js). A revisit skips Plotly's whole draw.
const PARKED = 24;
const parked = new Map();  // key -> a chart off the page, oldest first

// The charts by their Streamlit key, for a class's page: follow(filter, version) and
// followJourney(filter, version) (components/class_follow).
if (!window.convlabCharts) window.convlabCharts = new Map();

// -- keys ------------------------------------------------------------------------------------
const FILTER_KEYS = ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "PageUp", "PageDown", "Home", "End"];
const IMAGE_KEYS = ["1", "2", "3", "ArrowUp", "ArrowDown"];
const modified = (event) => event.ctrlKey || event.metaKey || event.altKey;
const inButton = (target) => target && target.closest && target.closest("button");
// Someone typing in a box or moving a slider: those handle their own keys.
const busy = (target) => target && target.closest && target.closest("input, textarea, select, [contenteditable], [role=slider]");

// On the chart or its control (and anywhere while it fills the screen): the filter keys step the control.
// A key pressed in the chart is the chart's alone, as it was in its own frame: the page's listeners
// (presenter keys, the tour's ← → shortcuts) never hear it.
function onOwnKey(c, event) {
  event.stopPropagation();
  onChartKey(c, event);
}
function onChartKey(c, event) {
  if (!c.args || !c.args.scrub || modified(event) || event.target === c.speedBox) return;
  if (FILTER_KEYS.includes(event.key)) {
    event.preventDefault();
    stopPlaying(c);
    step(c, event.key);
  } else if (event.key === " " && !inButton(event.target)) {  // a button's own
    event.preventDefault();
    togglePlay(c);
  }
}

// Presenter mode (args.pageKeys): the same keys anywhere on the page, but ↑ ↓ and 1 2 3, which
// pick and step an image, go to the page.
function onPageKey(c, event) {
  const args = c.args;
  if (!c.pageKeys || document.fullscreenElement || modified(event) || busy(event.target)) return;
  if (IMAGE_KEYS.includes(event.key)) {
    event.preventDefault();
    sendValue(c, {kind: "key", key: event.key, n: eventId()});
  } else if (FILTER_KEYS.includes(event.key) && args && args.scrub) {
    event.preventDefault();
    stopPlaying(c);
    step(c, event.key);
  } else if (event.key === " " && args && args.scrub && !inButton(event.target)) {
    event.preventDefault();
    togglePlay(c);
  }
}

// -- the page's listeners, once for every chart on it ------------------------------------------
const page = {
  keydown(event) {  // (a key in a chart stops there: onOwnKey)
    const full = [...live].find((c) => inFullScreen(c));
    if (full) onChartKey(full, event);  // the chart filling the screen takes the keys pressed outside it
    else for (const c of live) onPageKey(c, event);
  },
  resize() { for (const c of live) reportRoomSoon(c); },
  fullscreenchange() {
    for (const c of live) if (fullScreenChanged(c)) reportRoom(c);
  },
  pointerup() { for (const c of live) release(c); },
  motion() {
    for (const c of live) {
      stopPlaying(c);
      labelPlay(c);
    }
  },
};
function listen(on) {
  const method = on ? "addEventListener" : "removeEventListener";
  document[method]("keydown", page.keydown);
  document[method]("fullscreenchange", page.fullscreenchange);
  window[method]("resize", page.resize);
  window[method]("pointerup", page.pointerup);
  window[method]("pointercancel", page.pointerup);
  reducedMotion[method]("change", page.motion);
}

// -- following a teacher (a class's page: components/class_follow) ---------------------------
// The class's filter, painted from the held maps like a move of the control, but never told to
// the page: it is the teacher's move, not this page's. True when this chart can show it. A page
// drawn as not following, or whose own move isn't answered yet (it detaches the page), shows its own.
function follow(c, filter, version) {
  if (c.destroyed || !c.args || !c.args.scrub || !Number.isInteger(filter)) return false;
  if (c.ownMove || c.args.scrub.class_version === undefined) return false;
  c.followed = {filter: filter, version: version};
  clearTimeout(c.reportTimer);
  stopPlaying(c, false);
  setShown(c, filter, false);
  return true;
}
// New images for the class: the filter painted if held, and the journey's own run asked to
// draw the images (it reads the class's view); the page then sends their maps and figure.
function followJourney(c, filter, version) {
  if (!follow(c, filter, version)) return false;
  sendValue(c, {kind: "follow", version: version, n: eventId()});
  return true;
}

// -- a render from the page ------------------------------------------------------------------
function render(c, args) {
  // the figure and config as sent (its arrays packed: cheap to compare, draw.js's plot) and as Plotly takes it
  c.args = args = Object.assign({}, args, {figure: unpacked(args.figure), sent: JSON.stringify([args.figure, args.config])});
  c.theme = themeOf(c.parent);
  c.root.setAttribute("aria-label", args.title || "Chart");
  c.pagePlotted = false;
  c.fit = !!args.fit;
  c.clicks = !!args.clicks;
  c.points = !!args.points;
  c.pageKeys = !!args.pageKeys;
  const scrub = args.scrub, theme = c.theme;
  c.bar.hidden = !scrub;
  if (scrub) {
    if (scrub.filter !== c.pageFilter) {
      // The page's filter changed. Our own report coming back, even late, leaves the control where
      // the hand has moved it since; any other change (typed, a tile, a URL) moves the control.
      const echo = answered(c, scrub.filter) && c.shown !== null;
      c.pageFilter = scrub.filter;
      clearTimeout(c.reportTimer);
      if (!echo) c.shown = scrub.filter;
      else if (c.shown !== c.pageFilter) reportSoon(c);  // moved on since (held while a newer report is out)
    }
    // A class's filter painted here after the view this render comes from: it stays on screen.
    const followed = c.followed;
    if (scrub.class_version === undefined) {  // not following (any more): a class's filter painted here goes
      if (followed && c.shown === followed.filter && !c.ownMove) c.shown = scrub.filter;
      c.followed = null;
    } else {
      if (followed && followed.version > scrub.class_version) c.shown = followed.filter;
      if (!c.pending.length && c.shown === scrub.filter) c.ownMove = false;  // following, our moves answered
    }
    c.control.max = scrub.filters - 1;
    c.count.textContent = scrub.filters;
    if (c.shown > scrub.filters - 1) setShown(c, scrub.filters - 1);
    c.control.value = c.shown;
    c.bar.style.fontSize = 14 * (scrub.font_scale || 1) + "px";
    if (theme) {  // the page's look: its font, text colour (the accent comes through the CSS)
      c.bar.style.fontFamily = theme.font || "";
      c.bar.style.color = theme.textColor || "";
    }
    if (scrub.url !== c.mapsName) {  // new images or another model: their maps, fetched once
      const name = c.mapsName = scrub.url;
      c.maps = null;
      delete c.chart.dataset.maps;  // the file of the maps held, for the benchmark: none until they come
      loadMaps(name).then((loaded) => {
        if (c.mapsName !== name || c.destroyed) return;
        c.maps = loaded;
        c.chart.dataset.maps = name;
        if (c.shown !== c.pageFilter) requestDraw(c);
      }).catch((error) => console.error("plotly_react: " + error.message + "; only the page's filter can be drawn"));
    }
  }
  requestDraw(c);
}

function create(parentElement, key) {
  const c = createChart(parentElement);
  c.key = key;
  wireControl(c);
  c.root.addEventListener("keydown", (event) => onOwnKey(c, event), {signal: c.listening.signal});
  watchRoom(c);
  c.chart.convlabShown = () => shown(c);  // for the tests and the benchmark
  if (live.size === 0) listen(true);
  live.add(c);
  charts.set(parentElement, c);
  return c;
}

// The chart off the page and quiet: no timers, no observer, not among the page's charts or the class's.
function detach(c) {
  stopPlaying(c, false);
  for (const timer of [c.reportTimer, ...Object.values(c.timers)]) clearTimeout(timer);
  if (c.resizeObserver) c.resizeObserver.disconnect();
  if (window.convlabCharts.get(c.key) === c.registered) window.convlabCharts.delete(c.key);
  live.delete(c);
  charts.delete(c.parent);
  if (live.size === 0) listen(false);
}

// The chart's element left the page: its chart, drawn, is kept aside (its own listeners stay on its elements).
function park(c) {
  detach(c);
  c.parked = true;
  const before = parked.get(c.key);
  parked.delete(c.key);
  if (before && before !== c) destroy(before);
  parked.set(c.key, c);
  for (const [key, old] of parked) {
    if (parked.size <= PARKED) break;
    parked.delete(key);
    destroy(old);
  }
}

// A chart of a parked key mounts: the kept chart takes the place of the element's fresh markup.
function revive(c, parentElement) {
  parentElement.querySelector(".convlab-chart").replaceWith(c.root);
  c.parent = parentElement;
  c.parked = false;
  watchRoom(c);
  if (live.size === 0) listen(true);
  live.add(c);
  charts.set(parentElement, c);
  return c;
}

function destroy(c) {
  c.destroyed = true;
  detach(c);
  c.listening.abort();
  if (plotly() && c.chart.data) plotly().purge(c.chart);
}

// Streamlit's call, on the chart's first render and on each later one (new data or theme): the
// same element each time, so the chart is found again and handed the new arguments.
export function mount({data, parentElement, setStateValue}) {
  let c = charts.get(parentElement);
  if (!c) {
    const kept = data.key ? parked.get(data.key) : null;
    if (kept) parked.delete(data.key);
    c = kept ? revive(kept, parentElement) : create(parentElement, data.key);
  }
  c.setStateValue = setStateValue;
  if (c.key !== data.key && window.convlabCharts.get(c.key) === c.registered) window.convlabCharts.delete(c.key);
  c.key = data.key;
  if (!c.registered) c.registered = {follow: (filter, version) => follow(c, filter, version),
                                     followJourney: (filter, version) => followJourney(c, filter, version)};
  if (c.key) window.convlabCharts.set(c.key, c.registered);
  plotlyLoaded().then(() => { if (!c.destroyed) render(c, data.args); }).catch((error) => showError(c, error));
}

// The chart's element left the page: its chart goes, with its timers and listeners. Streamlit also
// calls a cleanup for a render that a newer one overtook, on an element still on the page: kept.
// `now`: the element stays but another version of these modules takes it over (loader.js).
export function unmount(parentElement, now = false) {
  const c = charts.get(parentElement);
  if (!c || !(now || !parentElement.isConnected)) return;
  if (!now && c.key && c.chart.data) park(c);  // a drawn chart is kept aside, to be put back
  else destroy(c);  // another version of the modules takes the element over, or nothing was drawn to keep
}
