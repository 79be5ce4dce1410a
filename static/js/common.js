// Shared by every page (base.html loads it; page modules import from "./common.js"):
// - fetchJSON: same-origin JSON requests that send the session's CSRF token and turn the API's
//   {"error": {"code", "message", "field"}} bodies into ApiError;
// - liveSocket: the one Socket.IO connection of the page, driving the navbar's #connection-state;
// - formatting of exact decimal strings, bps, percentages and times; debounce; small DOM helpers.
// Amounts stay strings: the API sends exact decimals and the pages never do money in floats.

export const FINAL_STATUSES = new Set(["confirmed", "failed", "cancelled", "expired"]);
/** Orders that still wait for something (a price, a slice, a worker) and may be cancelled. */
export const CANCELLABLE_STATUSES = new Set(["open", "working", "pending"]);
export const ORDER_TYPE_LABELS = {
  market: "Market", limit: "Limit", stop_loss: "Stop loss", take_profit: "Take profit", twap: "TWAP",
};
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
  if (value === null || value === undefined || value === "") return "–"; // Number(null) is 0
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
  open: "text-bg-warning",
  working: "text-bg-primary",
  cancelled: "text-bg-dark",
  expired: "text-bg-dark",
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

// The operator's trading halt: the layout renders #trading-halt-banner as it stood when the page was
// served; the `trading_halt` event shows or hides it live.
function renderTradingHalt(halt) {
  const banner = document.getElementById("trading-halt-banner");
  if (!banner) return;
  banner.dataset.halted = halt.halted ? "true" : "false";
  banner.hidden = !halt.halted;
  document.getElementById("trading-halt-reason").textContent = halt.reason ? `: ${halt.reason}` : "";
  document.dispatchEvent(new CustomEvent("trading-halt", { detail: halt }));
}

/** Whether the operator has halted trading, as the page knows it now. */
export function isTradingHalted() {
  return document.getElementById("trading-halt-banner")?.dataset.halted === "true";
}

socket?.on("trading_halt", renderTradingHalt);

// --- money, durations and labels for the dashboard and analytics pages ---------------------------
// USD figures from the analytics API are statistics (JSON numbers), so floats are fine here.

const USD_FORMATS = new Map();

function usdFormat(digits) {
  if (!USD_FORMATS.has(digits)) {
    USD_FORMATS.set(digits, new Intl.NumberFormat("en-US", {
      style: "currency", currency: "USD", minimumFractionDigits: digits, maximumFractionDigits: digits,
    }));
  }
  return USD_FORMATS.get(digits);
}

/** A USD amount ("$1,234.56"); amounts under a cent keep 2 significant digits ("$0.0079"). */
export function formatUsd(value, digits = 2) {
  if (value === null || value === undefined || value === "") return "–";
  const n = Number(value);
  if (!Number.isFinite(n)) return "–";
  const abs = Math.abs(n);
  if (abs > 0 && abs < 0.01) {
    const places = Math.min(10, 1 - Math.floor(Math.log10(abs)));
    return usdFormat(places).format(n);
  }
  return usdFormat(digits).format(n);
}

const USD_COMPACT = new Intl.NumberFormat("en-US", {
  style: "currency", currency: "USD", notation: "compact", maximumFractionDigits: 1,
});

/** A short USD amount for chart axes ("$9.2K"). */
export function formatUsdCompact(value) {
  const n = Number(value);
  if (!Number.isFinite(n)) return "–";
  return Math.abs(n) < 1000 ? formatUsd(n, Math.abs(n) < 10 && n !== 0 ? 2 : 0) : USD_COMPACT.format(n);
}

/** A price in USD from an exact decimal string: 2 decimals from $1, else 4 significant digits. */
export function formatUsdPrice(value) {
  const n = Number(value);
  if (value === null || value === undefined || !Number.isFinite(n)) return "–";
  if (Math.abs(n) >= 1) return formatUsd(n, 2);
  if (n === 0) return formatUsd(0, 2);
  const places = Math.min(12, 3 - Math.floor(Math.log10(Math.abs(n))));
  return usdFormat(places).format(n);
}

/** Milliseconds as text ("58.4 ms", "1.25 s"). */
export function formatMs(value) {
  if (value === null || value === undefined) return "–";
  const n = Number(value);
  if (!Number.isFinite(n)) return "–";
  if (n >= 1000) return `${(n / 1000).toFixed(2)} s`;
  return `${n.toFixed(n >= 100 ? 0 : 1)} ms`;
}

/** "OPTIMAL_SPLIT" → "Optimal split". */
export function strategyLabel(value) {
  if (!value) return "–";
  const words = String(value).toLowerCase().split("_");
  return [words[0].charAt(0).toUpperCase() + words[0].slice(1), ...words.slice(1)].join(" ");
}

// --- charts (Chart.js 4: the page loads static/vendor/chart.js/chart.umd.min.js before its module) ---

/** The route colours of app.css (--sr-route-0..7), for chart series. */
export function chartPalette() {
  const style = getComputedStyle(document.documentElement);
  return Array.from({ length: 8 }, (_, i) => style.getPropertyValue(`--sr-route-${i}`).trim() || "#adb5bd");
}

let chartThemeApplied = false;

/** Chart.js, themed for the dark layout; null (and the canvases keep their text) if it did not load. */
export function chartLibrary() {
  const Chart = window.Chart;
  if (typeof Chart !== "function") return null;
  if (!chartThemeApplied) {
    const style = getComputedStyle(document.body);
    Chart.defaults.color = style.color || "#dee2e6";
    Chart.defaults.borderColor = "rgba(255, 255, 255, 0.12)";
    Chart.defaults.font.family = style.fontFamily;
    Chart.defaults.maintainAspectRatio = false;
    if (window.matchMedia("(prefers-reduced-motion: reduce)").matches) Chart.defaults.animation = false;
    chartThemeApplied = true;
  }
  return Chart;
}

const charts = new WeakMap();

/** `options` with the axes and legend hidden: an empty chart shows only its "no data" note. */
function emptyChartOptions(options = {}) {
  const scales = Object.fromEntries(Object.entries(options.scales || {}).map(([id, scale]) => [id, { ...scale, display: false }]));
  return { ...options, scales, plugins: { ...(options.plugins || {}), legend: { display: false } } };
}

/**
 * Draw `config` ({type, data, options}) on `canvas`, or replace the data of the chart already there.
 * Marks the canvas with data-points (values drawn, every dataset) and data-updates (draws so far),
 * and writes `summary` as the canvas's text fallback and into its aria-describedby element.
 */
export function drawChart(canvas, config, summary = "") {
  if (!canvas) return null;
  const points = config.data.datasets.reduce(
    (sum, ds) => sum + ds.data.filter((v) => v !== null && v !== undefined).length, 0);
  const Chart = chartLibrary();
  let chart = charts.get(canvas) || null;
  if (points === 0) config = { ...config, options: emptyChartOptions(config.options) };
  if (Chart) {
    if (chart && chart.config.type === config.type) {
      chart.data.labels = config.data.labels;
      chart.data.datasets = config.data.datasets;
      if (config.options) chart.options = config.options;
      chart.update();
    } else {
      chart?.destroy();
      chart = new Chart(canvas, config);
      charts.set(canvas, chart);
    }
  }
  canvas.dataset.points = String(points);
  canvas.dataset.updates = String((Number.parseInt(canvas.dataset.updates || "0", 10) || 0) + 1);
  const text = summary || (points ? "" : "No data yet.");
  canvas.textContent = text;
  const describedBy = canvas.getAttribute("aria-describedby");
  const description = describedBy ? document.getElementById(describedBy) : null;
  if (description) description.textContent = text;
  const box = canvas.closest(".chart-box");
  if (box) box.dataset.empty = String(points === 0);
  return chart;
}

// --- tokens, prices and exact decimals for the trader's pages (trade, order, orders) -------------

/** Tokens that ship an icon under static/img/tokens/ (others get a lettered placeholder). */
const TOKEN_ICONS = new Set(["SOL", "USDC", "USDT", "RAY", "JUP", "BONK"]);

/** A token's icon (decorative: the symbol is always written beside it). */
export function tokenIcon(symbol) {
  if (TOKEN_ICONS.has(symbol)) {
    return el("img", { class: "token-icon", src: `/static/img/tokens/${symbol}.svg`, alt: "", width: "16", height: "16" });
  }
  return el("span", { class: "token-icon token-icon-blank", "aria-hidden": "true" }, String(symbol || "?").charAt(0));
}

/** Icon and symbol ("◎ SOL"), never wrapped apart. */
export function tokenLabel(symbol) {
  return el("span", { class: "token-label" }, tokenIcon(symbol), symbol);
}

/** An amount with its token, as one unbreakable number ("1,496.077538 USDC"); exact value on hover. */
export function amountNode(value, symbol, options) {
  return el("span", { class: "num", title: value === null || value === undefined ? null : `${value} ${symbol}` },
    formatTokenAmount(value, symbol, options));
}

const PRICE_FORMATS = new Map();

/**
 * A price for people: five to `significant` (default 6) significant figures, so small prices keep
 * their digits ("0.0000212345") and round ones show their precision ("149.60"); from 100,000 up,
 * two decimals at most. Display only (a float is fine).
 */
export function formatPrice(value, significant = 6) {
  if (value === null || value === undefined || value === "") return "–";
  const n = Number(value);
  if (!Number.isFinite(n)) return "–";
  if (n === 0) return "0";
  const key = Math.abs(n) >= 1e5 ? "big" : significant;
  if (!PRICE_FORMATS.has(key)) {
    PRICE_FORMATS.set(key, key === "big"
      ? new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 })
      : new Intl.NumberFormat("en-US", {
        minimumSignificantDigits: Math.min(5, significant), maximumSignificantDigits: significant,
      }));
  }
  return PRICE_FORMATS.get(key).format(n);
}

/** tokenOut per tokenIn from two exact decimal strings, formatted by formatPrice ("0.0000198870"). */
export function formatUnitPrice(amountOut, amountIn, significant = 6) {
  const a = Number(amountOut);
  const b = Number(amountIn);
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return "–";
  return formatPrice(a / b, significant);
}

/** An exact decimal string as base units (BigInt) of a token with `decimals`; null if not a number. */
export function toUnits(text, decimals) {
  const m = /^\s*(\d*)(?:\.(\d*))?\s*$/.exec(String(text ?? ""));
  if (!m || (m[1] === "" && (m[2] ?? "") === "")) return null;
  const frac = (m[2] || "").padEnd(decimals, "0");
  if (frac.length > decimals && /[1-9]/.test(frac.slice(decimals))) return null; // finer than the token
  return BigInt(m[1] || "0") * 10n ** BigInt(decimals) + BigInt(frac.slice(0, decimals) || "0");
}

/** Base units (BigInt) as an exact decimal string, trailing zeros dropped. */
export function fromUnits(units, decimals) {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(decimals + 1, "0");
  const whole = digits.slice(0, digits.length - decimals);
  const frac = decimals ? digits.slice(digits.length - decimals).replace(/0+$/, "") : "";
  return `${negative ? "-" : ""}${whole}${frac ? `.${frac}` : ""}`;
}

function fractionDigits(text) {
  const dot = String(text).indexOf(".");
  return dot < 0 ? 0 : String(text).length - dot - 1;
}

/** a + b for two exact non-negative decimal strings, exactly. */
export function addDecimal(a, b) {
  const places = Math.max(fractionDigits(a), fractionDigits(b));
  const x = toUnits(a, places);
  const y = toUnits(b, places);
  return x === null || y === null ? null : fromUnits(x + y, places);
}

/** a − b for two exact non-negative decimal strings, exactly (a decimal string, maybe negative). */
export function subtractDecimal(a, b) {
  const places = Math.max(fractionDigits(a), fractionDigits(b));
  const x = toUnits(a, places);
  const y = toUnits(b, places);
  return x === null || y === null ? null : fromUnits(x - y, places);
}

/** What an order's list row or page says it received: the amount, or why there is none. */
export function receivedText(order) {
  if (order.amountOut !== null && order.amountOut !== undefined) return formatTokenAmount(order.amountOut, order.tokenOut);
  if (["failed", "cancelled", "expired"].includes(order.status)) return "not filled";
  return "not filled yet";
}

/** An order event's message for people: strategy enums by name ("OPTIMAL_SPLIT: …" → "Optimal split: …"). */
export function eventText(message) {
  return String(message ?? "").replace(/\b[A-Z]+(?:_[A-Z]+)+\b/g, (name) => strategyLabel(name));
}

/** An order type's name for people ("stop_loss" → "Stop loss"). */
export function orderTypeLabel(value) {
  return ORDER_TYPE_LABELS[value] || strategyLabel(value);
}

/** A small badge naming an order's type (data-order-type carries the API value). */
export function orderTypeBadge(value) {
  return el("span", { class: `badge type-badge type-${value || "market"}`, dataset: { orderType: value || "market" } },
    orderTypeLabel(value || "market"));
}
