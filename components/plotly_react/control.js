// A chart's own filter control (args.scrub): the slider, its keys, play and its speed, and the
// filter on screen told to the page: one report at a time, the next once the page has answered.

import {filterCount} from "./state.js";
import {eventId, sendValue} from "./protocol.js";
import {requestDraw} from "./draw.js";

// One report in flight at a time: the next goes once the page's run has answered the last
// (render), at least REPORT_EVERY after it, so the page's box follows a moving filter as closely
// as the server keeps up, without a queue of runs behind a fast hand.
const REPORT_EVERY = 120;  // ms between two reports
const ANSWER_WITHIN = 3000;  // ms: a report unanswered this long (a run cut short) no longer holds the next
// A slow page can answer a report after the next has gone: the reports not yet answered are kept (the
// newest PENDING), so a late answer is known as ours and never moves the control back (main.js's render).
const PENDING = 16;

// `report` false: a move that isn't this page's (a class's filter), never told to the page.
export function setShown(c, filter, report = true) {
  filter = Math.min(Math.max(Math.round(filter), 0), filterCount(c) - 1);
  c.control.value = filter;
  if (filter === c.shown) return;
  c.shown = filter;
  c.lastMove = performance.now();
  requestDraw(c);
  if (!report) return;
  c.ownMove = true;  // a following student's move: the page stops following (main.js's follow)
  reportSoon(c);
}

const awaitingAnswer = (c) => c.pending.length > 0 && performance.now() - c.reportedAt < ANSWER_WITHIN;

// Tell the page the filter on screen: now if the last report was answered (and REPORT_EVERY has
// passed), else once it is (render calls this again) or has waited too long.
export function reportSoon(c) {
  clearTimeout(c.reportTimer);
  const now = performance.now();
  const at = awaitingAnswer(c) ? c.reportedAt + ANSWER_WITHIN : Math.max(now, c.reportedAt + REPORT_EVERY);
  c.reportTimer = setTimeout(() => (awaitingAnswer(c) ? reportSoon(c) : report(c)), at - now);
}

function report(c) {
  if (c.destroyed || c.shown === c.pageFilter || c.shown === c.pending.at(-1) && awaitingAnswer(c)) return;
  c.reportedAt = performance.now();
  c.pending = [...c.pending, c.shown].slice(-PENDING);
  sendValue(c, {kind: "filter", filter: c.shown, n: eventId()});
}

// The page rendered `filter`: true when it is one of our reports coming back (then it and the reports
// before it are answered; a newer one may still be on its way), false for anyone else's change (then
// none is awaited any more: the page has moved on from them all).
export function answered(c, filter) {
  const at = c.pending.lastIndexOf(filter);
  c.pending = at < 0 ? [] : c.pending.slice(at + 1);
  return at >= 0;
}

export function step(c, key) {
  const last = filterCount(c) - 1, page = Math.max(1, Math.round(last / 10));  // Page Up / Down: a tenth of the range
  const moves = {ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1, PageUp: page, PageDown: -page};
  setShown(c, key === "Home" ? 0 : key === "End" ? last : c.shown + (moves[key] || 0));
}

// Someone who asked their system for reduced motion gets no autoplay: ▶ becomes ⏭ and steps one
// filter a press (Space too). WCAG 2.2.2 and the WAI's technique C39 ask that content not move or
// change by itself for them; a slideshow of filters flips twelve maps at once up to four times a
// second, and a slower one still changes the screen without a hand on it. A press per filter keeps
// every change theirs, and the whole sequence still one key away. (main.js tells every chart of a change.)
export const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
const stepsOnly = () => reducedMotion.matches;

export function labelPlay(c) {
  const [text, title, label] = stepsOnly()
    ? ["⏭", "Next filter (Space): one filter a press, as your system asks for reduced motion", "Next filter"]
    : c.playTimer !== null ? ["⏸", "Pause (Space)", "Pause"]
      : ["▶", "Play: step through the filters one after another (Space)", "Play the filters"];
  c.playButton.textContent = text;
  c.playButton.title = title;
  c.playButton.setAttribute("aria-label", label);
  c.speedBox.hidden = stepsOnly();
}

export function stopPlaying(c, report = true) {
  const wasPlaying = c.playTimer !== null;
  clearInterval(c.playTimer);
  c.playTimer = null;
  if (wasPlaying && report) reportSoon(c);
  labelPlay(c);
}

function startPlaying(c) {
  stopPlaying(c);
  c.playTimer = setInterval(() => setShown(c, (c.shown + 1) % filterCount(c)), Number(c.speedBox.value) * 1000);
  labelPlay(c);
}

export function togglePlay(c) {
  if (stepsOnly()) setShown(c, (c.shown + 1) % filterCount(c));
  else if (c.playTimer) stopPlaying(c);
  else startPlaying(c);
}

// The control's own listeners (on its own elements: gone with them).
export function wireControl(c) {
  const own = {signal: c.listening.signal};  // removed when the chart goes (main.js's destroy)
  // A hand holding the slider: Plotly doesn't redraw under it (settle), but the page hears each filter
  // (its release anywhere on the page: main.js's pointerup calls release).
  c.control.addEventListener("pointerdown", () => { c.holding = true; }, own);
  c.control.addEventListener("input", () => { stopPlaying(c); setShown(c, Number(c.control.value)); }, own);
  c.playButton.addEventListener("click", () => togglePlay(c), own);
  c.speedBox.addEventListener("change", () => { if (c.playTimer) startPlaying(c); }, own);
  labelPlay(c);
}

export function release(c) {
  if (c.holding) {
    c.holding = false;
    reportSoon(c);
  }
}
