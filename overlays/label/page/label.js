// The labelling page: one frame at a time, the model's guess in orange, confirmed labels
// in green. Every change is POSTed at once with the revision it was based on; the server
// refuses a stale one (another tab saved first) and this page then reloads its labels.
"use strict";

const AUTH = document.body.dataset.auth || "";
const ZOOM = 10;
const LENS_PX = 21; // pixels across the lens (odd: the cursor's pixel is in the middle)
const JUMP = 10;
const COLOURS = { model: "#ff8c00", person: "#00e000", interpolated: "#00c8ff", hard: "#ffe000" };
const canvas = document.getElementById("frame");
const context = canvas.getContext("2d");
const lens = document.getElementById("lens");
const lensContext = lens.getContext("2d");

const state = {
  meta: null, frame: 0, labels: {}, revision: 0, guesses: {}, pendingPrefill: false,
  image: null, hover: null, undo: [], outbox: [], saving: false, prefillTimer: null,
};
window.ballwatchLabel = state; // read by the browser test

const url = (path, extra) => {
  const query = AUTH ? `${AUTH}${extra ? `&${extra}` : ""}` : (extra ? `?${extra}` : "");
  return `${path}${query}`;
};
const say = (text) => { document.getElementById("message").textContent = text; };
const text = (id, value) => { document.getElementById(id).textContent = value; };

async function getJson(path, extra) {
  const response = await fetch(url(path, extra), { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

function counts() {
  let person = 0, interpolated = 0;
  for (const label of Object.values(state.labels)) {
    if (label[3] === "interpolated") interpolated += 1; else person += 1;
  }
  text("confirmed", person);
  text("interpolated", interpolated);
  document.body.dataset.confirmed = person;
}

function marker(ctx, x, y, colour, radius, scale, offset) {
  const cx = (x + 0.5 - offset.x) * scale, cy = (y + 0.5 - offset.y) * scale;
  ctx.strokeStyle = colour;
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.arc(cx, cy, radius, 0, 2 * Math.PI);
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(cx - radius - 4, cy); ctx.lineTo(cx - radius + 2, cy);
  ctx.moveTo(cx + radius - 2, cy); ctx.lineTo(cx + radius + 4, cy);
  ctx.stroke();
}

// What is drawn for this frame: a label (person or interpolated), else the model's guess.
function overlay() {
  const label = state.labels[state.frame];
  if (label) {
    const colour = label[3] === "interpolated" ? COLOURS.interpolated
      : (label[0] >= 2 ? COLOURS.hard : COLOURS.person);
    return label[0] === 0 ? { kind: "not-visible" } : { kind: label[3], x: label[1], y: label[2], colour };
  }
  const guess = state.guesses[state.frame];
  if (guess) return { kind: "model", x: guess[0], y: guess[1], colour: COLOURS.model };
  return { kind: "none" };
}

function draw() {
  if (!state.image) return;
  context.imageSmoothingEnabled = false;
  context.drawImage(state.image, 0, 0);
  const shown = overlay();
  if (shown.x !== undefined) marker(context, shown.x, shown.y, shown.colour, 8, 1, { x: 0, y: 0 });
  if (shown.kind === "not-visible") {
    context.fillStyle = "rgba(200, 0, 0, 0.6)";
    context.fillRect(0, 0, canvas.width, 18);
    context.fillStyle = "#fff";
    context.fillText("not visible", 6, 13);
  }
  document.body.dataset.drawn = shown.kind;
  document.body.dataset.drawnXy = shown.x === undefined ? "" : `${shown.x},${shown.y}`;
  const label = state.labels[state.frame];
  text("current-label", label ? `label: ${label[0] === 0 ? "not visible" : `(${label[1]}, ${label[2]}) visibility ${label[0]}`} (${label[3]})`
    : (shown.kind === "model" ? `model: (${shown.x}, ${shown.y})` : "no label"));
  drawLens();
}

function drawLens() {
  lensContext.fillStyle = "#000";
  lensContext.fillRect(0, 0, lens.width, lens.height);
  const centre = state.hover || overlay();
  if (!state.image || centre.x === undefined) return;
  const half = (LENS_PX - 1) / 2;
  const offset = { x: centre.x - half, y: centre.y - half };
  lensContext.imageSmoothingEnabled = false;
  lensContext.drawImage(state.image, offset.x, offset.y, LENS_PX, LENS_PX, 0, 0, LENS_PX * ZOOM, LENS_PX * ZOOM);
  lensContext.strokeStyle = "rgba(255, 255, 255, 0.8)";
  lensContext.strokeRect(half * ZOOM, half * ZOOM, ZOOM, ZOOM);
  const shown = overlay();
  if (shown.x !== undefined) marker(lensContext, shown.x, shown.y, shown.colour, ZOOM * 1.5, ZOOM, offset);
  lens.dataset.centre = `${centre.x},${centre.y}`;
}

// Canvas pixel under a mouse event, or null outside the picture.
function pixelAt(event) {
  const rect = canvas.getBoundingClientRect();
  const x = Math.floor((event.clientX - rect.left) * canvas.width / rect.width);
  const y = Math.floor((event.clientY - rect.top) * canvas.height / rect.height);
  if (x < 0 || y < 0 || x >= canvas.width || y >= canvas.height) return null;
  return { x, y };
}

function lensPixelAt(event) {
  const centre = lens.dataset.centre ? lens.dataset.centre.split(",").map(Number) : null;
  if (!centre) return null;
  const rect = lens.getBoundingClientRect();
  const half = (LENS_PX - 1) / 2;
  const x = centre[0] - half + Math.floor((event.clientX - rect.left) / ZOOM);
  const y = centre[1] - half + Math.floor((event.clientY - rect.top) / ZOOM);
  if (x < 0 || y < 0 || x >= canvas.width || y >= canvas.height) return null;
  return { x, y };
}

function change(entries, note) {
  const inverse = entries.map((e) => ({ frame: e.frame, label: state.labels[e.frame] || null }));
  state.undo.push(inverse);
  apply(entries);
  say(note || "");
}

function apply(entries) {
  for (const entry of entries) {
    if (entry.label) state.labels[entry.frame] = entry.label; else delete state.labels[entry.frame];
    state.outbox.push(entry);
  }
  counts();
  draw();
  save();
}

async function save() {
  document.body.dataset.unsaved = state.outbox.length;
  if (state.saving || state.outbox.length === 0) return;
  state.saving = true;
  const sending = state.outbox.splice(0);
  text("save-state", "saving…");
  try {
    const response = await fetch(url("labels"), {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ revision: state.revision, changes: sending, position: state.frame }),
    });
    const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (response.status === 409) {
      say(body.error);
      loadLabels(body);
      state.outbox = [];
      state.undo = [];
    } else if (!response.ok) {
      say(`not saved: ${body.error}`);
      if (response.status === 400) loadLabels(await getJson("labels")); // undo the refused change here too
      else state.outbox = sending.concat(state.outbox); // keep it: press s to retry
    } else {
      state.revision = body.revision;
      document.body.dataset.revision = body.revision;
    }
  } catch (error) {
    state.outbox = sending.concat(state.outbox);
    say(`not saved (${error.message}): press s to retry`);
  } finally {
    state.saving = false;
    text("save-state", state.outbox.length ? `${state.outbox.length} unsaved` : `saved r${state.revision}`);
    document.body.dataset.unsaved = state.outbox.length;
  }
  if (state.outbox.length && !document.getElementById("message").textContent.startsWith("not saved")) save();
}

function loadLabels(snapshot) {
  state.labels = {};
  for (const [frame, label] of Object.entries(snapshot.labels)) state.labels[Number(frame)] = label;
  state.revision = snapshot.revision;
  document.body.dataset.revision = snapshot.revision;
  counts();
  draw();
}

function show(index) {
  const count = state.meta.frame_count;
  state.frame = Math.max(0, Math.min(count - 1, index));
  text("frame-index", state.frame);
  const wanted = state.frame;
  const image = new Image();
  image.onload = () => {
    if (wanted !== state.frame) return;
    state.image = image;
    draw();
    document.body.dataset.shown = wanted;
  };
  image.onerror = () => say(`frame ${wanted} could not be decoded`);
  image.src = url(`frame/${wanted}`);
  if (wanted + 1 < count) new Image().src = url(`frame/${wanted + 1}`); // warm the server's cache
  requestPrefill();
}

async function requestPrefill() {
  clearTimeout(state.prefillTimer);
  const from = Math.max(0, state.frame - 8), to = state.frame + 56;
  try {
    const reply = await getJson("prefill", `from=${from}&to=${to}`);
    for (const [frame, guess] of Object.entries(reply.guesses)) state.guesses[Number(frame)] = guess;
    state.pendingPrefill = reply.pending;
    const stats = reply.stats || {};
    text("prefill-state", stats.error ? `model: ${stats.error}`
      : `model: ${stats.frames || 0} frames${reply.pending ? ", working…" : ""}`);
    document.body.dataset.prefillFrames = Object.keys(state.guesses).length;
    draw();
    if (reply.pending) state.prefillTimer = setTimeout(requestPrefill, 400);
  } catch (error) {
    text("prefill-state", `model: ${error.message}`);
  }
}

function nearestConfirmed(step) {
  for (let i = state.frame + step; i >= 0 && i < state.meta.frame_count; i += step) {
    const label = state.labels[i];
    if (label && label[3] !== "interpolated") return label[0] === 0 ? null : [i, label];
  }
  return null;
}

function interpolate() {
  const before = nearestConfirmed(-1), after = nearestConfirmed(1);
  if (!before || !after) { say("interpolation needs a visible confirmed frame on each side of this one"); return; }
  const [a, la] = before, [b, lb] = after;
  const entries = [];
  for (let i = a + 1; i < b; i += 1) {
    const t = (i - a) / (b - a);
    entries.push({ frame: i, label: [1, Math.round(la[1] + t * (lb[1] - la[1])), Math.round(la[2] + t * (lb[2] - la[2])), "interpolated"] });
  }
  change(entries, `interpolated frames ${a + 1}-${b - 1}`);
}

function occluded() {
  const shown = overlay();
  const at = shown.x !== undefined ? shown : state.hover;
  if (!at) { say("occluded: click the ball (or hover over it) first"); return; }
  change([{ frame: state.frame, label: [2, at.x, at.y, "person"] }]);
}

function accept() {
  const guess = state.guesses[state.frame];
  if (!guess) { say("no model guess on this frame: click the ball or press n"); return; }
  change([{ frame: state.frame, label: [1, guess[0], guess[1], "person"] }]);
}

function undo() {
  const inverse = state.undo.pop();
  if (!inverse) { say("nothing to undo"); return; }
  apply(inverse);
  say("undone");
}

const KEYS = {
  ArrowRight: () => show(state.frame + 1), d: () => show(state.frame + 1),
  ArrowLeft: () => show(state.frame - 1), a: () => show(state.frame - 1),
  ArrowDown: () => show(state.frame + JUMP), PageDown: () => show(state.frame + JUMP),
  ArrowUp: () => show(state.frame - JUMP), PageUp: () => show(state.frame - JUMP),
  n: () => change([{ frame: state.frame, label: [0, null, null, "person"] }]),
  o: occluded, Enter: accept, i: interpolate, z: undo,
  s: () => { say(""); save(); },
};

document.addEventListener("keydown", (event) => {
  if (event.altKey || event.metaKey) return;
  const key = event.shiftKey && event.key === "ArrowRight" ? "ArrowDown"
    : (event.shiftKey && event.key === "ArrowLeft" ? "ArrowUp" : event.key);
  const action = KEYS[event.ctrlKey ? (key === "z" || key === "s" ? key : "") : key];
  if (!action) return;
  event.preventDefault();
  action();
});

function clickAt(pixel) {
  if (!pixel) { say("that click is outside the picture: click on the ball"); return; }
  change([{ frame: state.frame, label: [1, pixel.x, pixel.y, "person"] }]);
}

canvas.addEventListener("click", (event) => clickAt(pixelAt(event)));
lens.addEventListener("click", (event) => clickAt(lensPixelAt(event)));
canvas.addEventListener("mousemove", (event) => {
  state.hover = pixelAt(event);
  text("cursor", state.hover ? `cursor (${state.hover.x}, ${state.hover.y})` : "-");
  drawLens();
});

async function start() {
  try {
    state.meta = await getJson("meta");
    canvas.width = state.meta.width;
    canvas.height = state.meta.height;
    text("video-name", state.meta.video);
    text("frame-count", state.meta.frame_count);
    const snapshot = await getJson("labels");
    loadLabels(snapshot);
    show(snapshot.position || 0);
    document.body.dataset.ready = "1";
  } catch (error) {
    say(`cannot load the video: ${error.message}`);
  }
}
start();
