// What the chart's modules share: the page's elements, the newest render's arguments and the
// filter on screen, in one object (S) each module reads and writes; the frame's full-screen size.

export const frame = document.getElementById("frame");
export const bar = document.getElementById("bar");
export const chart = document.getElementById("chart");
export const control = document.getElementById("filter");
export const playButton = document.getElementById("play");
export const speedBox = document.getElementById("speed");
export const stage = document.getElementById("stage");
export const overlay = document.getElementById("overlay");

export const S = {
  args: null,  // the newest render's arguments
  theme: null,  // the page's theme, from the same render
  figureHeight: null,  // the height the figure asks for, outside full screen
  shown: null,  // the filter the control shows
  pageFilter: null,  // the page's filter, as last rendered
  reported: null,  // the filter last told to the page
  reportTimer: null,
  maps: null,  // the decoded maps of args.scrub.url, once fetched
  mapsName: null,  // the file they come from
  holding: false,  // a hand holds the slider
  lastMove: -Infinity,  // when the control last moved
  pagePlotted: false,  // Plotly shows args.figure
  painted: null,  // the filter painted over the panels, or null
  followed: null,  // {filter, version}: the class's newest filter painted here
  fit: false,  // tell the page the room the chart has
  clicks: false,  // report clicks on heatmap cells (always, with fit)
};

export const filterCount = () => (S.args && S.args.scrub ? S.args.scrub.filters : 1);

export const inFullScreen = () => document.fullscreenElement === frame;
export const fullScreenSize = () => ({
  width: frame.clientWidth - 24,
  height: frame.clientHeight - 16 - (bar.hidden ? 0 : bar.offsetHeight),
});
