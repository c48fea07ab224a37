// The room the chart has, told to the page (args.fit): the rest of the window below the chart, or
// the whole screen in full screen, so the page can lay the figure out to fit.

import {S, bar, fullScreenSize, inFullScreen} from "./state.js";
import {sendValue} from "./protocol.js";

let reportedRoom = null;  // the last {width, height, fullscreen} sent

// Where the chart starts on the page when it is scrolled to the top: the window's height
// below that is what the chart may fill without scrolling.
function roomOnPage() {
  const outer = window.frameElement;
  const host = outer && outer.ownerDocument.defaultView;
  if (!outer || !host) return {width: document.body.clientWidth, height: window.innerHeight};
  let top = outer.getBoundingClientRect().top + (bar.hidden ? 0 : bar.offsetHeight);
  for (let node = outer.parentElement; node; node = node.parentElement) top += node.scrollTop || 0;
  top += host.scrollY || 0;
  return {width: document.body.clientWidth, height: Math.round(host.innerHeight - top - 8)};
}

export function reportRoom() {
  if (!S.fit) return;
  const room = inFullScreen() ? fullScreenSize() : roomOnPage();
  const now = {width: room.width, height: room.height, fullscreen: inFullScreen()};
  const moved = !reportedRoom || now.fullscreen !== reportedRoom.fullscreen
    || Math.abs(now.width - reportedRoom.width) > 8 || Math.abs(now.height - reportedRoom.height) > 8;
  if (moved && now.width > 0) {
    reportedRoom = now;
    sendValue(now);
  }
}

let resizeTimer = null;
function reportRoomSoon() {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(reportRoom, 150);
}
window.addEventListener("resize", reportRoomSoon);
try { window.parent.addEventListener("resize", reportRoomSoon); } catch (error) { /* another origin */ }
document.addEventListener("fullscreenchange", reportRoom);
