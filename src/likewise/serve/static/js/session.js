// A labeling session: the start record on top, then its most similar records (up to 1,000, drawn as a
// virtual list so only the rows in view exist in the page). Keyboard first: j/k, 1-9, Shift+1-9, x, u.
import { api, enc, newKey, q } from "./api.js";
import { $, put, classColor, clear, el, pct, short } from "./dom.js";
import { app, classIndex, dialog, emit, ensureAuthor, fail, loadClasses, on, toast } from "./store.js";

const ROW_H = 92;
const PAGE = 200;
const BUFFER = 6;
let S = null; // the open session: { id, summary, rows, byId, focus, skipped, version, seq, actions, ... }
const nodes = new Map(); // position -> row element currently in the page

// -- opening ------------------------------------------------------------------------------------------------
export async function openSession(body) {
  if (!(await ensureAuthor())) return;
  const data = await api.post("/api/sessions", { ...body, author: app.author });
  setSession(data);
  location.hash = `#session/${enc(data.id)}`;
}

function skippedKey(id) {
  return `likewise.skipped.${id}`;
}

function setSession(data, keepFocusId = null) {
  const rows = new Array(data.size + 1);
  const previous = S && S.id === data.id ? S : null;
  S = {
    id: data.id, summary: data, rows, byId: new Map(), focus: 0, version: data.version,
    seq: previous ? previous.seq : (app.status ? app.status.seq : 0),
    skipped: new Set(JSON.parse(localStorage.getItem(skippedKey(data.id)) || "[]")),
    actions: data.meter ? data.meter.actions : 0, reranks: previous ? previous.reranks : 0, reranking: false,
    serverMeter: data.meter,
  };
  fill(data.rows);
  if (keepFocusId && S.byId.has(keepFocusId)) S.focus = S.byId.get(keepFocusId);
  else if (previous) S.focus = Math.min(previous.focus, rows.length - 1);
  localStorage.setItem("likewise.session", data.id);
  clearNodes();
  S.scrollTop = !previous; // another session starts at its top (applied once the list is visible)
  render();
  loadRest(data.id, data.rows.length).catch(fail);
}

function fill(page) {
  for (const row of page) {
    S.rows[row.position] = row;
    S.byId.set(row.id, row.position);
  }
}

async function loadRest(id, from) {
  for (let offset = from; S && S.id === id && offset < S.rows.length; offset += PAGE) {
    const page = await api.get(`/api/sessions/${enc(id)}${q({ offset, limit: PAGE })}`);
    if (!S || S.id !== id) return;
    fill(page.rows);
    renderWindow();
    renderMeter();
  }
}

async function load(id) {
  try {
    const data = await api.get(`/api/sessions/${enc(id)}${q({ offset: 0, limit: PAGE })}`);
    setSession(data);
  } catch (err) {
    fail(err);
    S = null;
    render();
  }
}

// -- drawing --------------------------------------------------------------------------------------------------
export function chip(label, row = {}, skipped = false) {
  if (row && row.conflict && row.conflict.length) {
    return el("span", { class: "chip conflict", title: `conflict: other labelers said ${row.conflict.join(", ")}` },
      "⚠ ", el("span", { class: "name", text: label ?? "unlabeled" }), " vs ", row.conflict.join(", "));
  }
  if (label === null || label === undefined) {
    return skipped ? el("span", { class: "chip skip", text: "skipped" }) : el("span", { class: "chip none", text: "unlabeled" });
  }
  const color = classColor(classIndex(label));
  return el("span", { class: "chip class", style: { background: `${color}22`, borderColor: color } },
    el("span", { class: "name", text: label }));
}

function clearNodes() {
  for (const node of nodes.values()) node.remove();
  nodes.clear();
}

function rowNode(pos) {
  const row = S.rows[pos];
  const cls = ["row"];
  if (pos === 0) cls.push("start");
  if (pos === S.focus) cls.push("focused");
  if (row && row.pending) cls.push("pending");
  const top = `${pos * ROW_H}px`;
  if (!row) return el("div", { class: "row", style: { top }, dataset: { position: pos } }, el("div", { class: "pos", text: pos }), el("div", { class: "muted", text: "loading…" }));
  const skipped = S.skipped.has(row.id);
  const side = el("div", { class: "side" }, chip(row.label, row, skipped),
    row.score !== undefined && pos > 0 ? el("span", { text: `similarity ${Number(row.score).toFixed(3)}` }) : el("span", { text: "start record" }),
    row.author ? el("span", { text: `by ${short(row.author, 24)}` }) : null);
  return el("div", { class: cls.join(" "), style: { top }, dataset: { position: pos, id: row.id, label: row.label ?? "" },
    onclick: () => setFocus(pos) },
  el("div", { class: "pos", text: pos === 0 ? "start" : pos }), el("div", { class: "text", text: row.text ?? "" }), side);
}

function renderWindow() {
  if (!S) return;
  const box = $("rows");
  if (S.scrollTop && box.clientHeight > 0) { box.scrollTop = 0; S.scrollTop = false; }
  const first = Math.max(0, Math.floor(box.scrollTop / ROW_H) - BUFFER);
  const last = Math.min(S.rows.length - 1, Math.ceil((box.scrollTop + box.clientHeight) / ROW_H) + BUFFER);
  for (const [pos, node] of nodes) {
    if (pos < first || pos > last) { node.remove(); nodes.delete(pos); }
  }
  const spacer = $("rows-spacer");
  for (let pos = first; pos <= last; pos++) if (!nodes.has(pos)) { const n = rowNode(pos); nodes.set(pos, n); put(spacer, n); }
  box.dataset.focus = String(S.focus);
}

function updateRow(pos) {
  const old = nodes.get(pos);
  if (!old) return;
  const node = rowNode(pos);
  old.replaceWith(node);
  nodes.set(pos, node);
}

function render() {
  const has = Boolean(S);
  $("session-empty").hidden = has;
  for (const id of ["meter", "retrain", "palette"]) $(id).hidden = !has;
  document.querySelector(".session-body").hidden = !has;
  if (!has) return;
  $("rows-spacer").style.height = `${S.rows.length * ROW_H}px`;
  $("rows").dataset.session = S.id;
  $("rows").dataset.reranked = String(S.reranks);
  renderPalette();
  renderMeter();
  renderRetrain();
  renderWindow();
  renderDetail();
}

function renderDetail() {
  const box = clear($("detail"));
  const row = S && S.rows[S.focus];
  if (!row) return;
  put(box, el("h3", { text: row.id }),
    el("div", {}, chip(row.label, row, S.skipped.has(row.id)), row.author ? ` by ${row.author}` : "",
      row.source && row.source !== "manual" ? ` (${row.source})` : ""),
    row.conflict && row.conflict.length ? el("p", { class: "error", text: `Conflict: ${row.label} (latest) vs ${row.conflict.join(", ")} from other labelers` }) : null,
    el("p", { class: "full", text: row.text ?? "" }));
}

export function meterNumbers() {
  const rows = S.rows.slice(1).filter(Boolean);
  const labels = rows.map((r) => r.label).filter((l) => l !== null && l !== undefined);
  let start = S.rows[0] ? S.rows[0].label : null;
  let guessed = false;
  if (start === null || start === undefined) {
    const counts = new Map();
    for (const l of labels) counts.set(l, (counts.get(l) || 0) + 1);
    start = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
    guessed = start !== null;
  }
  const same = labels.filter((l) => l === start).length;
  return { start, guessed, labeled: labels.length, same, rows: S.rows.length - 1,
    purity: labels.length && start !== null ? same / labels.length : null };
}

function renderMeter() {
  if (!S) return;
  const m = meterNumbers();
  const box = clear($("meter"));
  box.dataset.purity = m.purity === null ? "" : m.purity.toFixed(4);
  box.dataset.labeled = String(m.labeled);
  box.dataset.actions = String(S.actions);
  const startName = m.start === null ? "the start record's class" : m.start;
  put(box, 
    el("div", { class: "big" }, m.purity === null ? "–" : pct(m.purity), " ", el("span", { text: startName }), m.guessed ? el("span", { class: "muted", text: " (most common; label the start record)" }) : null),
    el("div", { class: "meterbar" }, el("div", { style: { width: `${m.purity === null ? 0 : 100 * m.purity}%` } })),
    el("div", { class: "muted", text: `${m.same} of ${m.labeled} labeled rows in the start class · ${m.labeled} of ${m.rows} rows labeled · ${S.actions} labeling action${S.actions === 1 ? "" : "s"}` }),
    S.summary.warning ? el("div", { class: "error", text: S.summary.warning }) : null);
}

let meterTimer = null;
function refreshMeterSoon() {
  clearTimeout(meterTimer);
  meterTimer = setTimeout(async () => {
    if (!S) return;
    try {
      const data = await api.get(`/api/sessions/${enc(S.id)}${q({ offset: 0, limit: 1 })}`);
      if (S && S.id === data.id) { S.actions = data.meter.actions; S.serverMeter = data.meter; renderMeter(); }
    } catch (err) { fail(err); }
  }, 400);
}

function renderPalette() {
  const box = clear($("palette"));
  app.classes.forEach((c, i) => {
    const color = classColor(i);
    put(box, el("span", { class: "chip class", style: { background: `${color}22`, borderColor: color }, title: c.key ? `key ${c.key} (Shift+${c.key}: bulk)` : "no key (only 1-9)", dataset: { class: c.name } },
      c.key ? el("span", { class: "num", text: c.key }) : null, el("span", { class: "name", text: c.name }), el("span", { class: "muted", text: `${c.records}` })));
  });
  if (!app.classes.length) put(box, el("span", { class: "muted", text: "No classes yet: add one (n), then press its number." }));
  put(box, el("button", { type: "button", text: "+ class (n)", onclick: addClass }),
    el("button", { type: "button", text: "rename / merge", onclick: renameClass, disabled: !app.classes.length }),
    el("button", { type: "button", text: "delete class", onclick: deleteClass, disabled: !app.classes.length }));
}

function renderRetrain() {
  const box = clear($("retrain"));
  const st = app.status;
  if (!st) return;
  const job = (st.jobs || []).find((j) => j.kind === "retrain");
  const every = el("input", { type: "number", min: 1, max: 100000, value: st.settings.retrain_every, style: { width: "70px" },
    "aria-label": "Retrain every N labels", onchange: (e) => saveEvery(e.target.value) });
  put(box, el("div", {}, st.settings.auto_retrain ? `Retrain in ${st.labels_until_retrain} labels (every ` : "Automatic retraining off (every ",
    every, " labels) ", el("button", { type: "button", text: "Retrain now (r)", onclick: retrainNow, disabled: Boolean(job) })));
  if (job) {
    const share = job.total ? (100 * job.done) / job.total : 5;
    put(box, el("div", { dataset: { job: job.state } }, "Retraining in the background (keep labeling): ",
      el("span", { class: "progressbar" }, el("div", { style: { width: `${share}%` } })), ` ${job.message || job.state}`));
  }
  const last = st.last_retrain;
  if (last) {
    const k = last.k ? `top_${last.k}` : "top_k";
    const numbers = last.before !== undefined ? `${k} ${last.before.toFixed(3)} → ${last.after.toFixed(3)} (cross-validated)` : "";
    put(box, el("div", { class: last.switched ? "better" : "kept", dataset: { lastRetrain: last.switched ? "switched" : "kept" } },
      `Last retrain: ${numbers}${numbers ? " · " : ""}${last.message || ""}`));
  }
  if (st.external) {
    put(box, el("div", { class: "kept", text: `${st.external.encoder_finetuning ? "Encoder fine-tuning" : `likewise ${st.external.command}`} is running (pid ${st.external.pid}, since ${st.external.since}); its result is picked up when it ends.` }));
  }
}

function setFocus(pos, scroll = true) {
  if (!S) return;
  const old = S.focus;
  S.focus = Math.max(0, Math.min(S.rows.length - 1, pos));
  updateRow(old);
  updateRow(S.focus);
  if (scroll) {
    const box = $("rows");
    const top = S.focus * ROW_H;
    if (top < box.scrollTop) box.scrollTop = top;
    else if (top + ROW_H > box.scrollTop + box.clientHeight) box.scrollTop = top + ROW_H - box.clientHeight;
  }
  renderWindow();
  renderDetail();
}

// -- changes ----------------------------------------------------------------------------------------------
function applyLabels(labels) {
  for (const [id, info] of Object.entries(labels || {})) {
    const pos = S.byId.get(id);
    if (pos === undefined) continue;
    Object.assign(S.rows[pos], info, { pending: false });
    if (info.label !== null) S.skipped.delete(id);
    updateRow(pos);
  }
  renderMeter();
  renderDetail();
}

function reportConflicts(conflicts, kept) {
  if (conflicts && conflicts.length) {
    const c = conflicts[0];
    toast(`Conflict on ${c.id}: ${c.author} had labeled it ${c.theirs}; your ${c.yours} is the latest, and both are kept`, "error");
  } else if (kept && kept.length) {
    toast(`${kept.length} record(s) were labeled by someone else meanwhile and kept their label`);
  }
}

async function labelFocused(cls, bulk) {
  if (!S || !(await ensureAuthor())) return;
  const pos = S.focus;
  const row = S.rows[pos];
  if (!row || row.missing) return;
  const key = newKey();
  try {
    if (bulk) {
      const r = await api.postRetried(`/api/sessions/${enc(S.id)}/bulk`, { position: pos, label: cls.name, author: app.author, key, skipped: [...S.skipped] });
      applyLabels(r.labels);
      if (r.written) S.actions += 1;
      reportConflicts(r.conflicts, r.kept);
      setFocus(Math.min(S.rows.length - 1, r.positions[r.positions.length - 1] + 1));
      toast(`${r.written} record(s) labeled ${cls.name} with one key`);
    } else {
      const expected = row.label ?? null;
      Object.assign(row, { label: cls.name, author: app.author, conflict: [], pending: true });
      S.skipped.delete(row.id);
      updateRow(pos);
      renderMeter();
      setFocus(pos + 1);
      const r = await api.postRetried("/api/labels", { labels: [{ id: row.id, label: cls.name, expected }], author: app.author, key, session: S.id });
      applyLabels(r.labels);
      if (r.written) S.actions += 1;
      reportConflicts(r.conflicts, r.kept);
      // the start record's class is known now: the unlabeled rest leans toward it (labeled rows stay)
      if (pos === 0 && expected !== cls.name) await rerank(`Re-ranked toward ${cls.name}, the start record's class`);
    }
    saveSkipped();
    refreshMeterSoon();
  } catch (err) {
    fail(err);
    load(S.id);
  }
}

async function undo() {
  if (!(await ensureAuthor())) return;
  try {
    const r = await api.post("/api/undo", { author: app.author });
    if (r.classes_changed) { await loadClasses(); if (S) await load(S.id); } else if (S) applyLabels(r.labels);
    toast(`Undid ${r.undone} event(s)`);
    refreshMeterSoon();
  } catch (err) {
    fail(err);
  }
}

function skip() {
  const row = S.rows[S.focus];
  if (!row) return;
  if (row.label === null || row.label === undefined) S.skipped.add(row.id);
  saveSkipped();
  updateRow(S.focus);
  setFocus(S.focus + 1);
}

function saveSkipped() {
  if (S) localStorage.setItem(skippedKey(S.id), JSON.stringify([...S.skipped]));
}

async function rerank(why = "Re-ranked with the new vectors") {
  if (!S || S.reranking) return;
  S.reranking = true;
  const focusedId = S.rows[S.focus] ? S.rows[S.focus].id : null;
  try {
    const r = await api.post(`/api/sessions/${enc(S.id)}/rerank`, { skipped: [...S.skipped] });
    const reranks = S.reranks + 1;
    setSession(r, focusedId);
    S.reranks = reranks;
    $("rows").dataset.reranked = String(reranks);
    toast(`${why}: ${r.moved} row(s) moved, ${r.entered} new; labeled rows stayed`);
  } catch (err) {
    if (S && app.status) S.version = app.status.vectors.version; // not again on every poll
    fail(err);
  } finally {
    if (S) S.reranking = false;
  }
}

async function retrainNow() {
  try {
    const job = await api.post("/api/retrain", { author: app.author || null });
    toast(job.started ? "Retraining in the background; keep labeling" : "A retrain is already running");
  } catch (err) {
    fail(err);
  }
}

async function saveEvery(value) {
  try {
    await api.post("/api/settings", { retrain_every: Number(value) });
  } catch (err) {
    fail(err);
  }
}

async function addClass() {
  const values = await dialog({ title: "Add a class", fields: [{ name: "name", label: "Class name" }],
    check: (v) => (!v.name ? "a name is needed" : app.classes.some((c) => c.name === v.name) ? "that class exists" : null) });
  if (!values) return;
  try {
    app.classes = await api.post("/api/classes", { name: values.name });
    emit("classes", app.classes);
  } catch (err) {
    fail(err);
  }
}

async function renameClass() {
  if (!(await ensureAuthor())) return;
  const names = app.classes.map((c) => c.name);
  const values = await dialog({ title: "Rename or merge a class", text: "Renaming onto an existing class merges them (undo with u).",
    fields: [{ name: "old", label: "Class", options: names }, { name: "new", label: "New name (or an existing class to merge into)" }],
    check: (v) => (!v.new ? "a new name is needed" : v.new === v.old ? "that is its name already" : null) });
  if (!values) return;
  try {
    const r = await api.post("/api/classes/rename", { old: values.old, new: values.new, author: app.author });
    app.classes = r.classes;
    emit("classes", app.classes);
    toast(r.merged ? `Merged ${values.old} into ${values.new}` : `Renamed ${values.old} to ${values.new}`);
    if (S) await load(S.id);
  } catch (err) {
    fail(err);
  }
}

async function deleteClass() {
  if (!(await ensureAuthor())) return;
  const values = await dialog({ title: "Delete a class", text: "Its records become unlabeled (undo with u).",
    fields: [{ name: "name", label: "Class", options: app.classes.map((c) => c.name) }], ok: "Delete" });
  if (!values) return;
  try {
    const r = await api.post("/api/classes/delete", { name: values.name, author: app.author });
    app.classes = r.classes;
    emit("classes", app.classes);
    if (S) await load(S.id);
  } catch (err) {
    fail(err);
  }
}

async function onStatus({ status }) {
  if (!S) return;
  if (app.view === "session") renderRetrain();
  if (status.seq > S.seq) {
    try {
      const r = await api.get(`/api/changes${q({ since: S.seq })}`);
      S.seq = r.seq;
      if (r.reload) { await loadClasses(); await load(S.id); } else applyLabels(r.labels);
    } catch (err) {
      fail(err);
    }
  }
  if (status.vectors.version > S.version) await rerank();
}

// -- the view -------------------------------------------------------------------------------------------------
export function init() {
  $("rows").addEventListener("scroll", () => renderWindow());
  on("status", (e) => onStatus(e));
  on("classes", () => { if (S) { renderPalette(); clearNodes(); renderWindow(); } });
}

export function show(id) {
  const wanted = id || (S ? S.id : localStorage.getItem("likewise.session"));
  if (wanted && (!S || S.id !== wanted)) load(wanted);
  else render();
}

export function hide() {}

export function onKey(e) {
  if (!S) return false;
  const digit = /^(Digit|Numpad)([1-9])$/.exec(e.code || "");
  if (digit) {
    const cls = app.classes[Number(digit[2]) - 1];
    if (!cls) { toast(`no class ${digit[2]} yet: add one with n`); return true; }
    labelFocused(cls, e.shiftKey);
    return true;
  }
  switch (e.key) {
    case "j": case "ArrowDown": setFocus(S.focus + 1); return true;
    case "k": case "ArrowUp": setFocus(S.focus - 1); return true;
    case "x": skip(); return true;
    case "u": undo(); return true;
    case "r": retrainNow(); return true;
    case "n": addClass(); return true;
    case "o": case "Enter": {
      const row = S.rows[S.focus];
      if (row) openSession({ start_id: row.id, size: S.rows.length - 1, unlabeled_only: true }).catch(fail);
      return true;
    }
    case "PageDown": setFocus(S.focus + 10); return true;
    case "PageUp": setFocus(S.focus - 10); return true;
    default: return false;
  }
}
