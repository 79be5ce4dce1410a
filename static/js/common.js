// Shared by every page (base.html loads it; page modules import from "./common.js"):
// - fetchJSON: same-origin JSON requests that send the session's CSRF token and turn the API's
//   {"error": {"code", "message", "field"}} bodies into ApiError;
// - liveSocket: the one Socket.IO connection of the page, driving the navbar's #connection-state;
// - formatting of exact decimal strings, bps, percentages and times; debounce; small DOM helpers.
// Amounts stay strings: the API sends exact decimals and the pages never do money in floats.

export const FINAL_STATUSES = new Set(["confirmed", "failed"]);
export const LIFECYCLE = ["pending", "quoting", "routing", "building", "submitted"];

// --- requests ---------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, code, message, field = null, retryAfterS = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfterS = retryAfterS;
  }
}

export function csrfToken() {
  return document.body.dataset.csrfToken || "";
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Fetch JSON from our API; throws ApiError (or the AbortError of a cancelled request). */
export async function fetchJSON(url, { method = "GET", body, headers = {}, signal } = {}) {
  const init = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", ...headers },
    signal,
  };
  if (!SAFE_METHODS.has(method.toUpperCase())) {
    init.headers["X-CSRF-Token"] = csrfToken();
  }
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "network_error", "Could not reach the server. Is Solroute still running?");
  }
  let data = null;
  if ((response.headers.get("Content-Type") || "").includes("application/json")) {
    try {
      data = await response.json();
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      data = null;
    }
  }
  if (!response.ok) {
    const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    const retryAfterS = Number.isFinite(retry) ? retry : null;
    const e = data && typeof data.error === "object" && data.error !== null ? data.error : null;
    if (e) {
      throw new ApiError(response.status, e.code || "error", e.message || `HTTP ${response.status}`,
        e.field ?? null, retryAfterS);
    }
    throw new ApiError(response.status, "http_error",
      `The server answered ${response.status} ${response.statusText}`.trim(), null, retryAfterS);
  }
  return data;
}

/** A message for an ApiError that is not about one field (session expiry explained). */
export function describeError(err) {
  if (!(err instanceof ApiError)) return "Something went wrong. Please try again.";
  if (err.code === "csrf_failed") return "Your session changed (signed in or out elsewhere?). Reload the page and try again.";
  if (err.status === 401) return "You are not signed in any more. Sign in again to continue.";
  if (err.code === "queue_full" && err.retryAfterS) return `${err.message} (retry in ${err.retryAfterS} s)`;
  return err.message;
}

/** A fresh random id (Idempotency-Key); crypto.randomUUID needs a secure context, this does not. */
export function newId() {
  if (window.crypto && typeof window.crypto.randomUUID === "function" && window.isSecureContext) {
    return window.crypto.randomUUID();
  }
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

let tokensPromise = null;

/** The supported tokens from /api/tokens (one request per page). */
export function loadTokens() {
  if (!tokensPromise) {
    tokensPromise = fetchJSON("/api/tokens").then((data) => data.tokens);
    tokensPromise.catch(() => { tokensPromise = null; });
  }
  return tokensPromise;
}

// --- formatting -------------------------------------------------------------------------------

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?$/;

function groupThousands(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * An exact decimal string for display: thousands grouped, the fraction cut (rounded toward zero,
 * never up) to `maxFraction` digits, or to `significant` digits when the value is below 1.
 */
export function formatAmount(value, { maxFraction = 6, significant = 6 } = {}) {
  if (value === null || value === undefined || value === "") return "–";
  const text = String(value).trim();
  const m = DECIMAL.exec(text);
  if (!m) return text;
  const sign = m[1] === "-" ? "-" : "";
  const intPart = (m[2] || "0").replace(/^0+(?=\d)/, "");
  let frac = m[3] || "";
  if (intPart === "0") {
    const lead = frac.length - frac.replace(/^0+/, "").length;
    frac = frac.slice(0, Math.max(maxFraction, lead + significant));
  } else {
    frac = frac.slice(0, intPart.length >= 5 ? Math.min(maxFraction, 2) : maxFraction);
  }
  frac = frac.replace(/0+$/, "");
  const isZero = intPart === "0" && frac === "";
  return `${isZero ? "" : sign}${groupThousands(intPart)}${frac ? `.${frac}` : ""}`;
}

/** "1,234.5 USDC" */
export function formatTokenAmount(value, symbol, options) {
  if (value === null || value === undefined) return "–";
  return `${formatAmount(value, options)} ${symbol}`;
}

/** Basis points as text ("12.34 bps"); `digits` decimals. */
export function formatBps(value, digits = 2) {
  if (value === null || value === undefined || value === "") return "–";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  return `${n.toFixed(digits)} bps`;
}

/** Basis points as a percentage ("1.23%"). */
export function bpsToPercent(value, digits = 2) {
  const n = Number(value);
  if (!Number.isFinite(n)) return "–";
  return `${(n / 100).toFixed(digits)}%`;
}

/** A 0..1 share as a percentage ("95.5%"). */
export function formatShare(value, digits = 1) {
  const n = Number(value);
  if (!Number.isFinite(n)) return "–";
  return `${(n * 100).toFixed(digits)}%`;
}

/** A ratio of two decimal strings, for display only ("≈ 149.67"). */
export function formatRatio(numerator, denominator, digits = 6) {
  const a = Number(numerator);
  const b = Number(denominator);
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return "–";
  const r = a / b;
  const places = r >= 1000 ? 2 : r >= 1 ? Math.min(digits, 4) : digits;
  return r.toLocaleString(undefined, { maximumFractionDigits: places });
}

const TIME_FORMAT = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3, hour12: false,
});
const DATE_TIME_FORMAT = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  hour12: false,
});

/** An ISO timestamp as local time with milliseconds ("14:03:07.123"). */
export function formatTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : TIME_FORMAT.format(d);
}

/** An ISO timestamp as a local date and time. */
export function formatDateTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : DATE_TIME_FORMAT.format(d);
}

/** Milliseconds between two ISO timestamps, or null. */
export function msBetween(startIso, endIso) {
  const a = Date.parse(startIso);
  const b = Date.parse(endIso);
  return Number.isFinite(a) && Number.isFinite(b) ? b - a : null;
}

// --- timing -----------------------------------------------------------------------------------

/** `fn` called `waitMs` after the last call; `.cancel()` drops a pending call, `.flush()` runs it now. */
export function debounce(fn, waitMs) {
  let timer = null;
  let lastArgs = [];
  const debounced = (...args) => {
    lastArgs = args;
    clearTimeout(timer);
    timer = setTimeout(() => { timer = null; fn(...lastArgs); }, waitMs);
  };
  debounced.cancel = () => { clearTimeout(timer); timer = null; };
  debounced.flush = () => {
    if (timer !== null) { clearTimeout(timer); timer = null; fn(...lastArgs); }
  };
  return debounced;
}

// --- DOM --------------------------------------------------------------------------------------

/** Build an element: el("td", {class: "text-end", title: "x"}, "text", childNode). Text is never parsed as HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function show(node, visible = true) {
  if (node) node.classList.toggle("d-none", !visible);
}

const STATUS_CLASSES = {
  pending: "text-bg-secondary",
  quoting: "text-bg-info",
  routing: "text-bg-info",
  building: "text-bg-info",
  submitted: "text-bg-primary",
  confirmed: "text-bg-success",
  failed: "text-bg-danger",
};

/** Style a status badge element for an order status. */
export function setStatusBadge(node, status) {
  if (!node) return;
  node.className = node.className.replace(/\btext-bg-\S+/g, "").trim();
  node.classList.add("badge", STATUS_CLASSES[status] || "text-bg-secondary");
  node.textContent = status || "–";
  node.dataset.status = status || "";
}

export function statusBadge(status) {
  const badge = el("span", { class: "badge" });
  setStatusBadge(badge, status);
  return badge;
}

/** Mark a form control invalid with `message` next to it (its #<id>-feedback element). */
export function setFieldError(control, message) {
  if (!control) return;
  control.classList.add("is-invalid");
  control.setAttribute("aria-invalid", "true");
  const feedback = document.getElementById(`${control.id}-feedback`);
  if (feedback) feedback.textContent = message;
}

export function clearFieldError(control) {
  if (!control) return;
  control.classList.remove("is-invalid");
  control.removeAttribute("aria-invalid");
  const feedback = document.getElementById(`${control.id}-feedback`);
  if (feedback) feedback.textContent = "";
}

// --- the live feed ----------------------------------------------------------------------------

const CONNECTION_LABELS = {
  connecting: "Connecting…",
  connected: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};
const CONNECTION_CLASSES = {
  connecting: "text-bg-secondary",
  connected: "text-bg-success",
  reconnecting: "text-bg-warning",
  offline: "text-bg-danger",
};
const OFFLINE_AFTER_ATTEMPTS = 3; // still retrying, but tell the user the feed is down
let socket = null;
let connectionState = "connecting";
const connectionListeners = new Set();

function setConnectionState(state) {
  connectionState = state;
  const badge = document.getElementById("connection-state");
  if (badge) {
    badge.dataset.state = state;
    badge.classList.remove(...Object.values(CONNECTION_CLASSES));
    badge.classList.add(CONNECTION_CLASSES[state]);
    const label = badge.querySelector(".connection-label");
    if (label) label.textContent = CONNECTION_LABELS[state];
    badge.title = state === "connected" ? "Live updates: connected" : `Live updates: ${CONNECTION_LABELS[state]}`;
  }
  for (const listener of connectionListeners) listener(state);
}

export function getConnectionState() {
  return connectionState;
}

/** Call `listener(state)` whenever the live feed's state changes (connected, reconnecting, offline). */
export function onConnectionChange(listener) {
  connectionListeners.add(listener);
  return () => connectionListeners.delete(listener);
}

/** The page's Socket.IO connection (opened on first use; null if the client library is missing). */
export function liveSocket() {
  if (socket) return socket;
  if (typeof window.io !== "function") {
    setConnectionState("offline");
    return null;
  }
  socket = window.io({ reconnectionDelayMax: 5000 });
  socket.on("connect", () => setConnectionState("connected"));
  socket.on("disconnect", (reason) => {
    // The server closed us on purpose: Socket.IO will not retry by itself, so we do.
    if (reason === "io server disconnect") {
      setConnectionState("offline");
      setTimeout(() => socket.connect(), 2000);
    } else {
      setConnectionState("reconnecting");
    }
  });
  socket.on("connect_error", () => {
    if (connectionState !== "offline") setConnectionState(socket.active ? "reconnecting" : "offline");
  });
  socket.io.on("reconnect_attempt", (attempt) => {
    setConnectionState(attempt > OFFLINE_AFTER_ATTEMPTS || !navigator.onLine ? "offline" : "reconnecting");
  });
  window.addEventListener("offline", () => setConnectionState("offline"));
  window.addEventListener("online", () => {
    if (!socket.connected) {
      setConnectionState("reconnecting");
      socket.connect();
    }
  });
  return socket;
}

/** Emit with an acknowledgement as a promise (rejects after `timeoutMs`). */
export function emitWithAck(event, data, timeoutMs = 5000) {
  const s = liveSocket();
  if (!s) return Promise.reject(new Error("no live connection"));
  return s.timeout(timeoutMs).emitWithAck(event, data);
}

liveSocket();
