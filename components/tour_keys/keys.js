// The lesson tour's ← → keys (ui/tour.py mounts this st.components.v2 component, without markup, in the
// tour's strip). One listener on the page asks the server to move one step from the step this page shows,
// and names that step: a press that reaches the server after the step has changed (a rerun still on its
// way, a copy of the strip about to go) is dropped there, never applied to the next step as well.
// (Streamlit's button shortcuts bind a handler per mounted button, stale copies included: one ← once
// moved the tour two steps back.)
const MOVES = {ArrowLeft: -1, ArrowRight: 1};
// Someone typing in a box, moving a slider, in a menu or a list, or reading a popover: those keys are theirs.
const BUSY = "input, textarea, select, [contenteditable], [role=slider], [role=dialog], [role=menu], " +
  "[role=menuitem], [role=listbox], [role=option], [role=combobox], [role=radio], [role=tab]";

function onKey(event) {
  const tour = window.convlabTourKeys;
  const by = MOVES[event.key];
  if (!by || !tour || !tour.send || event.defaultPrevented) return;  // (a chart's own keys stop before here)
  if (event.ctrlKey || event.metaKey || event.altKey || event.shiftKey) return;
  if (event.target && event.target.closest && event.target.closest(BUSY)) return;
  if (tour.step + by < 1) return;  // nothing before the first step
  event.preventDefault();
  tour.send("move", {from: tour.step, by: by, n: ++tour.presses});
}

export default function ({data, parentElement, setTriggerValue}) {
  // One record per page, whichever copy of this module a render ran in: the step shown and how to ask.
  const tour = window.convlabTourKeys || (window.convlabTourKeys = {presses: 0, listener: null});
  Object.assign(tour, {parent: parentElement, step: data.step, send: setTriggerValue});
  if (!tour.listener) {
    tour.listener = onKey;
    document.addEventListener("keydown", tour.listener);
  }
  // Streamlit may call the cleanup of a render a newer one overtook: only a strip gone from the page stops the keys.
  return () => setTimeout(() => {
    if (tour.parent !== parentElement || parentElement.isConnected) return;
    document.removeEventListener("keydown", tour.listener);
    Object.assign(tour, {listener: null, send: null, parent: null});
  }, 0);
}
