// Find a start record: search by text or id, browse, random unlabeled, least sure; filters by label/source.
import { api, q } from "./api.js";
import { $, put, clear, el } from "./dom.js";
import { app, fail, on } from "./store.js";
import { chip, openSession } from "./session.js";

let results = [];
let focus = 0;
let last = null;

function filters() {
  const label = $("find-label").value;
  return { unlabeled: $("find-unlabeled").checked ? "true" : "", label: label || undefined,
    source: $("find-source").value || undefined };
}

function fillLabels() {
  const select = $("find-label");
  const keep = select.value;
  clear(select).append(el("option", { value: "", text: "any" }));
  for (const c of app.classes) put(select, el("option", { value: c.name, text: c.name }));
  select.value = app.classes.some((c) => c.name === keep) ? keep : "";
  if (select.value) $("find-unlabeled").checked = false;
}

async function run(kind) {
  last = kind;
  const f = filters();
  const text = $("find-query").value.trim();
  try {
    let data;
    if (kind === "search") {
      if (!text) return;
      const by = $("find-mode").value === "id" ? { id: text } : { text };
      data = await api.get(`/api/search${q({ ...by, ...f, k: 50 })}`);
      results = data.hits;
      $("find-count").textContent = `${results.length} most similar (${data.kind} vectors)`;
    } else {
      const order = kind === "browse" ? "position" : kind;
      if (kind !== "browse" && !f.label) f.unlabeled = "true";
      data = await api.get(`/api/records${q({ ...f, order, limit: 50 })}`);
      results = data.records;
      $("find-count").textContent = `${data.total.toLocaleString()} records match; showing ${results.length}`;
    }
    focus = 0;
    render();
  } catch (err) {
    fail(err);
  }
}

function render() {
  const list = clear($("find-results"));
  results.forEach((r, i) => {
    const side = [chip(r.label, r), r.score !== undefined ? el("span", { class: "muted", text: ` ${r.score.toFixed(3)}` }) : null];
    const li = el("li", { class: i === focus ? "focused" : "", dataset: { id: r.id, index: i },
      onclick: () => { focus = i; render(); }, ondblclick: () => start(i) },
    el("div", {}, el("strong", { text: r.id }), " ", side),
    el("div", { class: "text", text: r.text }),
    el("button", { type: "button", text: "Open session", onclick: (e) => { e.stopPropagation(); start(i); } }));
    put(list, li);
  });
  const node = list.children[focus];
  if (node) node.scrollIntoView({ block: "nearest" });
}

function start(i) {
  const r = results[i];
  if (!r) return;
  const size = Math.max(1, Math.min(1000, Number($("find-size").value) || 100));
  const f = filters();
  openSession({ start_id: r.id, size, unlabeled_only: $("find-unlabeled").checked,
    label: $("find-unlabeled").checked ? undefined : f.label, source: f.source }).catch(fail);
}

export function init() {
  $("find-search").addEventListener("click", () => run("search"));
  $("find-browse").addEventListener("click", () => run("browse"));
  $("find-random").addEventListener("click", () => run("random"));
  $("find-uncertain").addEventListener("click", () => run("uncertain"));
  $("find-query").addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); run("search"); $("find-query").blur(); }
  });
  $("find-label").addEventListener("change", () => { if ($("find-label").value) $("find-unlabeled").checked = false; });
  on("classes", fillLabels);
  fillLabels();
}

export function show() {
  fillLabels();
  if (!results.length && !last) run("random");
}

export function onKey(e) {
  if (e.key === "j" || e.key === "ArrowDown") { focus = Math.min(results.length - 1, focus + 1); render(); return true; }
  if (e.key === "k" || e.key === "ArrowUp") { focus = Math.max(0, focus - 1); render(); return true; }
  if (e.key === "Enter" || e.key === "o") { start(focus); return true; }
  return false;
}

