// The room the chart has, told to the page (args.fit): the rest of the window below the chart, or
// the whole screen in full screen, so the page can lay the figure out to fit.

import {fullScreenSize, inFullScreen} from "./state.js";
import {sendValue} from "./protocol.js";

// Where the chart's plot starts on the page when it is scrolled to the top: the window's height
// below that is what the chart may fill without scrolling.
function roomOnPage(c) {
  let top = c.chart.getBoundingClientRect().top;
  for (let node = c.root.parentElement; node; node = node.parentElement) top += node.scrollTop || 0;
  top += window.scrollY || 0;
  return {width: c.root.clientWidth, height: Math.round(window.innerHeight - top - 8)};
}

export function reportRoom(c) {
  if (!c.fit || c.destroyed) return;
  const room = inFullScreen(c) ? fullScreenSize(c) : roomOnPage(c);
  const now = {width: room.width, height: room.height, fullscreen: inFullScreen(c)};
  const last = c.reportedRoom;
  const moved = !last || now.fullscreen !== last.fullscreen
    || Math.abs(now.width - last.width) > 8 || Math.abs(now.height - last.height) > 8;
  if (moved && now.width > 0) {
    c.reportedRoom = now;
    sendValue(c, now);
  }
}

// The window resized (main.js tells every chart) or the chart's own width changed (the sidebar
// opened or closed): the room once the size has rested.
export function reportRoomSoon(c) {
  clearTimeout(c.timers.resize);
  c.timers.resize = setTimeout(() => reportRoom(c), 150);
}

// A chart put back on the page (main.js's revive) keeps the width it had: reading it now would lay the page
// out in the middle of React's update; the observer's first call, after layout, tells if it changed.
export function watchRoom(c) {
  if (c.roomWidth === null) c.roomWidth = c.root.clientWidth;
  c.resizeObserver = new ResizeObserver(() => {
    if (Math.abs(c.root.clientWidth - c.roomWidth) < 1) return;  // its height follows the figure: not a new room
    c.roomWidth = c.root.clientWidth;
    reportRoomSoon(c);
  });
  c.resizeObserver.observe(c.root);
}
