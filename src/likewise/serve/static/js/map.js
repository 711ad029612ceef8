// The map: the workspace's raw and tuned 2D maps (as `likewise map` draws them), points coloured by their
// current label, unlabeled ones grey. Click a point to open its session; drag a lasso to open or label a region.
import { api, newKey } from "./api.js";
import { $, put, GREY, classColor, clear, el, short } from "./dom.js";
import { app, classIndex, ensureAuthor, fail, on, toast } from "./store.js";
import { openSession } from "./session.js";

let data = null;
let panel = 0;
let selected = [];
let lasso = null;
let job = null;
const PAD = 24;

function canvas() {
  return $("map-canvas");
}

function scaled() {
  const c = canvas();
  const dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth || 900;
  const h = c.clientHeight || 640;
  if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
  return { c, dpr, w, h };
}

function projector() {
  const coords = data.panels[panel].coords;
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const [x, y] of coords) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  const { w, h } = scaled();
  const sx = (w - 2 * PAD) / (x1 - x0 || 1);
  const sy = (h - 2 * PAD) / (y1 - y0 || 1);
  return coords.map(([x, y]) => [PAD + (x - x0) * sx, h - PAD - (y - y0) * sy]);
}

let points = [];
function draw() {
  if (!data) return;
  const { c, dpr, w, h } = scaled();
  const ctx = c.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  points = projector();
  const chosen = new Set(selected);
  const radius = points.length < 1000 ? 4 : points.length < 5000 ? 3 : 2;
  const order = [...points.keys()].sort((a, b) => (data.labels[a] === null) - (data.labels[b] === null)).reverse();
  for (const i of order) {
    const label = data.labels[i];
    ctx.fillStyle = label === null ? GREY : classColor(classIndex(label));
    ctx.globalAlpha = label === null ? 0.55 : 0.85;
    ctx.beginPath();
    ctx.arc(points[i][0], points[i][1], chosen.has(i) ? radius + 1.5 : radius, 0, 2 * Math.PI);
    ctx.fill();
    if (chosen.has(i)) { ctx.globalAlpha = 1; ctx.strokeStyle = "#000"; ctx.lineWidth = 1; ctx.stroke(); }
  }
  ctx.globalAlpha = 1;
  if (lasso && lasso.length > 1) {
    ctx.strokeStyle = "#2456c8";
    ctx.lineWidth = 1.5;
    ctx.setLineDash([5, 4]);
    ctx.beginPath();
    ctx.moveTo(lasso[0][0], lasso[0][1]);
    for (const [x, y] of lasso.slice(1)) ctx.lineTo(x, y);
    ctx.closePath();
    ctx.stroke();
    ctx.setLineDash([]);
  }
  c.dataset.pointsDrawn = String(points.length);
  c.dataset.panel = data.panels[panel].title;
}

function renderChrome() {
  const tabs = clear($("map-tabs"));
  data.panels.forEach((p, i) => {
    const score = p.knn_accuracy === null ? "" : ` · kNN ${(100 * p.knn_accuracy).toFixed(1)}%`;
    put(tabs, el("button", { type: "button", class: i === panel ? "active" : "", text: `${p.title}${score}`,
      onclick: () => { panel = i; renderChrome(); draw(); } }));
  });
  const legend = clear($("map-legend"));
  const counts = new Map();
  for (const l of data.labels) counts.set(l, (counts.get(l) || 0) + 1);
  for (const c of app.classes) {
    if (!counts.get(c.name)) continue;
    put(legend, el("div", {}, el("span", { class: "sw", style: { background: classColor(classIndex(c.name)) } }), el("span", { text: `${c.name} (${counts.get(c.name)})` })));
  }
  put(legend, el("div", {}, el("span", { class: "sw", style: { background: GREY } }), el("span", { text: `unlabeled (${counts.get(null) || 0})` })));
  const note = [`${data.shown.toLocaleString()} of ${data.total_records.toLocaleString()} records`, ...(data.notes || [])];
  if (data.stale) note.push("the vectors changed since: draw again for the new tuned map");
  $("map-note").textContent = note.join(" · ");
  const select = clear($("map-label-class"));
  for (const c of app.classes) put(select, el("option", { value: c.name, text: c.name }));
}

async function fetchMap() {
  const r = await api.get("/api/maps");
  if (!r.ready) return false;
  data = r;
  if (panel >= data.panels.length) panel = 0;
  renderChrome();
  draw();
  return true;
}

async function drawAgain() {
  try {
    const r = await api.post("/api/maps", { author: app.author || null });
    job = r.id;
    $("map-note").textContent = "drawing the maps…";
  } catch (err) {
    fail(err);
  }
}

function nearest(x, y) {
  let best = -1;
  let dist = 64;
  points.forEach(([px, py], i) => {
    const d = (px - x) ** 2 + (py - y) ** 2;
    if (d < dist) { dist = d; best = i; }
  });
  return best;
}

function inside(poly, x, y) {
  let hit = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

function at(e) {
  const r = canvas().getBoundingClientRect();
  return [e.clientX - r.left, e.clientY - r.top];
}

function showSelection() {
  $("map-selection").hidden = selected.length === 0;
  $("map-selected").textContent = `${selected.length} point(s) in the lasso`;
}

function bindMouse() {
  const c = canvas();
  let down = null;
  c.addEventListener("mousedown", (e) => { down = at(e); lasso = [down]; });
  c.addEventListener("mousemove", (e) => {
    const [x, y] = at(e);
    if (down) { lasso.push([x, y]); draw(); return; }
    const tip = $("map-tip");
    const i = data ? nearest(x, y) : -1;
    if (i < 0) { tip.hidden = true; return; }
    tip.textContent = `${data.ids[i]} · ${data.labels[i] ?? "unlabeled"}\n${short(data.texts ? data.texts[i] : "", 240)}`;
    tip.style.left = `${x + 14}px`;
    tip.style.top = `${y + 10}px`;
    tip.hidden = false;
  });
  c.addEventListener("mouseleave", () => { $("map-tip").hidden = true; });
  c.addEventListener("mouseup", (e) => {
    if (!down || !data) return;
    const [x, y] = at(e);
    const moved = Math.max(...lasso.map(([px, py]) => Math.hypot(px - down[0], py - down[1])));  // a lasso may end where it began
    down = null;
    if (moved < 5 || lasso.length < 3) {
      lasso = null;
      const i = nearest(x, y);
      if (i >= 0) openSession({ start_id: data.ids[i], size: 100, unlabeled_only: true }).catch(fail);
      return;
    }
    selected = points.map((p, i) => (inside(lasso, p[0], p[1]) ? i : -1)).filter((i) => i >= 0);
    draw();
    showSelection();
  });
}

async function openLasso() {
  try {
    await openSession({ ids: selected.map((i) => data.ids[i]) });
  } catch (err) {
    fail(err);
  }
}

async function labelLasso() {
  if (!(await ensureAuthor())) return;
  const label = $("map-label-class").value;
  if (!label) { toast("add a class first (on the session page, n)", "error"); return; }
  const only = $("map-label-unlabeled").checked;
  const items = selected.filter((i) => !only || data.labels[i] === null).map((i) => ({ id: data.ids[i], label, only_unlabeled: only }));
  if (!items.length) { toast("nothing to label: every point in the lasso has a label"); return; }
  try {
    const r = await api.postRetried("/api/labels", { labels: items, author: app.author, key: newKey() });
    for (const [id, info] of Object.entries(r.labels)) {
      const i = data.ids.indexOf(id);
      if (i >= 0) data.labels[i] = info.label;
    }
    toast(`${r.written} record(s) labeled ${label}`);
    selected = [];
    lasso = null;
    showSelection();
    renderChrome();
    draw();
  } catch (err) {
    fail(err);
  }
}

export function init() {
  bindMouse();
  $("map-draw").addEventListener("click", drawAgain);
  $("map-open").addEventListener("click", openLasso);
  $("map-label").addEventListener("click", labelLasso);
  $("map-clear").addEventListener("click", () => { selected = []; lasso = null; showSelection(); draw(); });
  on("status", async ({ status }) => {
    if (app.view !== "map" || !job) return;
    const running = (status.jobs || []).some((j) => j.id === job);
    if (!running) {
      const r = await api.get(`/api/jobs/${job}`).catch(() => null);
      job = null;
      if (r && r.state === "failed") { $("map-note").textContent = r.error; toast(r.error, "error"); return; }
      await fetchMap().catch(fail);
    }
  });
}

export async function show() {
  try {
    if (!(await fetchMap())) await drawAgain();
  } catch (err) {
    fail(err);
  }
}

export function onKey() {
  return false;
}
