// What every view shares: the author, the classes in key order, the last status, events between views.
import { api } from "./api.js";
import { $, el, clear } from "./dom.js";

export const app = {
  author: localStorage.getItem("likewise.author") || "",
  classes: [],
  status: null,
  info: null,
  view: "find",
};

const listeners = new Map();
export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, []);
  listeners.get(name).push(fn);
}
export function emit(name, data) {
  for (const fn of listeners.get(name) || []) fn(data);
}

let toastTimer = null;
export function toast(message, kind = "info") {
  const box = $("toast");
  box.textContent = message;
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, kind === "error" ? 7000 : 3500);
}

export function fail(err) {
  toast(err && err.message ? err.message : String(err), "error");
}

export function classIndex(name) {
  return app.classes.findIndex((c) => c.name === name);
}

export async function loadClasses() {
  app.classes = await api.get("/api/classes");
  emit("classes", app.classes);
  return app.classes;
}

// a small modal with fields; resolves with the values, or null when cancelled
export function dialog({ title, text = "", fields = [], ok = "OK", check = null }) {
  return new Promise((resolve) => {
    const box = $("dialog");
    $("dialog-title").textContent = title;
    $("dialog-text").textContent = text;
    $("dialog-error").textContent = "";
    $("dialog-ok").textContent = ok;
    const area = clear($("dialog-fields"));
    const inputs = {};
    for (const f of fields) {
      let input;
      if (f.options) {
        input = el("select", { id: `dialog-${f.name}` }, f.options.map((o) => el("option", { value: o, text: o })));
        if (f.value) input.value = f.value;
      } else {
        input = el("input", { id: `dialog-${f.name}`, type: "text", value: f.value ?? "", autocomplete: "off" });
      }
      inputs[f.name] = input;
      area.append(el("label", {}, f.label, input));
    }
    box.hidden = false;
    const first = Object.values(inputs)[0];
    if (first) { first.focus(); if (first.select) first.select(); } else $("dialog-ok").focus();
    const done = (value) => {
      box.hidden = true;
      box.removeEventListener("keydown", onKey);
      $("dialog-ok").onclick = null;
      $("dialog-cancel").onclick = null;
      resolve(value);
    };
    const submit = () => {
      const values = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.value.trim()]));
      const problem = check ? check(values) : null;
      if (problem) { $("dialog-error").textContent = problem; return; }
      done(values);
    };
    const onKey = (e) => {
      if (e.key === "Enter") { e.preventDefault(); submit(); }
      if (e.key === "Escape") { e.preventDefault(); done(null); }
      e.stopPropagation();
    };
    box.addEventListener("keydown", onKey);
    $("dialog-ok").onclick = submit;
    $("dialog-cancel").onclick = () => done(null);
  });
}

export function modalOpen() {
  return !$("dialog").hidden;
}

export function showAuthor() {
  $("author-button").textContent = app.author ? `you: ${app.author}` : "set your name";
}

export async function askAuthor() {
  const values = await dialog({
    title: "Your name",
    text: "Shown with every label you give, so a team can tell who labeled what (stored in this browser).",
    fields: [{ name: "author", label: "Name", value: app.author }],
    check: (v) => (!v.author ? "a name is needed" : v.author.length > 80 ? "at most 80 characters" : null),
  });
  if (values) {
    app.author = values.author;
    localStorage.setItem("likewise.author", app.author);
    showAuthor();
  }
  return app.author;
}

// asked before the first change
export async function ensureAuthor() {
  if (app.author) return true;
  await askAuthor();
  if (!app.author) toast("set your name first (top right)", "error");
  return Boolean(app.author);
}
