// The page: views (find, session, map, progress) behind the hash router, the author, the status poll, keys.
import { api } from "./api.js";
import { $, isTyping, short } from "./dom.js";
import { app, askAuthor, emit, fail, loadClasses, modalOpen, showAuthor } from "./store.js";
import * as find from "./find.js";
import * as session from "./session.js";
import * as mapView from "./map.js";
import * as progress from "./progress.js";

const views = { find, session, map: mapView, progress };
const POLL_MS = 1500;

function route() {
  const [name, ...rest] = (location.hash.replace(/^#/, "") || "find").split("/");
  const view = views[name] ? name : "find";
  for (const [key, module] of Object.entries(views)) {
    const section = $(`view-${key}`);
    const active = key === view;
    if (!active && !section.hidden && module.hide) module.hide();
    section.hidden = !active;
  }
  for (const a of document.querySelectorAll(".tabs a")) a.classList.toggle("active", a.dataset.view === view);
  app.view = view;
  views[view].show(rest.map(decodeURIComponent).join("/"));
}

function renderJobs(status) {
  const parts = [];
  for (const job of status.jobs || []) {
    const share = job.total ? ` ${Math.round((100 * job.done) / job.total)}%` : "";
    parts.push(`${job.kind}${share}: ${job.message || job.state}`);
  }
  if (status.external) {
    const ext = status.external;
    const what = ext.encoder_finetuning ? "encoder fine-tuning" : `likewise ${ext.command}`;
    parts.push(`${what} is running (pid ${ext.pid}, since ${ext.since}); the app picks up its result when it ends`);
  }
  $("jobs").textContent = short(parts.join(" · "), 200);
  $("jobs").title = parts.join("\n");
}

async function poll() {
  try {
    const status = await api.get("/api/status");
    const before = app.status;
    app.status = status;
    renderJobs(status);
    if (before && before.seq !== status.seq) loadClasses().catch(fail); // counts, and classes others added
    emit("status", { status, before });
  } catch (err) {
    $("jobs").textContent = `server unreachable: ${err.message}`;
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function toggleHelp(show) {
  const help = $("help");
  help.hidden = show === undefined ? !help.hidden : !show;
}

function onKey(e) {
  if (modalOpen()) return;
  if (!$("help").hidden) {
    if (e.key === "Escape" || e.key === "?") { toggleHelp(false); e.preventDefault(); }
    return;
  }
  if (isTyping(e)) {
    if (e.key === "Escape") e.target.blur();
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "?") { toggleHelp(true); e.preventDefault(); return; }
  if (e.key === "/") {
    e.preventDefault();
    if (app.view !== "find") location.hash = "#find";
    setTimeout(() => $("find-query").focus(), 0);
    return;
  }
  const view = views[app.view];
  if (view.onKey && view.onKey(e)) e.preventDefault();
}

async function start() {
  showAuthor();
  $("author-button").addEventListener("click", askAuthor);
  $("help-button").addEventListener("click", () => toggleHelp());
  $("help-close").addEventListener("click", () => toggleHelp(false));
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", route);
  try {
    app.info = await api.get("/api/info");
    app.status = app.info.status;
    app.classes = app.info.classes;
    $("ws-name").textContent = `${app.info.name} · ${app.info.records.toLocaleString()} records`;
    document.title = `likewise · ${app.info.name}`;
  } catch (err) {
    fail(err);
  }
  for (const module of Object.values(views)) if (module.init) module.init();
  route();
  poll();
  if (!app.author) await askAuthor();
  document.body.dataset.ready = "1";
}

start().catch(fail);
