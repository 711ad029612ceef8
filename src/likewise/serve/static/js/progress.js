// Progress you can share: labels over time, validation quality over the label count (the run log), the
// classes, the sessions with their purity, and a button that writes the `likewise report`.
import { api } from "./api.js";
import { $, put, classColor, clear, el, pct, short } from "./dom.js";
import { app, classIndex, fail, on, toast } from "./store.js";

let reportJob = null;

function chart(canvasId, series, { xLabel, yLabel, yMax = null, xTime = false }) {
  const c = $(canvasId);
  const dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth || 560;
  const h = c.clientHeight || 280;
  c.width = Math.round(w * dpr);
  c.height = Math.round(h * dpr);
  const ctx = c.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const all = series.flatMap((s) => s.points);
  c.dataset.points = String(all.length);
  ctx.fillStyle = "#6b6b70";
  ctx.font = "12px system-ui, sans-serif";
  if (!all.length) { ctx.fillText("nothing yet", w / 2 - 30, h / 2); return; }
  const L = 48; const R = 12; const T = 12; const B = 34;
  let x0 = Math.min(...all.map((p) => p[0])); let x1 = Math.max(...all.map((p) => p[0]));
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  const y0 = 0; const y1 = yMax ?? Math.max(1, ...all.map((p) => p[1])) * 1.05;
  const X = (x) => L + ((x - x0) / (x1 - x0)) * (w - L - R);
  const Y = (y) => h - B - ((y - y0) / (y1 - y0)) * (h - T - B);
  ctx.strokeStyle = "#dcdcd8";
  ctx.beginPath(); ctx.moveTo(L, T); ctx.lineTo(L, h - B); ctx.lineTo(w - R, h - B); ctx.stroke();
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    ctx.fillText(yMax === 1 ? `${Math.round(100 * y)}%` : String(Math.round(y)), 4, Y(y) + 4);
  }
  const fmt = (x) => (xTime ? new Date(x).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : String(Math.round(x)));
  ctx.fillText(fmt(x0), L, h - B + 16);
  ctx.fillText(fmt(x1), w - R - 40, h - B + 16);
  ctx.fillText(xLabel, w / 2 - 30, h - 4);
  ctx.save(); ctx.translate(12, h / 2 + 30); ctx.rotate(-Math.PI / 2); ctx.fillText(yLabel, 0, 0); ctx.restore();
  series.forEach((s, si) => {
    ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = 2;
    ctx.beginPath();
    s.points.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
    if (s.points.length > 1 && s.line !== false) ctx.stroke();
    for (const [x, y] of s.points) { ctx.beginPath(); ctx.arc(X(x), Y(y), 3, 0, 2 * Math.PI); ctx.fill(); }
    ctx.fillText(s.name, L + 8 + si * 150, T + 10);
  });
}

function render(data) {
  if (data.report) $("report-link").hidden = false;
  const labels = data.labels.map((p) => [Date.parse(p.time), p.labels]);
  chart("chart-labels", [{ name: "manual labels", color: "#2456c8", points: labels }], { xLabel: "time", yLabel: "labels", xTime: true });
  const tunes = data.quality.filter((r) => r.command === "tune" && r.labeled !== null && r.labeled !== undefined);
  chart("chart-quality", [
    { name: "after (new head)", color: "#1d7a3a", points: tunes.map((r) => [r.labeled, r.after]) },
    { name: "before (current)", color: "#a15c00", points: tunes.map((r) => [r.labeled, r.before]) },
  ], { xLabel: "labeled records", yLabel: "top_k", yMax: 1 });
  const classes = clear($("progress-classes"));
  put(classes, el("tr", {}, el("th", { text: "class" }), el("th", { text: "records" })));
  for (const c of data.classes) {
    put(classes, el("tr", {}, el("td", {}, el("span", { class: "chip class", style: { borderColor: classColor(classIndex(c.name)) } }, el("span", { class: "name", text: c.name }))), el("td", { text: c.records.toLocaleString() })));
  }
  put(classes, el("tr", {}, el("td", { text: "labeled in all" }), el("td", { text: `${data.labeled.toLocaleString()} of ${data.records.toLocaleString()}` })));
  const table = clear($("progress-sessions"));
  put(table, el("tr", {}, ...["created", "author", "start record", "start class", "rows", "labeled", "purity", "re-ranked"].map((t) => el("th", { text: t }))));
  for (const s of data.sessions) {
    put(table, el("tr", { class: "link", dataset: { session: s.id }, onclick: () => { location.hash = `#session/${encodeURIComponent(s.id)}`; } },
      el("td", { text: (s.created || "").replace("T", " ").slice(0, 19) }), el("td", { text: s.author ?? "" }),
      el("td", { text: short(s.start, 40) }), el("td", { text: s.start_label ?? "unlabeled" }),
      el("td", { text: s.size }), el("td", { text: s.labeled }), el("td", { text: pct(s.purity, 1) }), el("td", { text: s.reranked })));
  }
}

async function load() {
  try {
    render(await api.get("/api/progress"));
  } catch (err) {
    fail(err);
  }
}

async function writeReport() {
  try {
    const r = await api.post("/api/report", { author: app.author || null });
    reportJob = r.id;
    $("report-state").textContent = "writing the report…";
  } catch (err) {
    fail(err);
  }
}

export function init() {
  $("report-write").addEventListener("click", writeReport);
  on("status", async ({ status }) => {
    const job = (status.jobs || []).find((j) => j.id === reportJob);
    if (job) { $("report-state").textContent = `writing the report: ${job.message || job.state}`; return; }
    if (!reportJob) return;
    const r = await api.get(`/api/jobs/${reportJob}`).catch(() => null);
    reportJob = null;
    if (!r) return;
    if (r.state === "done") {
      $("report-state").textContent = `written to ${r.result.html} in ${r.result.seconds} s`;
      $("report-link").hidden = false;
      toast("The report is written");
    } else {
      $("report-state").textContent = r.error || r.state;
    }
  });
}

export function show() {
  load();
}

export function onKey() {
  return false;
}
