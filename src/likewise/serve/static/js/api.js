// The page talks to the server only through its HTTP API (JSON). Changes carry the CSRF header; label
// writes carry an idempotency key, and a write that failed on the network is retried with the same key.

function csrfToken() {
  const name = `likewise_csrf_${location.port || (location.protocol === "https:" ? "443" : "80")}=`;
  const part = document.cookie.split("; ").find((c) => c.startsWith(name));
  return part ? part.slice(name.length) : "";
}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

async function request(method, path, body) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET") init.headers["X-CSRF-Token"] = csrfToken();
  const response = await fetch(path, init);
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (!response.ok) {
    const message = data && typeof data.error === "string" ? data.error : `HTTP ${response.status}`;
    throw new ApiError(response.status, message, data);
  }
  return data;
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body) => request("POST", path, body ?? {}),
  // a change that must not be lost: retried on network errors (never on an answer from the server)
  async postRetried(path, body, tries = 4) {
    for (let i = 0; ; i++) {
      try {
        return await request("POST", path, body);
      } catch (err) {
        if (err instanceof ApiError || i + 1 >= tries) throw err;
        await new Promise((resolve) => setTimeout(resolve, 300 * (i + 1)));
      }
    }
  },
};

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function q(params) {
  const usp = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") usp.set(k, String(v));
  const s = usp.toString();
  return s ? `?${s}` : "";
}

export const enc = encodeURIComponent;
