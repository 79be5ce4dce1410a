// The trade page: a live quote as you type (GET /api/quote, debounced, stale requests cancelled),
// the route as a split bar, every venue side by side, then the order: POST /api/orders/execute,
// its lifecycle live from Socket.IO (subscribe_order → order_update) and its paper fills.
import {
  ApiError, FINAL_STATUSES, LIFECYCLE, bpsToPercent, clearFieldError, debounce, describeError, el,
  emitWithAck, fetchJSON, formatAmount, formatBps, formatRatio, formatShare, formatTime, formatTokenAmount,
  getConnectionState, liveSocket, loadTokens, msBetween, newId, onConnectionChange, setFieldError, setStatusBadge, show,
} from "./common.js";

const QUOTE_DEBOUNCE_MS = 250;
const POLL_MS = 1000;
const AMOUNT = /^\s*(\d+(\.\d*)?|\.\d+)\s*$/;
const KIND_LABELS = { amm: "AMM", otc: "OTC", aggregator: "Aggregator" };

const form = document.getElementById("trade-form");
const controls = {
  tokenIn: document.getElementById("token-in"),
  tokenOut: document.getElementById("token-out"),
  amountIn: document.getElementById("amount-in"),
  routingStrategy: document.getElementById("strategy"),
  slippageBps: document.getElementById("slippage"),
};
// API error fields that have no control of their own are shown at the closest one.
const FIELD_ALIASES = { minAmountOut: "amountIn", orderType: "routingStrategy" };
const tradeError = document.getElementById("trade-error");
const submitButton = document.getElementById("submit-order");
const impactWarningBps = Number(form.dataset.impactWarningBps || "100");

const quoteUi = {
  panel: document.getElementById("quote-panel"),
  status: document.getElementById("quote-status"),
  empty: document.getElementById("quote-empty"),
  result: document.getElementById("quote-result"),
};

const state = {
  quoteSeq: 0,
  quoteController: null,
  quote: null,
  order: null, // { id, lastSeq, status, pollTimer, final, tokenOut }
};

// --- form values and errors ---------------------------------------------------------------------

function slippageBps() {
  const raw = controls.slippageBps.value.trim();
  if (raw === "") return { error: "Enter a slippage tolerance, e.g. 0.5." };
  const pct = Number(raw);
  if (!Number.isFinite(pct) || pct < 0 || pct > 50) return { error: "Slippage tolerance must be between 0% and 50%." };
  const bps = Math.round(pct * 100);
  if (Math.abs(bps - pct * 100) > 1e-6) return { error: "Use at most two decimals (0.01% = 1 bps)." };
  return { bps };
}

function clearErrors() {
  for (const control of Object.values(controls)) clearFieldError(control);
  tradeError.textContent = "";
  show(tradeError, false);
}

/** Show an API error next to the field it names, else above the form. */
function showError(err) {
  const field = err instanceof ApiError && err.field ? (FIELD_ALIASES[err.field] || err.field) : null;
  const control = field ? controls[field] : null;
  if (control) {
    setFieldError(control, err.message);
  } else {
    tradeError.textContent = describeError(err);
    show(tradeError, true);
  }
}

/** Client-side checks that spare a request; returns the request parameters or null. */
function readForm({ forSubmit = false } = {}) {
  const tokenIn = controls.tokenIn.value;
  const tokenOut = controls.tokenOut.value;
  const amountIn = controls.amountIn.value.trim();
  let ok = true;
  if (tokenIn && tokenIn === tokenOut) {
    setFieldError(controls.tokenOut, "Choose two different tokens.");
    ok = false;
  }
  if (amountIn === "") {
    if (forSubmit) setFieldError(controls.amountIn, "Enter an amount to sell.");
    ok = false;
  } else if (!AMOUNT.test(amountIn)) {
    setFieldError(controls.amountIn, "Enter a number such as 10 or 0.25.");
    ok = false;
  } else if (Number(amountIn) === 0) {
    setFieldError(controls.amountIn, "The amount must be more than zero.");
    ok = false;
  }
  const slippage = slippageBps();
  if (slippage.error) {
    setFieldError(controls.slippageBps, slippage.error);
    ok = false;
  }
  if (!tokenIn || !tokenOut) ok = false;
  return ok ? {
    tokenIn, tokenOut, amountIn, routingStrategy: controls.routingStrategy.value, slippageBps: slippage.bps,
  } : null;
}

// --- quoting ------------------------------------------------------------------------------------

function setQuoteState(name, message) {
  quoteUi.panel.dataset.state = name;
  quoteUi.panel.setAttribute("aria-busy", name === "loading" ? "true" : "false");
  quoteUi.status.textContent = message;
  show(quoteUi.empty, name === "empty");
  show(quoteUi.result, state.quote !== null && name !== "empty");
}

function requestQuote() {
  clearErrors();
  state.quoteController?.abort();
  state.quoteController = null;
  const params = readForm();
  if (!params) {
    state.quoteSeq += 1;
    state.quote = null;
    if (controls.amountIn.value.trim() === "") setQuoteState("empty", "Enter an amount to see every venue's price.");
    else setQuoteState("error", "Fix the highlighted field to get a quote.");
    return;
  }
  const seq = ++state.quoteSeq;
  const controller = new AbortController();
  state.quoteController = controller;
  setQuoteState("loading", "Quoting every venue…");
  const query = new URLSearchParams({
    tokenIn: params.tokenIn, tokenOut: params.tokenOut, amountIn: params.amountIn,
    routingStrategy: params.routingStrategy, slippageBps: String(params.slippageBps),
  });
  fetchJSON(`/api/quote?${query}`, { signal: controller.signal })
    .then((quote) => {
      if (seq !== state.quoteSeq) return; // a newer request is on its way
      state.quote = quote;
      renderQuote(quote);
      setQuoteState("ready", `Quoted at ${formatTime(quote.quotedAt)}`);
    })
    .catch((err) => {
      if (err?.name === "AbortError" || seq !== state.quoteSeq) return;
      state.quote = null;
      showError(err);
      setQuoteState("error", err instanceof ApiError && err.field ? "No quote: see the highlighted field." : "No quote.");
    });
}

const scheduleQuote = debounce(requestQuote, QUOTE_DEBOUNCE_MS);

function renderQuote(q) {
  const route = q.route;
  const out = q.tokenOut;
  const text = (id, value, title) => {
    const node = document.getElementById(id);
    node.textContent = value;
    if (title) node.title = title; else node.removeAttribute("title");
  };
  text("quote-amount-out", formatTokenAmount(route.amountOut, out), `${route.amountOut} ${out}`);
  text("quote-min-out", `${formatTokenAmount(route.minAmountOut, out)} (at ${bpsToPercent(q.slippageBps)} slippage)`,
    `${route.minAmountOut} ${out}`);
  text("quote-rate", `1 ${q.tokenIn} ≈ ${formatRatio(route.amountOut, route.amountIn)} ${out}`);
  text("quote-impact", `${formatBps(route.priceImpactBps)} (${bpsToPercent(route.priceImpactBps)})`);
  const best = q.bestSingle;
  const savings = Number(route.savingsVsBestSingleBps);
  text("quote-savings", best
    ? `${savings > 0 ? "+" : ""}${formatBps(route.savingsVsBestSingleBps)} vs ${best.venue} (${formatTokenAmount(best.amountOut, out)})`
    : formatBps(route.savingsVsBestSingleBps));
  text("quote-gap", formatBps(route.optimalityGapBps, 6), "How far the route could be from the best possible split, at most");
  text("quote-time", formatTime(q.quotedAt), q.quotedAt);
  document.getElementById("route-strategy").textContent = `(${route.strategy})`;
  document.getElementById("amount-in-symbol").textContent = q.tokenIn;

  const impact = Number(route.priceImpactBps);
  const warning = document.getElementById("impact-warning");
  if (Number.isFinite(impact) && impact > impactWarningBps) {
    document.getElementById("impact-warning-text").textContent =
      `High price impact: ${formatBps(impact)} (${bpsToPercent(impact)}), above ${formatBps(impactWarningBps, 0)}. `
      + "Consider a smaller amount.";
    show(warning, true);
  } else {
    show(warning, false);
  }
  renderRouteBar(route, q.tokenIn);
  renderVenueTable(q);
  renderJupiter(q);
}

function renderRouteBar(route, tokenIn) {
  const bar = document.getElementById("route-bar");
  const legsList = document.getElementById("route-legs");
  const first = route.legs.filter((leg) => leg.hop === 0);
  const segments = first.map((leg, i) => {
    const pct = Math.max(0, Math.min(100, Number(leg.share) * 100));
    const path = leg.path.join(" → ");
    const label = `${leg.venue}${leg.path.length > 2 ? ` (${path})` : ""}: ${formatShare(leg.share)}`;
    const segment = el("div", {
      class: "progress", role: "progressbar", "aria-label": label,
      "aria-valuenow": pct.toFixed(1), "aria-valuemin": "0", "aria-valuemax": "100", title: label,
      dataset: { venueId: leg.venueId, kind: leg.kind },
    }, el("div", { class: `progress-bar route-segment route-color-${i % 8}` }, pct >= 12 ? leg.venue : ""));
    segment.style.width = `${pct}%`; // CSSOM, not an inline style attribute
    return segment;
  });
  bar.replaceChildren(...segments);
  bar.setAttribute("aria-label", `Route split: ${first.map((l) => `${l.venue} ${formatShare(l.share)}`).join(", ")}`);

  legsList.replaceChildren(...first.map((leg, i) => {
    const next = route.legs.filter((l) => l.hop === 1 && l.path.join(">") === leg.path.join(">"));
    const item = el("li", { class: "route-leg", dataset: { venueId: leg.venueId } },
      el("span", { class: `route-swatch route-color-${i % 8}`, "aria-hidden": "true" }),
      el("strong", {}, leg.venue), " ",
      el("span", { class: "text-body-secondary" }, formatShare(leg.share)), " · ",
      `${formatTokenAmount(leg.amountIn, leg.tokenIn)} → ${formatTokenAmount(leg.amountOut, leg.tokenOut)}`,
      leg.isEstimate ? el("span", { class: "badge text-bg-secondary ms-1" }, "estimate") : null);
    if (next.length) {
      item.append(el("span", { class: "d-block ps-4 text-body-secondary" },
        `then ${next.map((l) => `${l.venue}: ${formatTokenAmount(l.amountIn, l.tokenIn)} → ${formatTokenAmount(l.amountOut, l.tokenOut)}`).join("; ")}`));
    }
    return item;
  }));
  if (!first.length) legsList.replaceChildren(el("li", {}, `No route for this amount of ${tokenIn}.`));
}

function legKeys(route) {
  return new Set(route.legs.map((leg) => `${leg.venueId}|${leg.path.join(">")}`));
}

function renderVenueTable(q) {
  const tbody = document.querySelector("#quote-table tbody");
  const used = legKeys(q.route);
  const best = q.quotes.filter((v) => v.available && v.amountOut !== null)
    .reduce((max, v) => Math.max(max, Number(v.amountOut)), 0);
  const sorted = [...q.quotes].sort((a, b) => {
    if (a.available !== b.available) return a.available ? -1 : 1;
    return Number(b.amountOut || 0) - Number(a.amountOut || 0);
  });
  tbody.replaceChildren(...sorted.map((v) => {
    const inRoute = v.available && v.venueId.split(">").every((id) => used.has(`${id}|${v.path.join(">")}`));
    const diff = v.available && best > 0 ? ((Number(v.amountOut) - best) / best) * 10000 : null;
    const status = v.available
      ? el("span", { class: "text-success" }, el("i", { class: "bi bi-check-circle", "aria-hidden": "true" }), " available",
        v.isEstimate ? el("span", { class: "text-body-secondary" }, " (estimate)") : null)
      : el("span", { class: "text-warning" }, el("i", { class: "bi bi-slash-circle", "aria-hidden": "true" }),
        ` unavailable${v.reason ? `: ${v.reason}` : ""}`);
    return el("tr", { dataset: { venueId: v.venueId, kind: v.kind, available: String(v.available), inRoute: String(inRoute) },
      class: inRoute ? "table-active" : null },
      el("th", { scope: "row", class: "fw-normal" }, v.venue,
        inRoute ? el("span", { class: "badge text-bg-primary ms-1" }, "in route") : null,
        v.path.length > 2 ? el("span", { class: "d-block small text-body-secondary" },
          `via ${v.path.slice(1, -1).join(", ")}`) : null),
      el("td", {}, el("span", { class: `badge kind-badge kind-${v.kind}` }, KIND_LABELS[v.kind] || v.kind)),
      el("td", { class: "text-end text-nowrap", title: v.amountOut ?? "" }, v.available ? formatAmount(v.amountOut) : "–"),
      el("td", { class: "text-end small text-nowrap" }, diff === null ? "–" : diff === 0 ? "best" : formatBps(diff)),
      el("td", { class: "text-end d-none d-sm-table-cell small text-nowrap", title: "price impact (fees incl.) · curve impact (size only)" },
        `${formatBps(v.priceImpactBps)} · ${formatBps(v.curveImpactBps)}`),
      el("td", { class: "small" }, status));
  }));
}

function renderJupiter(q) {
  const node = document.getElementById("jupiter-status");
  const j = q.jupiter;
  const row = q.quotes.find((v) => v.kind === "aggregator");
  let label;
  if (row && row.available) label = `available${row.isEstimate ? " (estimate; re-quoted at execution)" : ""}`;
  else label = row?.reason || (j ? "unavailable" : "disabled");
  node.textContent = `Jupiter: ${label}`;
  node.className = `fw-normal small ${row && row.available ? "text-success" : "text-warning"}`;
  node.title = j ? `Circuit breaker ${j.state}${j.lastError ? `; last error: ${j.lastError}` : ""}` : "Jupiter is disabled";
  node.dataset.state = j ? j.state : "disabled";
  node.dataset.available = String(Boolean(row && row.available));
}

// --- submitting and following the order ---------------------------------------------------------

function setSubmitting(busy) {
  submitButton.disabled = busy;
  show(document.getElementById("submit-spinner"), busy);
  document.getElementById("submit-label").textContent = busy ? "Submitting…" : "Swap (paper trade)";
}

async function submitOrder(event) {
  event.preventDefault();
  if (submitButton.disabled) return;
  scheduleQuote.cancel();
  clearErrors();
  const params = readForm({ forSubmit: true });
  if (!params) {
    form.querySelector(".is-invalid")?.focus();
    return;
  }
  setSubmitting(true);
  try {
    const accepted = await fetchJSON("/api/orders/execute", {
      method: "POST",
      headers: { "Idempotency-Key": newId() },
      body: params,
    });
    followOrder(accepted, params);
  } catch (err) {
    showError(err);
    form.querySelector(".is-invalid")?.focus();
  } finally {
    setSubmitting(false);
  }
}

function renderLifecycle(order) {
  const list = document.getElementById("order-lifecycle");
  const phases = order.phases || {};
  const failed = order.status === "failed";
  const steps = [...LIFECYCLE, failed ? "failed" : "confirmed"];
  const current = steps.indexOf(order.status);
  list.replaceChildren(...steps.map((step, i) => {
    const at = step === "pending" ? order.createdAt : phases[step];
    let stepState = "todo";
    if (step === order.status) stepState = FINAL_STATUSES.has(step) ? (failed ? "failed" : "done") : "active";
    else if (at || i < current) stepState = "done";
    // The first step shows the clock; later ones the time since it (the order's latency so far).
    const since = at && step !== "pending" ? msBetween(order.createdAt, at) : null;
    const when = !at ? "" : since === null ? formatTime(at) : `+${Math.max(0, since).toFixed(0)} ms`;
    return el("li", { class: `lifecycle-step lifecycle-${stepState}`, dataset: { step, state: stepState },
      "aria-current": step === order.status ? "step" : null },
      el("span", { class: "lifecycle-dot", "aria-hidden": "true" }),
      el("span", { class: "lifecycle-name" }, step),
      el("time", { class: "lifecycle-time text-body-secondary", datetime: at || null, title: at ? formatTime(at) : null }, when));
  }));
}

function applyOrderUpdate(order) {
  const current = state.order;
  if (!current || order.orderId !== current.id || current.final) return;
  if (order.seq !== null && order.seq !== undefined) {
    if (current.lastSeq !== null && order.seq <= current.lastSeq) return; // older than what we show
    current.lastSeq = order.seq;
  }
  current.status = order.status;
  setStatusBadge(document.getElementById("order-status"), order.status);
  renderLifecycle(order);
  if (order.message) document.getElementById("order-message").textContent = order.message;
  if (FINAL_STATUSES.has(order.status)) finishOrder(order.orderId);
}

async function finishOrder(orderId) {
  const current = state.order;
  current.final = true;
  stopPolling();
  try {
    const detail = await fetchJSON(`/api/orders/${encodeURIComponent(orderId)}`);
    if (state.order !== current) return;
    renderLifecycle(detail);
    setStatusBadge(document.getElementById("order-status"), detail.status);
    renderOrderResult(detail);
  } catch (err) {
    const node = document.getElementById("order-error");
    node.textContent = `The order finished, but its details could not be loaded: ${describeError(err)}`;
    show(node, true);
  }
  scheduleQuote(); // the pools moved: refresh the quote
}

function renderOrderResult(detail) {
  const errorNode = document.getElementById("order-error");
  if (detail.status === "failed") {
    errorNode.textContent = detail.error ? `Failed: ${detail.error.message}` : "The order failed.";
    show(errorNode, true);
    show(document.getElementById("order-result"), false);
    return;
  }
  show(errorNode, false);
  const out = detail.tokenOut;
  document.getElementById("order-amount-out").textContent = formatTokenAmount(detail.amountOut, out);
  document.getElementById("order-quoted-out").textContent = formatTokenAmount(detail.quotedAmountOut, out);
  document.getElementById("order-min-out").textContent = formatTokenAmount(detail.minAmountOut, out);
  const tbody = document.querySelector("#order-fills tbody");
  tbody.replaceChildren(...detail.legs.map((leg) => el("tr", { dataset: { venueId: leg.venueId } },
    el("th", { scope: "row", class: "fw-normal" }, leg.venue,
      leg.path.length > 2 ? el("span", { class: "d-block small text-body-secondary" }, leg.path.join(" → ")) : null),
    el("td", { class: "text-end", title: `${leg.amountIn} ${leg.tokenIn}` }, formatTokenAmount(leg.amountIn, leg.tokenIn)),
    el("td", { class: "text-end", title: `${leg.amountOut} ${leg.tokenOut}` }, formatTokenAmount(leg.amountOut, leg.tokenOut)),
    el("td", { class: "text-end d-none d-sm-table-cell small" },
      leg.price ? formatAmount(leg.price, { maxFraction: 6 }) : formatRatio(leg.amountOut, leg.amountIn)))));
  show(document.getElementById("order-result"), true);
}

function stopPolling() {
  if (state.order?.pollTimer) {
    clearInterval(state.order.pollTimer);
    state.order.pollTimer = null;
  }
}

/** Without a live subscription, ask for the order every second until it is final. */
function startPolling() {
  const current = state.order;
  if (!current || current.final || current.pollTimer) return;
  current.pollTimer = setInterval(async () => {
    try {
      const detail = await fetchJSON(`/api/orders/${encodeURIComponent(current.id)}`);
      if (state.order === current && !current.final) applyOrderUpdate({ ...detail, seq: null });
    } catch {
      // keep trying: the connection badge already tells the user the server is unreachable
    }
  }, POLL_MS);
}

async function subscribe() {
  const current = state.order;
  if (!current || current.final) return;
  if (getConnectionState() !== "connected") {
    startPolling();
    return;
  }
  try {
    const ack = await emitWithAck("subscribe_order", { orderId: current.id });
    if (ack && ack.ok) stopPolling();
    else startPolling();
  } catch {
    startPolling();
  }
}

function followOrder(accepted, params) {
  stopPolling();
  state.order = { id: accepted.orderId, lastSeq: null, status: accepted.status, pollTimer: null, final: false };
  const link = document.getElementById("order-link");
  link.href = `/orders/${encodeURIComponent(accepted.orderId)}`;
  link.textContent = accepted.orderId;
  document.getElementById("order-message").textContent =
    `Selling ${formatTokenAmount(params.amountIn, params.tokenIn)}; quoted ${formatTokenAmount(accepted.quotedAmountOut, params.tokenOut)}.`;
  show(document.getElementById("order-error"), false);
  show(document.getElementById("order-result"), false);
  setStatusBadge(document.getElementById("order-status"), accepted.status);
  renderLifecycle({ status: accepted.status, phases: {}, createdAt: new Date().toISOString() });
  const panel = document.getElementById("order-panel");
  show(panel, true);
  panel.scrollIntoView({ block: "nearest", behavior: "smooth" });
  subscribe();
}

// --- start ----------------------------------------------------------------------------------------

function fillTokenSelect(select, tokens, preferred) {
  const wanted = tokens.find((t) => t.symbol === preferred.toUpperCase() || t.mint === preferred);
  select.replaceChildren(...tokens.map((t) => el("option", { value: t.symbol, title: t.name }, t.symbol)));
  select.value = wanted ? wanted.symbol : tokens[0]?.symbol ?? "";
  select.disabled = false;
}

async function init() {
  const socket = liveSocket();
  if (socket) {
    socket.on("order_update", applyOrderUpdate);
    socket.on("connect", subscribe); // (re)subscribe the order being followed after a reconnect
  }
  onConnectionChange((connection) => { if (connection !== "connected") startPolling(); });

  form.addEventListener("submit", submitOrder);
  for (const control of [controls.amountIn, controls.slippageBps]) control.addEventListener("input", scheduleQuote);
  for (const control of [controls.tokenIn, controls.tokenOut, controls.routingStrategy, controls.slippageBps]) {
    control.addEventListener("change", scheduleQuote);
  }
  controls.tokenIn.addEventListener("change", () => {
    document.getElementById("amount-in-symbol").textContent = controls.tokenIn.value;
  });
  document.getElementById("swap-tokens").addEventListener("click", () => {
    const a = controls.tokenIn.value;
    controls.tokenIn.value = controls.tokenOut.value;
    controls.tokenOut.value = a;
    document.getElementById("amount-in-symbol").textContent = controls.tokenIn.value;
    scheduleQuote();
  });

  try {
    const tokens = await loadTokens();
    fillTokenSelect(controls.tokenIn, tokens, form.dataset.defaultTokenIn || "SOL");
    fillTokenSelect(controls.tokenOut, tokens, form.dataset.defaultTokenOut || "USDC");
    document.getElementById("amount-in-symbol").textContent = controls.tokenIn.value;
    form.dataset.ready = "true";
    if (controls.amountIn.value.trim()) requestQuote();
  } catch (err) {
    tradeError.textContent = `Could not load the token list: ${describeError(err)}`;
    show(tradeError, true);
  }
}

init();
