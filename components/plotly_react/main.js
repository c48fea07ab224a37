// The chart's start: a render from the page (Streamlit's "streamlit:render" message), the keys on
// the chart and, in presenter mode, on the page, and a class's filter handed over by class_follow.

import {S, bar, control, frame, inFullScreen, speedBox} from "./state.js";
import {borrowPageFonts, eventId, plotlyLoaded, send, sendValue, showError, title} from "./protocol.js";
import {loadMaps} from "./maps.js";
import {reportSoon, setShown, step, stopPlaying, togglePlay} from "./control.js";
import {requestDraw} from "./draw.js";

borrowPageFonts();

// -- keys ------------------------------------------------------------------------------------
const FILTER_KEYS = ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "PageUp", "PageDown", "Home", "End"];
// On the chart or its control (and so in full screen): the filter keys step the control.
document.addEventListener("keydown", (event) => {
  if (!S.args || !S.args.scrub || event.ctrlKey || event.metaKey || event.altKey || event.target === speedBox) return;
  if (FILTER_KEYS.includes(event.key)) {
    event.preventDefault();
    stopPlaying();
    step(event.key);
  } else if (event.key === " " && !(event.target.closest && event.target.closest("button"))) {  // a button's own
    event.preventDefault();
    togglePlay();
  }
});

// Presenter mode (args.pageKeys): the same keys anywhere on the page, but ↑ ↓ and 1 2 3, which
// pick and step an image, go to the page; unless someone is typing in a box or moving a
// slider, which handle their own keys.
let pageKeys = false;
const IMAGE_KEYS = ["1", "2", "3", "ArrowUp", "ArrowDown"];
const busy = (target) => target && target.closest && target.closest("input, textarea, select, [contenteditable], [role=slider]");
function onPageKey(event) {
  const args = S.args;
  if (!pageKeys || inFullScreen() || event.ctrlKey || event.metaKey || event.altKey || busy(event.target)) return;
  if (IMAGE_KEYS.includes(event.key)) {
    event.preventDefault();
    sendValue({kind: "key", key: event.key, n: eventId()});
  } else if (FILTER_KEYS.includes(event.key) && args && args.scrub) {
    event.preventDefault();
    stopPlaying();
    step(event.key);
  } else if (event.key === " " && args && args.scrub && !(event.target && event.target.closest && event.target.closest("button"))) {
    event.preventDefault();
    togglePlay();
  }
}
try {
  const page = window.parent.document;
  page.addEventListener("keydown", onPageKey);
  window.addEventListener("pagehide", () => page.removeEventListener("keydown", onPageKey));  // a chart gone: its listener too
} catch (error) { /* another origin: no page keys */ }

// -- following a teacher (a class's page: components/class_follow) ---------------------------
// The class's filter, painted from the held maps like a move of the control, but never told to
// the page: it is the teacher's move, not this page's. True when this chart can show it.
window.convlabFollow = (filter, version) => {
  if (!S.args || !S.args.scrub || !Number.isInteger(filter)) return false;
  S.followed = {filter: filter, version: version};
  clearTimeout(S.reportTimer);
  stopPlaying(false);
  setShown(filter, false);
  return true;
};
// New images for the class: the filter painted if held, and the journey's own run asked to
// draw the images (it reads the class's view); the page then sends their maps and figure.
window.convlabFollowJourney = (filter, version) => {
  if (!window.convlabFollow(filter, version)) return false;
  sendValue({kind: "follow", version: version, n: eventId()});
  return true;
};

// -- a render from the page ------------------------------------------------------------------
function render(newArgs) {
  const args = S.args = newArgs;
  const theme = S.theme;
  title(args.title || "Chart");
  S.pagePlotted = false;
  S.fit = !!args.fit;
  S.clicks = !!args.clicks;
  pageKeys = !!args.pageKeys;
  const scrub = args.scrub;
  bar.hidden = !scrub;
  if (scrub) {
    if (scrub.filter !== S.pageFilter) {
      // The page's filter changed. Our own report coming back leaves the control where the
      // hand has moved it since; any other change (typed, a tile, a URL) moves the control.
      const echo = S.shown !== null && scrub.filter === S.reported;
      if (scrub.filter === S.reported) S.reported = null;  // came back: a later change to it is someone else's
      S.pageFilter = scrub.filter;
      clearTimeout(S.reportTimer);
      if (!echo) S.shown = scrub.filter;
      else if (S.shown !== S.pageFilter) reportSoon();  // moved on since
    }
    // A class's filter painted here after the view this render comes from: it stays on screen.
    const followed = S.followed;
    if (followed && scrub.class_version !== undefined && followed.version > scrub.class_version) S.shown = followed.filter;
    control.max = scrub.filters - 1;
    document.getElementById("count").textContent = scrub.filters;
    if (S.shown > scrub.filters - 1) setShown(scrub.filters - 1);
    control.value = S.shown;
    const size = 14 * (scrub.font_scale || 1);
    bar.style.fontSize = size + "px";
    if (theme) {  // the page's look: its font (borrowed above), text and accent colours
      if (theme.primaryColor) frame.style.setProperty("--primary", theme.primaryColor);
      bar.style.fontFamily = theme.font || "";
      bar.style.color = theme.textColor || "";
    }
    if (scrub.url !== S.mapsName) {  // new images or another model: their maps, fetched once
      const name = S.mapsName = scrub.url;
      S.maps = null;
      loadMaps(name).then((loaded) => {
        if (S.mapsName !== name) return;
        S.maps = loaded;
        if (S.shown !== S.pageFilter) requestDraw();
      }).catch((error) => console.error("plotly_react: " + error.message + "; only the page's filter can be drawn"));
    }
  }
  requestDraw();
}

window.addEventListener("message", (event) => {
  if (event.data && event.data.type === "streamlit:render") {
    S.theme = event.data.theme;
    // the page's own background behind the chart, so a reader of this frame alone (axe) sees its real contrast
    document.documentElement.style.background = (S.theme && S.theme.backgroundColor) || "";
    plotlyLoaded.then(() => render(event.data.args)).catch(showError);
  }
});
send("streamlit:componentReady", {apiVersion: 1});
