// The chart's own filter control (args.scrub): the slider, its keys, play and its speed, and the
// filter on screen told to the page: one report at a time, the next once the page has answered.

import {S, control, filterCount, playButton, speedBox} from "./state.js";
import {eventId, sendValue} from "./protocol.js";
import {requestDraw} from "./draw.js";

// One report in flight at a time: the next goes once the page's run has answered the last
// (render), at least REPORT_EVERY after it, so the page's box follows a moving filter as closely
// as the server keeps up, without a queue of runs behind a fast hand.
const REPORT_EVERY = 120;  // ms between two reports
const ANSWER_WITHIN = 3000;  // ms: a report unanswered this long (a run cut short) no longer holds the next
let reportedAt = -Infinity;

// `report` false: a move that isn't this page's (a class's filter), never told to the page.
export function setShown(filter, report = true) {
  filter = Math.min(Math.max(Math.round(filter), 0), filterCount() - 1);
  control.value = filter;
  if (filter === S.shown) return;
  S.shown = filter;
  S.lastMove = performance.now();
  requestDraw();
  if (report) reportSoon();
}

// A hand holding the slider: Plotly doesn't redraw under it (settle), but the page hears each filter.
control.addEventListener("pointerdown", () => { S.holding = true; });
for (const type of ["pointerup", "pointercancel"]) {
  window.addEventListener(type, () => { if (S.holding) { S.holding = false; reportSoon(); } });
}

const awaitingAnswer = () => S.reported !== null && performance.now() - reportedAt < ANSWER_WITHIN;

// Tell the page the filter on screen: now if the last report was answered (and REPORT_EVERY has
// passed), else once it is (render calls this again) or has waited too long.
export function reportSoon() {
  clearTimeout(S.reportTimer);
  const now = performance.now();
  const at = awaitingAnswer() ? reportedAt + ANSWER_WITHIN : Math.max(now, reportedAt + REPORT_EVERY);
  S.reportTimer = setTimeout(() => (awaitingAnswer() ? reportSoon() : report()), at - now);
}

function report() {
  if (S.shown === S.pageFilter || S.shown === S.reported && awaitingAnswer()) return;
  S.reported = S.shown;
  reportedAt = performance.now();
  sendValue({kind: "filter", filter: S.shown, n: eventId()});
}

export function step(key) {
  const last = filterCount() - 1, page = Math.max(1, Math.round(last / 10));  // Page Up / Down: a tenth of the range
  const moves = {ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1, PageUp: page, PageDown: -page};
  setShown(key === "Home" ? 0 : key === "End" ? last : S.shown + (moves[key] || 0));
}

control.addEventListener("input", () => { stopPlaying(); setShown(Number(control.value)); });

// Someone who asked their system for reduced motion gets no autoplay: ▶ becomes ⏭ and steps one
// filter a press (Space too). WCAG 2.2.2 and the WAI's technique C39 ask that content not move or
// change by itself for them; a slideshow of filters flips twelve maps at once up to four times a
// second, and a slower one still changes the screen without a hand on it. A press per filter keeps
// every change theirs, and the whole sequence still one key away.
const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
const stepsOnly = () => reducedMotion.matches;
let playTimer = null;

function labelPlay() {
  const [text, title, label] = stepsOnly()
    ? ["⏭", "Next filter (Space): one filter a press, as your system asks for reduced motion", "Next filter"]
    : playTimer !== null ? ["⏸", "Pause (Space)", "Pause"]
      : ["▶", "Play: step through the filters one after another (Space)", "Play the filters"];
  playButton.textContent = text;
  playButton.title = title;
  playButton.setAttribute("aria-label", label);
  speedBox.hidden = stepsOnly();
}
reducedMotion.addEventListener("change", () => { stopPlaying(); labelPlay(); });

export function stopPlaying(report = true) {
  const wasPlaying = playTimer !== null;
  clearInterval(playTimer);
  playTimer = null;
  if (wasPlaying && report) reportSoon();
  labelPlay();
}

function startPlaying() {
  stopPlaying();
  playTimer = setInterval(() => setShown((S.shown + 1) % filterCount()), Number(speedBox.value) * 1000);
  labelPlay();
}

export function togglePlay() {
  if (stepsOnly()) setShown((S.shown + 1) % filterCount());
  else if (playTimer) stopPlaying();
  else startPlaying();
}
playButton.addEventListener("click", togglePlay);
speedBox.addEventListener("change", () => { if (playTimer) startPlaying(); });
labelPlay();
