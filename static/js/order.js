// The order page: GET /api/orders/<id> rendered as a summary, the route's certificate, the legs and
// the timeline of events; while the order is not final it follows Socket.IO (subscribe_order →
// order_update) and reloads the order on every update (polling instead when the feed is down).
import {
  FINAL_STATUSES, bpsToPercent, describeError, el, emitWithAck, fetchJSON, formatAmount, formatBps,
  formatDateTime, formatRatio, formatTime, formatTokenAmount, getConnectionState, liveSocket,
  onConnectionChange, setStatusBadge, show,
} from "./common.js";

const root = document.getElementById("order-page");
const orderId = root.dataset.orderId;
const POLL_MS = 1500;
const KIND_LABELS = { amm: "AMM", otc: "OTC", aggregator: "Aggregator" };

let isFinal = false;
let pollTimer = null;
let loading = null;
let reloadAgain = false;

function text(id, value, title) {
  const node = document.getElementById(id);
  node.textContent = value;
  if (title) node.title = title;
}

function renderSummary(o) {
  setStatusBadge(document.getElementById("order-status"), o.status);
  text("order-amount-in", formatTokenAmount(o.amountIn, o.tokenIn), `${o.amountIn} ${o.tokenIn}`);
  text("order-amount-out", o.amountOut ? formatTokenAmount(o.amountOut, o.tokenOut) : "not filled yet",
    o.amountOut ? `${o.amountOut} ${o.tokenOut}` : null);
  text("order-quoted-out", formatTokenAmount(o.quotedAmountOut, o.tokenOut), `${o.quotedAmountOut} ${o.tokenOut}`);
  text("order-min-out", formatTokenAmount(o.minAmountOut, o.tokenOut), `${o.minAmountOut} ${o.tokenOut}`);
  text("order-price", o.trade ? `1 ${o.tokenIn} = ${formatAmount(o.trade.price)} ${o.tokenOut}`
    : o.amountOut ? `1 ${o.tokenIn} ≈ ${formatRatio(o.amountOut, o.amountIn)} ${o.tokenOut}` : "–");
  text("order-strategy", o.routingStrategy);
  text("order-slippage", `${o.slippageBps} bps (${bpsToPercent(o.slippageBps)})`);
  text("order-attempts", String(o.attempts));
  const errorNode = document.getElementById("order-error");
  if (o.status === "failed" && o.error) {
    errorNode.textContent = `Failed (${o.error.code}): ${o.error.message}`;
  }
  show(errorNode, o.status === "failed");
}

function renderRoute(o) {
  const r = o.route;
  show(document.getElementById("route-pending"), !r);
  show(document.getElementById("route-details"), Boolean(r));
  if (!r) return;
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
  tbody.replaceChildren(...o.legs.map((leg) => el("tr", { dataset: { venueId: leg.venueId, hop: String(leg.hop) } },
    el("th", { scope: "row", class: "fw-normal" }, leg.venue,
      el("span", { class: `badge kind-badge kind-${leg.kind} ms-1` }, KIND_LABELS[leg.kind] || leg.kind),
      leg.hop > 0 ? el("span", { class: "badge text-bg-secondary ms-1" }, `hop ${leg.hop + 1}`) : null),
    el("td", { class: "d-none d-md-table-cell small" }, leg.path.join(" → ")),
    el("td", { class: "text-end", title: `${leg.amountIn} ${leg.tokenIn}` }, formatTokenAmount(leg.amountIn, leg.tokenIn)),
    el("td", { class: "text-end", title: `${leg.amountOut} ${leg.tokenOut}` }, formatTokenAmount(leg.amountOut, leg.tokenOut)),
    el("td", { class: "text-end small", title: leg.price ?? null },
      leg.price ? formatAmount(leg.price) : `≈ ${formatRatio(leg.amountOut, leg.amountIn)}`))));
  show(document.getElementById("order-legs"), o.legs.length > 0);
  show(document.getElementById("legs-empty"), o.legs.length === 0);
  text("legs-kind", o.legs.length === 0 ? "" : planned ? "planned (not filled yet)" : "paper fills");
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
      el("div", { class: "small" }, e.message));
  }));
}

function render(o) {
  renderSummary(o);
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
