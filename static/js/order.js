// The order page: GET /api/orders/<id> rendered as a summary, the route's certificate, the legs and
// the timeline of events; while the order is not final it follows Socket.IO (subscribe_order →
// order_update) and reloads the order on every update (polling instead when the feed is down).
// A failed order shows why, and the route it attempted when it got that far; an order waiting for an
// OTC desk's settlement shows a countdown to route.settleAt.
// A resting order (limit, stop loss, take profit) shows its price, the price now and the distance
// between them (currentPrice, distanceBps); a TWAP parent its slices on a progress bar, their fills,
// average price, next slice time, a chart of each slice's price against the reference mid it was routed at,
// and its children. An open, working or pending order has a Cancel button (POST …/cancel; a 409
// says why it cannot be cancelled any more).
import {
  ApiError, CANCELLABLE_STATUSES, FINAL_STATUSES, chartPalette, drawChart, orderTypeLabel, bpsToPercent, describeError, el, emitWithAck, fetchJSON, formatBps, formatDateTime,
  formatPrice, formatTime, formatTokenAmount, formatUnitPrice, getConnectionState, liveSocket, onConnectionChange,
  eventText, receivedText, setStatusBadge, show, strategyLabel,
} from "./common.js";

const root = document.getElementById("order-page");
const orderId = root.dataset.orderId;
const POLL_MS = 1500;
// An open order publishes nothing until its price comes: its distance to it is refreshed this often.
const RESTING_REFRESH_MS = 5000;
const KIND_LABELS = { amm: "AMM", otc: "OTC", aggregator: "Aggregator" };

let isFinal = false;
let pollTimer = null;
let loading = null;
let reloadAgain = false;
let countdownTimer = null;
let restingTimer = null;

function text(id, value, title) {
  const node = document.getElementById(id);
  node.textContent = value;
  if (title) node.title = title;
}

const RESTING_TYPES = new Set(["limit", "stop_loss", "take_profit"]);

function renderType(o) {
  const badge = document.getElementById("order-type-badge");
  badge.textContent = orderTypeLabel(o.orderType);
  badge.dataset.orderType = o.orderType;
  badge.className = `badge type-badge type-${o.orderType}`;
  let label = orderTypeLabel(o.orderType);
  if (o.exactSide === "out") label += ` · exact out (${formatTokenAmount(o.amountOutWanted, o.tokenOut)} wanted)`;
  const node = document.getElementById("order-type");
  node.replaceChildren(label);
  if (o.parentId) {
    node.append(" · ", el("a", { href: `/orders/${encodeURIComponent(o.parentId)}` },
      `slice ${(o.sliceIndex ?? 0) + 1} of a TWAP`));
  }
}

/** "Your limit is 6.89% above the price now": distanceBps is (limit or trigger − now) / now. */
function distanceText(o) {
  const bps = Number(o.distanceBps);
  const what = o.orderType === "limit" ? "limit" : "trigger";
  const pct = bpsToPercent(Math.abs(bps));
  const crossed = o.orderType === "stop_loss" ? bps >= 0 : bps <= 0;
  if (crossed) return `The price has reached your ${what}: the order runs at the next check.`;
  const side = bps > 0 ? "above" : "below";
  const needs = o.orderType === "stop_loss" ? "fall" : "rise";
  return `Your ${what} is ${pct} ${side} the price now: it runs when the price ${needs}s to it.`;
}

function renderResting(o) {
  const panel = document.getElementById("resting-panel");
  const resting = RESTING_TYPES.has(o.orderType);
  show(panel, resting);
  if (!resting) return;
  const unit = `${o.tokenOut} per ${o.tokenIn}`;
  const watched = o.orderType === "limit" ? o.limitPrice : o.triggerPrice;
  text("resting-heading", o.status === "open" ? "Waiting for its price"
    : o.triggeredAt ? `Triggered at ${formatTime(o.triggeredAt)}` : `${orderTypeLabel(o.orderType)} order`);
  text("resting-price-label", o.orderType === "limit" ? "Limit price" : "Trigger price");
  text("resting-price", `${formatPrice(watched)} ${unit}`, watched ? `${watched} ${unit}` : null);
  text("current-price", o.currentPrice ? `${formatPrice(o.currentPrice)} ${unit}` : "–", o.currentPrice);
  const distance = document.getElementById("distance");
  distance.dataset.bps = o.distanceBps ?? "";
  if (o.status === "open" && o.distanceBps !== null && o.distanceBps !== undefined) {
    distance.textContent = distanceText(o);
  } else if (o.status === "open") {
    distance.textContent = "The price now is not known yet.";
  } else {
    distance.textContent = o.triggeredAt ? `Its price came at ${formatDateTime(o.triggeredAt)}.`
      : `It ended ${o.status} without triggering.`;
  }
  distance.title = o.distanceBps ? `${o.distanceBps} bps` : "";
  text("order-expires", o.expiresAt ? formatDateTime(o.expiresAt) : "never (until cancelled)", o.expiresAt);
  for (const node of document.querySelectorAll(".oco-row")) show(node, Boolean(o.ocoGroup));
  text("order-oco", o.ocoGroup || "–");
}

function renderTwap(o) {
  const panel = document.getElementById("twap-panel");
  const twap = o.orderType === "twap" && !o.parentId;
  show(panel, twap);
  if (!twap) return;
  const slices = o.slices || 0;
  const filled = o.children.filter((c) => c.status === "confirmed").length;
  const ended = o.children.filter((c) => FINAL_STATUSES.has(c.status)).length;
  const sent = o.slicesSent;
  const bar = document.getElementById("twap-progress");
  const pct = (n) => (slices ? Math.min(100, (n / slices) * 100) : 0);
  document.getElementById("twap-progress-filled").style.width = `${pct(filled)}%`; // CSSOM, not an attribute
  document.getElementById("twap-progress-sent").style.width = `${pct(sent) - pct(filled)}%`;
  Object.assign(bar.dataset, { slices: String(slices), sent: String(sent), filled: String(filled), ended: String(ended) });
  bar.setAttribute("aria-valuenow", String(Math.round(pct(filled))));
  bar.setAttribute("aria-valuetext", `${filled} of ${slices} slices filled, ${sent} sent`);
  text("twap-sent", `${filled}/${slices} filled · ${sent} sent`);
  text("twap-filled-in", `${formatTokenAmount(o.filledAmountIn, o.tokenIn)} of ${formatTokenAmount(o.amountIn, o.tokenIn)}`,
    `${o.filledAmountIn} of ${o.amountIn} ${o.tokenIn}`);
  text("twap-filled-out", formatTokenAmount(o.filledAmountOut, o.tokenOut), `${o.filledAmountOut} ${o.tokenOut}`);
  text("twap-average", o.averagePrice ? `${formatPrice(o.averagePrice)} ${o.tokenOut} per ${o.tokenIn}` : "–", o.averagePrice);
  text("twap-next", o.nextSliceAt && !FINAL_STATUSES.has(o.status)
    ? `${formatTime(o.nextSliceAt)} (slice ${Math.min(sent + 1, slices)} of ${slices})` : "none", o.nextSliceAt);
  text("twap-schedule", `${slices} slices, one every ${o.intervalS} s; if one fails: ${o.onChildFailure === "continue" ? "go on" : "stop"}`);

  const tbody = document.querySelector("#twap-children tbody");
  tbody.replaceChildren(...o.children.map((c) => el("tr", { dataset: { sliceIndex: String(c.sliceIndex), status: c.status, orderId: c.orderId } },
    el("th", { scope: "row", class: "fw-normal" },
      el("a", { href: `/orders/${encodeURIComponent(c.orderId)}` }, `#${c.sliceIndex + 1}`),
      el("span", { class: "d-block small text-body-secondary num" }, c.executedAt ? formatTime(c.executedAt) : ""),
      el("span", { class: "d-sm-none ms-1" }, statusBadgeOf(c.status))),
    el("td", { class: "d-none d-sm-table-cell" }, statusBadgeOf(c.status),
      c.error ? el("span", { class: "d-block small text-body-secondary" }, c.error.message || c.error.code) : null),
    el("td", { class: "text-end num", title: `${c.amountIn} ${o.tokenIn}` }, formatTokenAmount(c.amountIn, o.tokenIn)),
    el("td", { class: "text-end num", title: c.amountOut ? `${c.amountOut} ${o.tokenOut}` : null },
      c.amountOut ? formatTokenAmount(c.amountOut, o.tokenOut) : "–"),
    el("td", { class: "text-end small num d-none d-sm-table-cell", title: c.price ?? null }, c.price ? formatPrice(c.price) : "–"))));
  show(document.getElementById("twap-children"), o.children.length > 0);
  show(document.getElementById("twap-children-empty"), o.children.length === 0);
  drawTwapChart(o);
}

function statusBadgeOf(status) {
  const badge = el("span", { class: "badge" });
  setStatusBadge(badge, status);
  return badge;
}

/** Each slice's fill price (a point per slice), against the reference mid each slice was routed at and the average. */
function drawTwapChart(o) {
  const slices = o.slices || 0;
  const labels = Array.from({ length: slices }, (_, i) => `#${i + 1}`);
  const prices = labels.map((_, i) => {
    const child = o.children.find((c) => c.sliceIndex === i);
    return child && child.price ? Number(child.price) : null;
  });
  const references = labels.map((_, i) => {
    const child = o.children.find((c) => c.sliceIndex === i);
    return child && child.referencePrice ? Number(child.referencePrice) : null;
  });
  const quoted = Number(o.quotedAmountOut) / Number(o.amountIn);
  const palette = chartPalette();
  const filled = prices.filter((p) => p !== null);
  const datasets = [
    { label: "Slice price", data: prices, type: "line", showLine: false, pointRadius: 5, borderColor: palette[0], backgroundColor: palette[0] },
  ];
  const lines = filled.length ? [
    { label: "Reference at the slice", data: references, borderColor: palette[3], borderDash: [6, 4], pointRadius: 2, spanGaps: true },
    ...(o.averagePrice ? [{ label: "Average", data: labels.map(() => Number(o.averagePrice)), borderColor: palette[1], pointRadius: 0 }] : []),
  ] : [];
  const costs = labels
    .map((_, i) => (prices[i] !== null && references[i] ? (references[i] - prices[i]) / references[i] * 10000 : null))
    .filter((c) => c !== null);
  const summary = filled.length
    ? `${filled.length} of ${slices} slices filled, from ${formatPrice(Math.min(...filled))} to ${formatPrice(Math.max(...filled))} `
      + `${o.tokenOut} per ${o.tokenIn}`
      + (costs.length ? `, ${(costs.reduce((a, b) => a + b, 0) / costs.length).toFixed(1)} bps below the reference on average` : "")
      + `; quoted ${formatPrice(quoted)} at submission.`
    : "";
  drawChart(document.getElementById("chart-twap"), {
    type: "line",
    data: { labels, datasets: [...datasets, ...lines] },
    options: {
      scales: { y: { title: { display: true, text: `${o.tokenOut} per ${o.tokenIn}` } }, x: { offset: true, title: { display: true, text: "slice" } } },
      plugins: { legend: { position: "bottom" } },
    },
  }, summary);
}

function renderCancel(o) {
  const button = document.getElementById("cancel-order");
  show(button, CANCELLABLE_STATUSES.has(o.status) && !o.parentId);
  button.dataset.status = o.status;
}

async function cancelOrder() {
  const button = document.getElementById("cancel-order");
  const errorNode = document.getElementById("cancel-error");
  button.disabled = true;
  show(document.getElementById("cancel-spinner"), true);
  show(errorNode, false);
  try {
    await fetchJSON(`/api/orders/${encodeURIComponent(orderId)}/cancel`, { method: "POST" });
  } catch (err) {
    errorNode.textContent = err instanceof ApiError && err.status === 409
      ? `Not cancelled: ${err.message}.` : `Could not cancel the order: ${describeError(err)}`;
    show(errorNode, true);
  } finally {
    button.disabled = false;
    show(document.getElementById("cancel-spinner"), false);
  }
  await reload();
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
    if (failed) {
      pending.textContent = `No route: the order failed before it was routed${o.error ? ` (${o.error.message || o.error.code})` : ""}.`;
    } else if (o.orderType === "twap" && !o.parentId) {
      pending.textContent = "Each slice is routed on its own when it is due: its certificate is on its page.";
    } else if (o.status === "open") {
      pending.textContent = "The route appears once the order's price has come and it has been routed.";
    } else {
      pending.textContent = "The route appears once the order has been routed.";
    }
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
    : o.orderType === "twap" && !o.parentId ? "Each slice is an order of its own: its legs are on its page (the slices above)."
      : RESTING_TYPES.has(o.orderType) && o.status === "open" ? "No legs yet: the order is routed when its price comes."
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
  renderType(o);
  renderResting(o);
  renderTwap(o);
  renderCancel(o);
  renderSummary(o);
  renderCountdown(o);
  renderRoute(o);
  renderLegs(o);
  renderTimeline(o);
  isFinal = FINAL_STATUSES.has(o.status);
  root.dataset.status = o.status;
  text("order-live", isFinal ? "final" : o.status === "open" ? "waiting for its price…" : "updating live…");
  if (isFinal) stopPolling();
  if (o.status === "open" && !restingTimer) restingTimer = setInterval(reload, RESTING_REFRESH_MS);
  if (o.status !== "open" && restingTimer) {
    clearInterval(restingTimer);
    restingTimer = null;
  }
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
  document.getElementById("cancel-order").addEventListener("click", cancelOrder);
  await reload();
  if (!isFinal) subscribe();
}

init();
