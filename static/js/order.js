// The order page: GET /api/orders/<id> rendered as a summary, the route's certificate, the legs and
// the timeline of events; while the order is not final it follows Socket.IO (subscribe_order →
// order_update) and reloads the order on every update (polling instead when the feed is down).
// A failed order shows why, and the route it attempted when it got that far; an order waiting for an
// OTC desk's settlement shows a countdown to route.settleAt.
import {
  FINAL_STATUSES, bpsToPercent, describeError, el, emitWithAck, fetchJSON, formatBps, formatDateTime,
  formatPrice, formatTime, formatTokenAmount, formatUnitPrice, getConnectionState, liveSocket, onConnectionChange,
  eventText, receivedText, setStatusBadge, show, strategyLabel,
} from "./common.js";

const root = document.getElementById("order-page");
const orderId = root.dataset.orderId;
const POLL_MS = 1500;
const KIND_LABELS = { amm: "AMM", otc: "OTC", aggregator: "Aggregator" };

let isFinal = false;
let pollTimer = null;
let loading = null;
let reloadAgain = false;
let countdownTimer = null;

function text(id, value, title) {
  const node = document.getElementById(id);
  node.textContent = value;
  if (title) node.title = title;
}

function renderSummary(o) {
  setStatusBadge(document.getElementById("order-status"), o.status);
  text("order-amount-in", formatTokenAmount(o.amountIn, o.tokenIn), `${o.amountIn} ${o.tokenIn}`);
  text("order-amount-out", receivedText(o), o.amountOut ? `${o.amountOut} ${o.tokenOut}` : null);
  document.getElementById("order-amount-out").classList.toggle("text-body-secondary", !o.amountOut);
  text("order-quoted-out", formatTokenAmount(o.quotedAmountOut, o.tokenOut), `${o.quotedAmountOut} ${o.tokenOut}`);
  text("order-min-out", formatTokenAmount(o.minAmountOut, o.tokenOut), `${o.minAmountOut} ${o.tokenOut}`);
  text("order-price", o.trade ? `1 ${o.tokenIn} = ${formatPrice(o.trade.price)} ${o.tokenOut}`
    : o.amountOut ? `1 ${o.tokenIn} ≈ ${formatUnitPrice(o.amountOut, o.amountIn)} ${o.tokenOut}` : "–",
  o.trade ? o.trade.price : null);
  text("order-strategy", strategyLabel(o.routingStrategy), o.routingStrategy);
  text("order-slippage", `${o.slippageBps} bps (${bpsToPercent(o.slippageBps)})`);
  text("order-attempts", String(o.attempts));
  const errorNode = document.getElementById("order-error");
  if (o.status === "failed") {
    const why = o.error ? `${o.error.message || o.error.code}` : "the order failed";
    errorNode.replaceChildren(el("strong", {}, "Not filled. "), `${why}.`,
      o.error ? el("span", { class: "small text-body-secondary ms-1" }, `(${o.error.code})`) : null,
      el("span", { class: "d-block small" }, o.legs.length
        ? "The route it attempted is shown below; the held amount is available again."
        : "It failed before it was routed; the held amount is available again."));
  }
  show(errorNode, o.status === "failed");
}

/** Seconds to an OTC settlement, ticking; hidden once the order is final or has no OTC leg. */
function renderCountdown(o) {
  const node = document.getElementById("otc-countdown");
  clearInterval(countdownTimer);
  countdownTimer = null;
  const settleAt = o.route?.settleAt ? Date.parse(o.route.settleAt) : NaN;
  if (FINAL_STATUSES.has(o.status) || !Number.isFinite(settleAt)) {
    show(node, false);
    node.dataset.state = FINAL_STATUSES.has(o.status) ? "final" : "none";
    return;
  }
  const tick = () => {
    const left = Math.ceil((settleAt - Date.now()) / 1000);
    node.dataset.secondsLeft = String(Math.max(0, left));
    node.dataset.state = left > 0 ? "waiting" : "settling";
    node.replaceChildren(el("i", { class: "bi bi-hourglass-split me-1", "aria-hidden": "true" }),
      left > 0 ? "OTC settlement in " : "OTC settlement due: settling now…",
      left > 0 ? el("strong", { class: "num" }, `${left} s`) : null,
      el("span", { class: "small text-body-secondary ms-1" }, `(at ${formatTime(o.route.settleAt)})`));
    if (left <= 0) {
      clearInterval(countdownTimer);
      countdownTimer = null;
    }
  };
  tick();
  countdownTimer = setInterval(tick, 1000);
  show(node, true);
}

function renderRoute(o) {
  const r = o.route;
  const pending = document.getElementById("route-pending");
  const failed = o.status === "failed";
  show(pending, !r);
  show(document.getElementById("route-details"), Boolean(r));
  text("route-heading", failed && r ? "Route attempted (not filled)" : "Route certificate");
  if (!r) {
    pending.textContent = failed
      ? `No route: the order failed before it was routed${o.error ? ` (${o.error.message || o.error.code})` : ""}.`
      : "The route appears once the order has been routed.";
    return;
  }
  text("optimality-gap", formatBps(r.optimalityGapBps, 6),
    "Upper bound on how much more (in bps of the output) any split of this order could have paid");
  text("route-impact", `${formatBps(r.priceImpactBps)} (${bpsToPercent(r.priceImpactBps)})`);
  text("route-savings", formatBps(r.savingsVsBestSingleBps));
  text("route-best-single", r.bestSingleVenue
    ? `${r.bestSingleVenue}: ${formatTokenAmount(r.bestSingleAmountOut, o.tokenOut)}` : "–");
  text("route-jupiter", r.jupiterAmountOut ? formatTokenAmount(r.jupiterAmountOut, o.tokenOut) : "no Jupiter quote");
}

function renderLegs(o) {
  const tbody = document.querySelector("#order-legs tbody");
  const planned = o.legs.some((leg) => leg.planned);
  const final = FINAL_STATUSES.has(o.status);
  tbody.replaceChildren(...o.legs.map((leg) => el("tr", { dataset: { venueId: leg.venueId, hop: String(leg.hop) } },
    el("th", { scope: "row", class: "fw-normal" }, leg.venue,
      el("span", { class: `badge kind-badge kind-${leg.kind} ms-1` }, KIND_LABELS[leg.kind] || leg.kind),
      leg.hop > 0 ? el("span", { class: "badge text-bg-secondary ms-1" }, `hop ${leg.hop + 1}`) : null),
    el("td", { class: "d-none d-md-table-cell small" }, leg.path.join(" → ")),
    el("td", { class: "text-end num d-none d-sm-table-cell", title: `${leg.amountIn} ${leg.tokenIn}` },
      formatTokenAmount(leg.amountIn, leg.tokenIn)),
    el("td", { class: "text-end num", title: `${leg.amountOut} ${leg.tokenOut}` }, formatTokenAmount(leg.amountOut, leg.tokenOut),
      el("span", { class: "d-block d-sm-none small text-body-secondary" }, `for ${formatTokenAmount(leg.amountIn, leg.tokenIn)}`)),
    el("td", { class: "text-end small num d-none d-sm-table-cell", title: leg.price ?? null },
      leg.price ? formatPrice(leg.price) : `≈ ${formatUnitPrice(leg.amountOut, leg.amountIn)}`))));
  show(document.getElementById("order-legs"), o.legs.length > 0);
  const empty = document.getElementById("legs-empty");
  show(empty, o.legs.length === 0);
  empty.textContent = o.status === "failed" ? "No legs: the order failed before it was routed."
    : "No legs yet: they appear once the order is routed.";
  let kind = "";
  if (o.legs.length && o.status === "failed") kind = "attempted: not filled";
  else if (o.legs.length && planned) kind = final ? "planned" : "planned (not filled yet)";
  else if (o.legs.length) kind = "paper fills";
  text("legs-kind", kind);
  document.getElementById("legs-heading").textContent = o.status === "failed" && o.legs.length ? "Legs attempted" : "Legs";
}

function renderTimeline(o) {
  const list = document.getElementById("order-timeline");
  const start = o.events.length ? Date.parse(o.events[0].timestamp) : null;
  list.replaceChildren(...o.events.map((e) => {
    const t = Date.parse(e.timestamp);
    const offset = start !== null && Number.isFinite(t) ? `+${(t - start).toFixed(0)} ms` : "";
    return el("li", { class: `timeline-event timeline-${e.status}`, dataset: { status: e.status } },
      el("span", { class: "timeline-dot", "aria-hidden": "true" }),
      el("div", { class: "d-flex flex-wrap justify-content-between gap-2" },
        el("span", {}, el("strong", { class: "text-capitalize" }, e.status)),
        el("time", { datetime: e.timestamp, title: `${formatDateTime(e.timestamp)} (${e.timestamp})`, class: "small text-body-secondary" },
          `${formatTime(e.timestamp)} ${offset}`)),
      el("div", { class: "small" }, eventText(e.message)));
  }));
}

function render(o) {
  renderSummary(o);
  renderCountdown(o);
  renderRoute(o);
  renderLegs(o);
  renderTimeline(o);
  isFinal = FINAL_STATUSES.has(o.status);
  root.dataset.status = o.status;
  text("order-live", isFinal ? "final" : "updating live…");
  if (isFinal) stopPolling();
}

async function reload() {
  if (loading) { // one request at a time; the newest update wins
    reloadAgain = true;
    return loading;
  }
  loading = (async () => {
    try {
      const o = await fetchJSON(`/api/orders/${encodeURIComponent(orderId)}`);
      render(o);
      show(document.getElementById("order-load-error"), false);
    } catch (err) {
      const node = document.getElementById("order-load-error");
      node.textContent = `Could not load the order: ${describeError(err)}`;
      show(node, true);
    } finally {
      loading = null;
      if (reloadAgain) {
        reloadAgain = false;
        reload();
      }
    }
  })();
  return loading;
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

function startPolling() {
  if (isFinal || pollTimer) return;
  pollTimer = setInterval(reload, POLL_MS);
}

async function subscribe() {
  if (isFinal) return;
  if (getConnectionState() !== "connected") {
    startPolling();
    return;
  }
  try {
    const ack = await emitWithAck("subscribe_order", { orderId });
    if (ack && ack.ok) stopPolling(); else startPolling();
  } catch {
    startPolling();
  }
}

async function init() {
  const socket = liveSocket();
  if (socket) {
    socket.on("order_update", (update) => { if (update.orderId === orderId && !isFinal) reload(); });
    socket.on("connect", subscribe);
  }
  onConnectionChange((connection) => { if (connection !== "connected") startPolling(); });
  await reload();
  if (!isFinal) subscribe();
}

init();
