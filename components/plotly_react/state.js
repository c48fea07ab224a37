// One chart's elements and state: an object per chart on the page (main.js's mount makes it in the
// element Streamlit mounts the chart in), which every module is handed; the chart's full-screen size.

export function createChart(parentElement) {
  const root = parentElement.querySelector(".convlab-chart");
  const find = (name) => root.querySelector(".cl-" + name);
  return {
    parent: parentElement,  // Streamlit's element: its theme's custom properties (--st-…) are set around it
    root: root,
    bar: find("bar"),
    chart: find("chart"),  // the Plotly div
    control: find("filter"),
    playButton: find("play"),
    speedBox: find("speed"),
    number: find("number"),
    count: find("count"),
    stage: find("stage"),
    overlay: find("overlay"),
    described: find("described"),
    key: null,  // the chart's Streamlit key (window.convlabCharts)
    setStateValue: null,  // Streamlit's, for the newest call
    value: {},  // the merged value told to the page
    args: null,  // the newest render's arguments
    theme: null,  // the page's theme, read at the same render
    figureHeight: null,  // the height the figure asks for, outside full screen
    shown: null,  // the filter the control shows
    pageFilter: null,  // the page's filter, as last rendered
    pending: [],  // the filters told to the page and not yet answered, oldest first (control.js)
    reportedAt: -Infinity,  // when the newest of them was told
    reportTimer: null,
    maps: null,  // the decoded maps of args.scrub.url, once fetched
    mapsName: null,  // the file they come from
    holding: false,  // a hand holds the slider
    lastMove: -Infinity,  // when the control last moved
    pagePlotted: false,  // Plotly shows args.figure
    painted: null,  // the filter painted over the panels, or null
    followed: null,  // {filter, version}: the class's newest filter painted here
    ownMove: false,  // this page's hand moved the filter since the page last drew it following its class
    fit: false,  // tell the page the room the chart has
    clicks: false,  // report clicks on heatmap cells (always, with fit)
    points: false,  // report clicks on any other point too (a chart's selection: the confusion matrix, the portraits)
    pageKeys: false,  // presenter mode: the keys work anywhere on the page
    playTimer: null,
    timers: {rest: null, settle: null, resize: null},  // the plot after the hand rests, the settle after a paint, a resize
    plottedLayout: null,  // what the paint's positions depend on, as last plotted
    drawRequested: false,
    settled: null,  // or the filter of the held maps' figure Plotly shows instead
    describedFilter: null,
    palette: null,  // the maps' colour scale as a table of colours
    paletteScale: null,  // the scale it was made from, as JSON
    pieces: [],  // a canvas and a note per map panel, reused
    barLabels: [],  // the colour bars' ends while a filter is painted
    eventsWired: false,
    reportedRoom: null,  // the last {width, height, fullscreen} sent
    resizeObserver: null,
    roomWidth: null,  // the chart's width as last seen (room.js's watchRoom)
    fullScreen: false,  // the chart fills the screen (as last laid out)
    fullScreenButton: null,  // its button in Plotly's toolbar, made once
    listening: new AbortController(),  // the chart's listeners on its own elements
    registered: null,  // its entry in window.convlabCharts
    plotted: null,  // the page's figure Plotly last drew, as sent, and its theme and size (draw.js's plot)
    parked: false,  // off the page, kept to be put back (main.js)
    destroyed: false,
  };
}

export const filterCount = (c) => (c.args && c.args.scrub ? c.args.scrub.filters : 1);

export const inFullScreen = (c) => document.fullscreenElement === c.root;
export const fullScreenSize = (c) => ({
  width: c.root.clientWidth - 24,
  height: c.root.clientHeight - 16 - (c.bar.hidden ? 0 : c.bar.offsetHeight),
});
