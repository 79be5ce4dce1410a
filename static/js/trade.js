// The trade page: the account's balances (GET /api/accounts/me, refetched after each order), a live
// quote as you type (GET /api/quote, debounced, stale requests cancelled) shown inside the form
// ("You receive", its USD value) and beside it (the route as one stacked bar per hop, every venue
// side by side), then the order: POST /api/orders/execute, its lifecycle live from Socket.IO
// (subscribe_order → order_update) and its paper fills.
//
// The order type (market, limit, stop loss, take profit, TWAP) shows its own fields (#type-fields,
// each .type-field names its types in data-types); a market order may be exact out ("You receive"
// becomes the input, the quote is asked with amountOut and shows maxAmountIn). readForm() checks
// the fields and builds both the quote's query and the order's body; every API error appears under
// the field it names (FIELD_ALIASES maps fields without a control of their own).
import {
  ApiError, FINAL_STATUSES, LIFECYCLE, orderTypeLabel, addDecimal, amountNode, bpsToPercent, clearFieldError, debounce, describeError, el,
  emitWithAck, eventText, fetchJSON, formatAmount, formatBps, formatPrice, formatShare, formatTime, formatTokenAmount,
  formatUnitPrice, formatUsd, fromUnits, getConnectionState, liveSocket, loadTokens, msBetween, newId,
  onConnectionChange, setFieldError, setStatusBadge, show, strategyLabel, subtractDecimal, toUnits, tokenIcon,
  tokenLabel,
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
  orderType: document.getElementById("order-type"),
  amountOut: document.getElementById("amount-out"),
  limitPrice: document.getElementById("limit-price"),
  triggerPrice: document.getElementById("trigger-price"),
  expiry: document.getElementById("expiry"),
  expiresAt: document.getElementById("expires-at"),
  slices: document.getElementById("slices"),
  intervalS: document.getElementById("interval"),
  onChildFailure: document.getElementById("on-child-failure"),
};
// API error fields that have no control of their own are shown at the closest one.
const FIELD_ALIASES = {
  minAmountOut: "amountIn", expiresInS: "expiry", ocoGroup: "orderType", quoteId: "amountIn",
};
const RESTING_TYPES = new Set(["limit", "stop_loss", "take_profit"]);
const PRICE = /^\s*(\d+(\.\d*)?|\.\d+)\s*$/;
const TYPE_HELP = {
  market: "Fills at once at the best route.",
  limit: "Rests (the amount held) until the best route pays your limit price for the whole amount.",
  stop_loss: "Rests until the reference price falls to your trigger, then sells at market.",
  take_profit: "Rests until the reference price rises to your trigger, then sells at market.",
  twap: "Sells the amount in equal slices, one every interval, each at the market then.",
};
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
  maxImpactBps: null, // the account's limit (GET /api/accounts/me/limits)
  quoteSeq: 0,
  quoteController: null,
  quote: null,
  order: null, // { id, lastSeq, status, pollTimer, final, tokenOut }
  tokens: new Map(), // symbol → {symbol, decimals, name}
  balances: null, // symbol → {amount, reserved, available} (exact decimal strings), once loaded
  balanceSeq: 0,
  countdownTimer: null, // the OTC settlement countdown of the order followed
};

// --- balances -----------------------------------------------------------------------------------

/** The account's maximum price impact in bps (GET /api/accounts/me/limits; null: none or unknown). */
async function loadImpactLimit() {
  try {
    const limits = await fetchJSON("/api/accounts/me/limits");
    state.maxImpactBps = limits.maxImpactBps.value === null ? null : Number(limits.maxImpactBps.value);
  } catch {
    state.maxImpactBps = null;
  }
  document.getElementById("max-impact-limit").textContent =
    state.maxImpactBps === null ? "–" : `${formatBps(state.maxImpactBps, 0)}`;
  if (state.quote) renderImpactConsent(state.quote.route);
}

/** The "accept this impact" box, shown while the quote's impact is above the account's limit. */
function renderImpactConsent(route) {
  const impact = Number(route?.priceImpactBps);
  const above = state.maxImpactBps !== null && Number.isFinite(impact) && impact > state.maxImpactBps;
  const group = document.getElementById("accept-high-impact-group");
  if (!above) document.getElementById("accept-high-impact").checked = false;
  show(group, above);
}

function acceptHighImpact() {
  const box = document.getElementById("accept-high-impact");
  return box.checked && !document.getElementById("accept-high-impact-group").classList.contains("d-none")
    ? { acceptHighImpact: true } : {};
}

/** The portfolio's value next to "You pay" (GET /api/accounts/me/portfolio); "–" when it cannot load. */
async function loadPortfolioValue() {
  const node = document.getElementById("portfolio-value-usd");
  try {
    const body = await fetchJSON("/api/accounts/me/portfolio");
    node.textContent = formatUsd(Number(body.totals.valueUsd));
    node.title = `$${body.totals.valueUsd} (P&L ${body.totals.totalPnlUsd})`;
    node.dataset.value = body.totals.valueUsd;
  } catch {
    node.textContent = "–";
    node.dataset.value = "";
  }
}

/** The account's balances (available and held), fetched again after every order. */
async function loadBalances() {
  loadPortfolioValue();
  const seq = ++state.balanceSeq;
  const node = document.getElementById("balance-in");
  try {
    const account = await fetchJSON("/api/accounts/me");
    if (seq !== state.balanceSeq) return;
    state.balances = new Map(account.balances.map((b) => [b.token, b]));
    node.dataset.state = "ready";
  } catch (err) {
    if (seq !== state.balanceSeq) return;
    state.balances = null;
    node.dataset.state = "error";
    node.title = `Balances could not be loaded: ${describeError(err)}`;
  }
  renderBalances();
}

function balanceOf(symbol) {
  return state.balances?.get(symbol) ?? { token: symbol, amount: "0", reserved: "0", available: "0" };
}

function renderBalances() {
  const tokenIn = controls.tokenIn.value;
  const tokenOut = controls.tokenOut.value;
  const ready = state.balances !== null && tokenIn !== "";
  const pay = balanceOf(tokenIn);
  const receive = balanceOf(tokenOut);
  const available = document.getElementById("balance-in-available");
  available.textContent = ready ? formatTokenAmount(pay.available, tokenIn) : "–";
  available.title = ready ? `${pay.available} ${tokenIn}` : "";
  available.dataset.value = ready ? pay.available : "";
  const held = Number(pay.reserved) > 0;
  show(document.getElementById("balance-in-held"), ready && held);
  document.getElementById("balance-in-held-amount").textContent = formatTokenAmount(pay.reserved, tokenIn);
  document.getElementById("balance-in").dataset.token = tokenIn;
  document.getElementById("max-button").disabled = !ready || Number(pay.available) <= 0;
  const out = document.getElementById("balance-out-available");
  out.textContent = state.balances !== null && tokenOut ? formatTokenAmount(receive.amount, tokenOut) : "–";
  out.dataset.value = state.balances !== null ? receive.amount : "";
  document.getElementById("balance-out").dataset.token = tokenOut;
  checkBalance({ quiet: true });
}

/**
 * Whether the amount fits the available balance of the token sold; marks the field when not.
 * Quiet: only clears or sets the message, never focuses (used while typing).
 */
function checkBalance({ quiet = false } = {}) {
  const symbol = controls.tokenIn.value;
  const token = state.tokens.get(symbol);
  if (!state.balances || !token) return true;
  const wanted = toUnits(controls.amountIn.value, token.decimals);
  if (wanted === null) return true; // the format check speaks for itself
  const pay = balanceOf(symbol);
  const available = toUnits(pay.available, token.decimals) ?? 0n;
  const over = wanted > available;
  const note = document.getElementById("balance-in");
  note.classList.toggle("text-danger", over);
  note.classList.toggle("text-body-secondary", !over);
  if (over) {
    const heldText = Number(pay.reserved) > 0 ? `, ${formatTokenAmount(pay.reserved, symbol)} held by open orders` : "";
    setFieldError(controls.amountIn,
      `Not enough ${symbol}: you have ${formatTokenAmount(pay.available, symbol)} available${heldText}.`);
  } else if (!quiet && controls.amountIn.classList.contains("is-invalid")
    && document.getElementById("amount-in-feedback").textContent.startsWith("Not enough")) {
    clearFieldError(controls.amountIn);
  }
  return !over;
}

function useMax() {
  const symbol = controls.tokenIn.value;
  const token = state.tokens.get(symbol);
  if (!state.balances || !token) return;
  const units = toUnits(balanceOf(symbol).available, token.decimals) ?? 0n;
  controls.amountIn.value = fromUnits(units, token.decimals);
  requestQuote();
}

function renderTokenIcons() {
  document.getElementById("token-in-icon").replaceChildren(tokenIcon(controls.tokenIn.value));
  document.getElementById("token-out-icon").replaceChildren(tokenIcon(controls.tokenOut.value));
}

// --- form values and errors ---------------------------------------------------------------------

function orderType() {
  return controls.orderType.value || "market";
}

/** Exact out: a market order that names what it receives (the toggle is hidden for other types). */
function isExactOut() {
  return orderType() === "market" && document.getElementById("exact-out").checked;
}

/** Show the fields of the chosen order type and side; the quote follows. */
function applyOrderType() {
  const type = orderType();
  const exactOut = isExactOut();
  for (const node of document.querySelectorAll("#type-fields .type-field")) {
    show(node, node.dataset.types.split(" ").includes(type));
  }
  show(document.getElementById("type-fields"), type !== "market");
  show(document.getElementById("exact-side-group"), type === "market");
  show(controls.expiresAt, RESTING_TYPES.has(type) && controls.expiry.value === "custom");
  show(controls.amountIn, !exactOut);
  show(document.getElementById("form-amount-in"), exactOut);
  show(document.getElementById("amount-in-help"), !exactOut);
  show(document.getElementById("max-amount-in"), exactOut);
  show(controls.amountOut, exactOut);
  show(document.getElementById("form-amount-out"), !exactOut);
  document.getElementById("max-button").hidden = exactOut;
  document.getElementById("order-type-help").textContent = TYPE_HELP[type] || "";
  form.dataset.orderType = type;
  form.dataset.exactSide = exactOut ? "out" : "in";
  if (exactOut && !controls.amountOut.value.trim() && state.quote) {
    controls.amountOut.value = state.quote.route.amountOut; // keep the amount the trader was looking at
  }
  renderPriceUnits();
  setSubmitting(false);
  renderTwapHelp();
  renderLimitMinOut();
}

function renderPriceUnits() {
  const unit = `${controls.tokenOut.value} per ${controls.tokenIn.value}`;
  for (const node of document.querySelectorAll("#type-fields .price-unit")) node.textContent = unit;
}

/** What a limit order receives at least: amountIn × limitPrice (display only; the API rounds it up). */
function renderLimitMinOut() {
  const node = document.getElementById("limit-min-out");
  const amount = controls.amountIn.value.trim();
  const price = controls.limitPrice.value.trim();
  if (!AMOUNT.test(amount) || !PRICE.test(price) || !(Number(price) > 0)) {
    node.textContent = "";
    return;
  }
  node.replaceChildren("You receive at least ",
    el("span", { class: "num" }, `≈ ${formatTokenAmount(String(Number(amount) * Number(price)), controls.tokenOut.value)}`),
    " if it fills.");
}

/** What a TWAP will do: "4 slices of 2.5 SOL, one every 60 s (3 min in all)". */
function renderTwapHelp() {
  const node = document.getElementById("twap-help");
  const slices = Number(controls.slices.value);
  const interval = Number(controls.intervalS.value);
  const amount = controls.amountIn.value.trim();
  if (!Number.isInteger(slices) || slices < 2 || !(interval > 0) || !AMOUNT.test(amount)) {
    node.textContent = "";
    return;
  }
  const total = (slices - 1) * interval;
  const span = total >= 3600 ? `${(total / 3600).toFixed(1)} h` : total >= 60 ? `${(total / 60).toFixed(1)} min` : `${total} s`;
  const decimals = state.tokens.get(controls.tokenIn.value)?.decimals ?? 9;
  const each = (Number(amount) / slices).toFixed(Math.min(decimals, 20)); // a decimal string, never "5e-7"
  node.textContent = `${slices} slices of about ${formatAmount(each)} ${controls.tokenIn.value}, `
    + `one every ${interval} s: the first now, the last in ${span}.`;
}

/** A positive price typed in a field, or an error message. */
function readPrice(control, what) {
  const raw = control.value.trim();
  if (raw === "") return { error: `Enter a ${what}.` };
  if (!PRICE.test(raw) || !(Number(raw) > 0)) return { error: `Enter a ${what} above zero, such as 150.5.` };
  return { value: raw };
}

/** The order type's own fields for the body, checked; null (and the fields marked) when not valid. */
function readTypeFields(type) {
  const fields = {};
  let ok = true;
  const fail = (control, message) => { setFieldError(control, message); ok = false; };
  if (type === "limit" || type === "stop_loss" || type === "take_profit") {
    const control = type === "limit" ? controls.limitPrice : controls.triggerPrice;
    const price = readPrice(control, type === "limit" ? "limit price" : "trigger price");
    if (price.error) fail(control, price.error);
    else fields[type === "limit" ? "limitPrice" : "triggerPrice"] = price.value;
    const expiry = controls.expiry.value;
    if (expiry === "custom") {
      const at = controls.expiresAt.value ? new Date(controls.expiresAt.value) : null;
      if (!at || Number.isNaN(at.getTime())) fail(controls.expiresAt, "Choose the time the order expires.");
      else if (at.getTime() <= Date.now()) fail(controls.expiresAt, "Choose a time in the future.");
      else fields.expiresAt = at.toISOString();
    } else if (expiry) {
      fields.expiresInS = Number(expiry);
    }
  } else if (type === "twap") {
    const slices = Number(controls.slices.value);
    if (!Number.isInteger(slices) || slices < 2 || slices > 1000) fail(controls.slices, "2 to 1,000 slices.");
    else fields.slices = slices;
    const interval = Number(controls.intervalS.value);
    if (controls.intervalS.value.trim() === "" || !(interval > 0) || interval > 86400) {
      fail(controls.intervalS, "Seconds between slices: more than 0, at most 86,400.");
    } else {
      fields.intervalS = interval;
    }
    fields.onChildFailure = controls.onChildFailure.value;
  }
  return ok ? fields : null;
}

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
  const exactOut = isExactOut();
  const amountControl = exactOut ? controls.amountOut : controls.amountIn;
  const amount = amountControl.value.trim();
  let ok = true;
  if (tokenIn && tokenIn === tokenOut) {
    setFieldError(controls.tokenOut, "Choose two different tokens.");
    ok = false;
  }
  if (amount === "") {
    if (forSubmit) setFieldError(amountControl, exactOut ? "Enter the amount to receive." : "Enter an amount to sell.");
    ok = false;
  } else if (!AMOUNT.test(amount)) {
    setFieldError(amountControl, "Enter a number such as 10 or 0.25.");
    ok = false;
  } else if (Number(amount) === 0) {
    setFieldError(amountControl, "The amount must be more than zero.");
    ok = false;
  }
  const slippage = slippageBps();
  if (slippage.error) {
    setFieldError(controls.slippageBps, slippage.error);
    ok = false;
  }
  if (!tokenIn || !tokenOut) ok = false;
  const type = orderType();
  // The type's fields do not change the quote: checked (and marked) only when submitting.
  const typeFields = forSubmit ? readTypeFields(type) : {};
  if (typeFields === null) ok = false;
  if (ok && !exactOut && !checkBalance()) ok = !forSubmit; // quote an amount above the balance, never send it
  if (!ok) return null;
  const base = { tokenIn, tokenOut, routingStrategy: controls.routingStrategy.value, slippageBps: slippage.bps };
  const side = exactOut ? { amountOut: amount } : { amountIn: amount };
  return {
    ...base, ...side, exactOut,
    query: { ...base, ...side, slippageBps: String(slippage.bps) },
    body: { ...base, ...side, orderType: type, ...typeFields, ...acceptHighImpact() },
  };
}

// --- quoting ------------------------------------------------------------------------------------

function setQuoteState(name, message) {
  quoteUi.panel.dataset.state = name;
  quoteUi.panel.setAttribute("aria-busy", name === "loading" ? "true" : "false");
  quoteUi.status.textContent = message;
  show(quoteUi.empty, name === "empty");
  show(quoteUi.result, state.quote !== null && name !== "empty");
  if (state.quote === null || name === "empty") renderFormOutput(null);
}

/** "You receive" inside the form, with its USD value and the rate, so a phone shows it above Swap. */
function renderFormOutput(q) {
  const out = document.getElementById("form-amount-out");
  const usd = document.getElementById("form-amount-out-usd");
  const rate = document.getElementById("form-rate");
  const pay = document.getElementById("form-amount-in");
  const max = document.getElementById("max-amount-in-value");
  const payUsd = document.getElementById("amount-in-usd");
  if (!q) {
    for (const node of [out, pay, max]) {
      node.textContent = "–";
      node.removeAttribute("title");
      node.dataset.value = "";
    }
    usd.textContent = "";
    payUsd.textContent = "";
    renderImpactConsent(null);
    rate.textContent = "";
    return;
  }
  pay.textContent = q.exactSide === "out" ? formatAmount(q.amountIn) : "–";
  pay.title = q.exactSide === "out" ? `${q.amountIn} ${q.tokenIn}` : "";
  pay.dataset.value = q.exactSide === "out" ? q.amountIn : "";
  max.textContent = q.maxAmountIn ? formatTokenAmount(q.maxAmountIn, q.tokenIn) : "–";
  max.title = q.maxAmountIn ? `${q.maxAmountIn} ${q.tokenIn}` : "";
  max.dataset.value = q.maxAmountIn || "";
  prefillPrices(q);
  out.textContent = formatAmount(q.route.amountOut);
  out.title = `${q.route.amountOut} ${q.tokenOut}`;
  out.dataset.value = q.route.amountOut;
  const price = q.prices?.[q.tokenOut]?.priceUsd;
  usd.textContent = price ? `≈ ${formatUsd(Number(q.route.amountOut) * Number(price))}` : "";
  const priceIn = q.prices?.[q.tokenIn]?.priceUsd;
  payUsd.textContent = priceIn ? `≈ ${formatUsd(Number(q.amountIn) * Number(priceIn))}` : "";
  rate.textContent = `1 ${q.tokenIn} ≈ ${formatUnitPrice(q.route.amountOut, q.route.amountIn)} ${q.tokenOut}`;
}

function requestQuote() {
  clearErrors();
  state.quoteController?.abort();
  state.quoteController = null;
  const params = readForm();
  if (!params) {
    state.quoteSeq += 1;
    state.quote = null;
    const amountControl = isExactOut() ? controls.amountOut : controls.amountIn;
    if (amountControl.value.trim() === "") setQuoteState("empty", "Enter an amount to see every venue's price.");
    else setQuoteState("error", "Fix the highlighted field to get a quote.");
    return;
  }
  const seq = ++state.quoteSeq;
  const controller = new AbortController();
  state.quoteController = controller;
  setQuoteState("loading", "Quoting every venue…");
  const query = new URLSearchParams(params.query);
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
  document.getElementById("quote-min-out").replaceChildren(amountNode(route.minAmountOut, out),
    ` (at ${bpsToPercent(q.slippageBps)} slippage)`);
  document.getElementById("quote-rate").replaceChildren(
    el("span", { class: "num" }, `1 ${q.tokenIn} ≈ ${formatUnitPrice(route.amountOut, route.amountIn)} ${out}`), " ",
    el("span", { class: "num text-body-secondary small" }, `(1 ${out} ≈ ${formatUnitPrice(route.amountIn, route.amountOut)} ${q.tokenIn})`));
  text("quote-impact", `${formatBps(route.priceImpactBps)} (${bpsToPercent(route.priceImpactBps)})`);
  const best = q.bestSingle;
  const savings = Number(route.savingsVsBestSingleBps);
  text("quote-savings", best
    ? `${savings > 0 ? "+" : ""}${formatBps(route.savingsVsBestSingleBps)} vs ${best.venue} (${formatTokenAmount(best.amountOut, out)})`
    : formatBps(route.savingsVsBestSingleBps));
  text("quote-gap", formatBps(route.optimalityGapBps, 6), "How far the route could be from the best possible split, at most");
  text("quote-time", formatTime(q.quotedAt), q.quotedAt);
  document.getElementById("route-strategy").textContent = `(${strategyLabel(route.strategy)})`;

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
  renderImpactConsent(route);
  renderFormOutput(q);
  renderRoute(route, q);
  renderVenueTable(q);
  renderJupiter(q);
}

/**
 * The route's steps: one per hop and token sold (a two-hop route through SOL has "BONK → SOL" then
 * "SOL → USDC"), each with its venues once, their amounts summed and their share of the step.
 */
function routeSteps(route) {
  const steps = new Map();
  for (const leg of route.legs) {
    const key = `${leg.hop}|${leg.tokenIn}`;
    if (!steps.has(key)) steps.set(key, { hop: leg.hop, tokenIn: leg.tokenIn, venues: new Map(), totalIn: 0 });
    const step = steps.get(key);
    const venueKey = `${leg.venueId}|${leg.tokenOut}`;
    if (!step.venues.has(venueKey)) {
      step.venues.set(venueKey, {
        venue: leg.venue, venueId: leg.venueId, kind: leg.kind, tokenIn: leg.tokenIn, tokenOut: leg.tokenOut,
        amountIn: "0", amountOut: "0", isEstimate: false,
      });
    }
    const v = step.venues.get(venueKey);
    v.amountIn = addDecimal(v.amountIn, leg.amountIn) ?? v.amountIn;
    v.amountOut = addDecimal(v.amountOut, leg.amountOut) ?? v.amountOut;
    v.isEstimate ||= Boolean(leg.isEstimate);
    step.totalIn += Number(leg.amountIn);
  }
  const ordered = [...steps.values()].sort((a, b) => a.hop - b.hop);
  for (const step of ordered) {
    step.venues = [...step.venues.values()].sort((a, b) => Number(b.amountIn) - Number(a.amountIn));
    for (const v of step.venues) v.share = step.totalIn > 0 ? Number(v.amountIn) / step.totalIn : 0;
  }
  return ordered;
}

function renderRoute(route, q) {
  const bar = document.getElementById("route-bar");
  const legsList = document.getElementById("route-legs");
  const steps = routeSteps(route);
  const hops = new Set(steps.map((s) => s.hop)).size;
  const colours = new Map(); // a venue keeps its colour across hops
  const colourOf = (venueId) => {
    if (!colours.has(venueId)) colours.set(venueId, colours.size % 8);
    return colours.get(venueId);
  };
  bar.replaceChildren(...steps.map((step) => {
    const outs = [...new Set(step.venues.map((v) => v.tokenOut))];
    const title = `${hops > 1 ? `Hop ${step.hop + 1} · ` : ""}${step.tokenIn} → ${outs.join(" / ")}`;
    const summary = step.venues.map((v) => `${v.venue} ${formatShare(v.share)}`).join(", ");
    const segments = step.venues.map((v) => {
      const pct = Math.max(0, Math.min(100, v.share * 100));
      const label = `${v.venue}${outs.length > 1 ? ` → ${v.tokenOut}` : ""}: ${formatShare(v.share)}`;
      const segment = el("div", {
        class: "progress", role: "progressbar", "aria-label": label,
        "aria-valuenow": pct.toFixed(1), "aria-valuemin": "0", "aria-valuemax": "100", title: label,
        dataset: { venueId: v.venueId, kind: v.kind, tokenOut: v.tokenOut },
      }, el("div", { class: `progress-bar route-segment route-color-${colourOf(v.venueId)}` },
        pct >= 18 ? `${v.venue} ${formatShare(v.share, 0)}` : ""));
      segment.style.width = `${pct}%`; // CSSOM, not an inline style attribute
      return segment;
    });
    return el("div", { class: "route-hop", dataset: { hop: String(step.hop), tokenIn: step.tokenIn } },
      el("div", { class: "route-hop-title small text-body-secondary" }, tokenLabel(step.tokenIn), " → ",
        ...outs.flatMap((t, i) => (i ? [" / ", tokenLabel(t)] : [tokenLabel(t)])),
        hops > 1 ? el("span", { class: "ms-1" }, `· hop ${step.hop + 1}`) : null),
      el("div", { class: "progress-stacked route-bar", role: "img", "aria-label": `${title}: ${summary}` }, ...segments));
  }));

  const mixed = (step) => new Set(step.venues.map((v) => v.tokenOut)).size > 1; // the step buys two tokens
  legsList.replaceChildren(...steps.flatMap((step) => step.venues.map((v) => el("li", {
    class: "route-leg", dataset: { venueId: v.venueId, hop: String(step.hop) },
  },
  el("span", { class: `route-swatch route-color-${colourOf(v.venueId)}`, "aria-hidden": "true" }),
  el("strong", {}, v.venue, mixed(step) ? ` (${v.tokenIn}/${v.tokenOut})` : ""), " ",
  el("span", { class: "text-body-secondary" }, formatShare(v.share)),
  hops > 1 ? el("span", { class: "text-body-secondary" }, ` of hop ${step.hop + 1}`) : null, " · ",
  amountNode(v.amountIn, v.tokenIn), " → ", amountNode(v.amountOut, v.tokenOut),
  v.isEstimate ? el("span", { class: "badge text-bg-secondary ms-1" }, "estimate") : null))));
  if (!steps.length) legsList.replaceChildren(el("li", {}, `No route for this amount of ${q.tokenIn}.`));
  renderGain(route, q, steps);
}

/** Beside a split: what splitting gains over the best single venue, in bps, tokens and dollars. */
function renderGain(route, q, steps) {
  const node = document.getElementById("route-gain");
  const split = steps.some((step) => step.venues.length > 1);
  const best = q.bestSingle;
  node.dataset.split = String(split);
  if (!split || !best || best.amountOut === null) {
    node.textContent = split || !best ? "" : "one venue: the best single route";
    node.className = "small fw-normal text-body-secondary";
    return;
  }
  const extra = subtractDecimal(route.amountOut, best.amountOut);
  const bps = Number(route.savingsVsBestSingleBps);
  const price = Number(q.prices?.[q.tokenOut]?.priceUsd);
  const usd = extra !== null && Number.isFinite(price) ? Number(extra) * price : null;
  const gain = `${bps > 0 ? "+" : ""}${formatBps(route.savingsVsBestSingleBps)}`;
  const amount = extra === null ? "" : ` (${Number(extra) >= 0 ? "+" : ""}${formatTokenAmount(extra, q.tokenOut)}`
    + `${usd !== null && Math.abs(usd) >= 0.01 ? `, ${formatUsd(usd)}` : ""})`;
  node.textContent = `split gains ${gain}${amount} over ${best.venue} alone`;
  node.title = "What this split pays beyond the best single venue for the whole amount";
  node.className = `small fw-normal ${bps >= 1 ? "text-success" : "text-body-secondary"}`;
}

function legKeys(route) {
  return new Set(route.legs.map((leg) => `${leg.venueId}|${leg.path.join(">")}`));
}

function renderVenueTable(q) {
  const tbody = document.querySelector("#quote-table tbody");
  const used = legKeys(q.route);
  const best = q.quotes.filter((v) => v.available && v.amountOut !== null)
    .reduce((max, v) => Math.max(max, Number(v.amountOut)), 0);
  // A venue the route uses for part of the amount is "in route", even when it cannot take it all.
  const inRouteOf = (v) => v.venueId.split(">").every((id) => used.has(`${id}|${v.path.join(">")}`));
  const sorted = [...q.quotes].sort((a, b) => {
    const ra = inRouteOf(a) || a.available;
    const rb = inRouteOf(b) || b.available;
    if (ra !== rb) return ra ? -1 : 1;
    return Number(b.amountOut || 0) - Number(a.amountOut || 0);
  });
  tbody.replaceChildren(...sorted.map((v) => {
    const inRoute = inRouteOf(v);
    const diff = v.available && best > 0 ? ((Number(v.amountOut) - best) / best) * 10000 : null;
    let status;
    if (inRoute && !v.available) {
      status = el("span", { class: "text-info" }, el("i", { class: "bi bi-diagram-3", "aria-hidden": "true" }),
        " fills part of the route", v.reason ? el("span", { class: "d-block text-body-secondary" }, `alone: ${v.reason}`) : null);
    } else if (v.kind === "aggregator" && !v.available) {
      status = el("span", { class: "text-warning" }, el("i", { class: "bi bi-slash-circle", "aria-hidden": "true" }),
        ` ${jupiterLabel(q).text}`);
    } else if (v.available) {
      status = el("span", { class: "text-success" }, el("i", { class: "bi bi-check-circle", "aria-hidden": "true" }), " available",
        v.isEstimate ? el("span", { class: "text-body-secondary" }, " (estimate)") : null);
    } else {
      status = el("span", { class: "text-warning" }, el("i", { class: "bi bi-slash-circle", "aria-hidden": "true" }),
        ` unavailable${v.reason ? `: ${v.reason}` : ""}`);
    }
    return el("tr", { dataset: { venueId: v.venueId, kind: v.kind, available: String(v.available), inRoute: String(inRoute) },
      class: inRoute ? "table-active" : null },
      el("th", { scope: "row", class: "fw-normal" }, v.venue,
        inRoute ? el("span", { class: "badge text-bg-primary ms-1" }, "in route") : null,
        el("span", { class: `badge kind-badge kind-${v.kind} ms-1 d-sm-none` }, KIND_LABELS[v.kind] || v.kind),
        v.path.length > 2 ? el("span", { class: "d-block small text-body-secondary" },
          `via ${v.path.slice(1, -1).join(", ")}`) : null),
      el("td", { class: "d-none d-sm-table-cell" }, el("span", { class: `badge kind-badge kind-${v.kind}` }, KIND_LABELS[v.kind] || v.kind)),
      el("td", { class: "text-end num", title: v.amountOut ?? "" }, v.available ? formatAmount(v.amountOut) : "–",
        diff !== null && diff !== 0 ? el("span", { class: "d-block d-sm-none small text-body-secondary" }, formatBps(diff)) : null),
      el("td", { class: "text-end small num d-none d-sm-table-cell" }, diff === null ? "–" : diff === 0 ? "best" : formatBps(diff)),
      el("td", { class: "text-end d-none d-md-table-cell small num", title: "price impact (fees incl.) · curve impact (size only)" },
        `${formatBps(v.priceImpactBps)} · ${formatBps(v.curveImpactBps)}`),
      el("td", { class: "small venue-status" }, status));
  }));
}

/**
 * Jupiter's one state for this pair: available, disabled, offline (its circuit breaker is open:
 * no pair is being refreshed, so "warming up" would never end), or this pair's own reason.
 */
function jupiterLabel(q) {
  const j = q.jupiter;
  const row = q.quotes.find((v) => v.kind === "aggregator");
  if (row && row.available) {
    return { state: "available", ok: true, text: `available${row.isEstimate ? " (estimate; re-quoted at execution)" : ""}` };
  }
  if (!j || (row?.reason || "").startsWith("disabled")) return { state: "disabled", ok: false, text: row?.reason || "disabled" };
  if (j.state === "open") {
    return { state: "offline", ok: false, text: `offline${j.lastError ? ` (${j.lastError})` : ""}; retried in the background` };
  }
  return { state: j.state === "half_open" ? "retrying" : "warming-up", ok: false, text: row?.reason || "unavailable" };
}

function renderJupiter(q) {
  const node = document.getElementById("jupiter-status");
  const j = q.jupiter;
  const label = jupiterLabel(q);
  node.textContent = `Jupiter: ${label.text}`;
  node.className = `fw-normal small ${label.ok ? "text-success" : "text-warning"}`;
  node.title = j ? `Circuit breaker ${j.state}${j.lastError ? `; last error: ${j.lastError}` : ""}` : "Jupiter is disabled";
  node.dataset.state = label.state;
  node.dataset.breaker = j ? j.state : "disabled";
  node.dataset.available = String(label.ok);
}

// --- submitting and following the order ---------------------------------------------------------

const SUBMIT_LABELS = {
  market: "Swap (paper trade)", limit: "Place limit order", stop_loss: "Place stop loss",
  take_profit: "Place take profit", twap: "Start TWAP",
};

function setSubmitting(busy) {
  submitButton.disabled = busy;
  show(document.getElementById("submit-spinner"), busy);
  document.getElementById("submit-label").textContent = busy ? "Submitting…" : SUBMIT_LABELS[orderType()];
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
      body: params.body,
    });
    followOrder(accepted, params);
  } catch (err) {
    showError(err);
    form.querySelector(".is-invalid")?.focus();
  } finally {
    setSubmitting(false);
  }
}

/**
 * The steps an order goes through: a market order's lifecycle; a resting order first waits "open"
 * (then runs that lifecycle from its trigger); a TWAP parent is "working" until its slices end.
 * The last step is how it ended (confirmed, failed, cancelled or expired).
 */
function lifecycleSteps(order) {
  const ended = ["failed", "cancelled", "expired"].includes(order.status) ? order.status : "confirmed";
  const type = order.orderType || state.order?.type || "market";
  if (type === "twap") return ["working", ended];
  if (RESTING_TYPES.has(type)) return ["open", ...LIFECYCLE, ended];
  return [...LIFECYCLE, ended];
}

function renderLifecycle(order) {
  const list = document.getElementById("order-lifecycle");
  const phases = order.phases || {};
  const failed = ["failed", "cancelled", "expired"].includes(order.status);
  const steps = lifecycleSteps(order);
  const resting = steps[0] === "open";
  const current = steps.indexOf(order.status);
  list.replaceChildren(...steps.map((step, i) => {
    let at = phases[step];
    if (step === steps[0]) at = order.createdAt;
    else if (step === "pending") at = resting ? order.triggeredAt : order.createdAt;
    let stepState = "todo";
    if (step === order.status) stepState = FINAL_STATUSES.has(step) ? (failed ? "failed" : "done") : "active";
    else if (at || i < current) stepState = "done";
    // The first step shows the clock; later ones the time since it (the order's latency so far).
    const since = at && step !== steps[0] ? msBetween(order.createdAt, at) : null;
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
  if (order.message) document.getElementById("order-message").textContent = eventText(order.message);
  const otc = order.status === "submitted" ? /OTC settlement in ([\d.]+) s/.exec(order.message || "") : null;
  if (otc) startCountdown(Date.parse(order.timestamp || new Date().toISOString()) + Number(otc[1]) * 1000);
  if (FINAL_STATUSES.has(order.status)) finishOrder(order.orderId);
}

/** Seconds left before an OTC leg settles (from the submitted step's time and the desk's delay). */
function startCountdown(settleAtMs) {
  stopCountdown();
  const node = document.getElementById("order-countdown");
  if (!Number.isFinite(settleAtMs)) return;
  const tick = () => {
    const left = Math.max(0, Math.ceil((settleAtMs - Date.now()) / 1000));
    node.dataset.secondsLeft = String(left);
    node.textContent = left > 0 ? `OTC settlement in ${left} s` : "OTC settlement due: settling now…";
    if (left === 0) clearInterval(state.countdownTimer);
  };
  tick();
  state.countdownTimer = setInterval(tick, 1000);
  show(node, true);
}

function stopCountdown() {
  clearInterval(state.countdownTimer);
  state.countdownTimer = null;
  show(document.getElementById("order-countdown"), false);
}

async function finishOrder(orderId) {
  const current = state.order;
  current.final = true;
  stopPolling();
  stopCountdown();
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
  loadBalances(); // the trade moved them (or a failure released the hold)
  scheduleQuote(); // the pools moved: refresh the quote
}

function renderOrderResult(detail) {
  const errorNode = document.getElementById("order-error");
  if (detail.status === "cancelled" || detail.status === "expired") {
    const filled = Number(detail.filledAmountIn) > 0;
    errorNode.textContent = `${detail.status === "cancelled" ? "Cancelled" : "Expired"}: `
      + (filled ? `${formatTokenAmount(detail.filledAmountIn, detail.tokenIn)} had been sold; the rest of the hold is available again.`
        : "nothing was traded and the held amount is available again.");
    show(errorNode, true);
    show(document.getElementById("order-result"), false);
    return;
  }
  if (detail.status === "failed") {
    errorNode.textContent = `Not filled: ${detail.error ? detail.error.message : "the order failed"}. `
      + "Nothing was traded and the held amount is available again.";
    show(errorNode, true);
    show(document.getElementById("order-result"), false);
    return;
  }
  show(errorNode, false);
  const out = detail.tokenOut;
  document.getElementById("order-amount-out").textContent =
    formatTokenAmount(detail.orderType === "twap" ? detail.filledAmountOut : detail.amountOut, out);
  document.getElementById("order-quoted-out").textContent = formatTokenAmount(detail.quotedAmountOut, out);
  document.getElementById("order-min-out").textContent = formatTokenAmount(detail.minAmountOut, out);
  const tbody = document.querySelector("#order-fills tbody");
  tbody.replaceChildren(...detail.legs.map((leg) => el("tr", { dataset: { venueId: leg.venueId } },
    el("th", { scope: "row", class: "fw-normal" }, leg.venue,
      leg.path.length > 2 ? el("span", { class: "d-block small text-body-secondary" }, leg.path.join(" → ")) : null),
    el("td", { class: "text-end num", title: `${leg.amountIn} ${leg.tokenIn}` }, formatTokenAmount(leg.amountIn, leg.tokenIn)),
    el("td", { class: "text-end num", title: `${leg.amountOut} ${leg.tokenOut}` }, formatTokenAmount(leg.amountOut, leg.tokenOut)),
    el("td", { class: "text-end d-none d-sm-table-cell small num", title: leg.price ?? null },
      leg.price ? formatPrice(leg.price) : formatUnitPrice(leg.amountOut, leg.amountIn)))));
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
  stopCountdown();
  const type = params.body.orderType;
  state.order = { id: accepted.orderId, lastSeq: null, status: accepted.status, pollTimer: null, final: false, type };
  const link = document.getElementById("order-link");
  link.href = `/orders/${encodeURIComponent(accepted.orderId)}`;
  link.textContent = accepted.orderId;
  const heading = document.getElementById("order-heading");
  heading.textContent = type === "market" ? "Your order" : `Your ${orderTypeLabel(type).toLowerCase()} order`;
  if (type === "twap") heading.textContent = "Your TWAP order";
  let message = params.exactOut
    ? `Buying ${formatTokenAmount(params.amountOut, params.tokenOut)}; holding at most ${formatTokenAmount(
      state.quote?.maxAmountIn ?? "", params.tokenIn)}.`
    : `Selling ${formatTokenAmount(params.amountIn, params.tokenIn)}; quoted ${formatTokenAmount(accepted.quotedAmountOut, params.tokenOut)}.`;
  if (RESTING_TYPES.has(type)) {
    message = `${orderTypeLabel(type)} order open: ${formatTokenAmount(params.amountIn, params.tokenIn)} held until `
      + (type === "limit" ? `the route pays ${params.body.limitPrice} ${params.tokenOut} per ${params.tokenIn}`
        : `the reference price reaches ${params.body.triggerPrice}`)
      + ". Follow or cancel it on its page.";
  } else if (type === "twap") {
    message = `TWAP working: ${params.body.slices} slices of ${formatTokenAmount(params.amountIn, params.tokenIn)} in all, `
      + `one every ${params.body.intervalS} s. Its page shows each slice.`;
  }
  document.getElementById("order-message").textContent = message;
  loadBalances(); // the amount sold is held now
  show(document.getElementById("order-error"), false);
  show(document.getElementById("order-result"), false);
  setStatusBadge(document.getElementById("order-status"), accepted.status);
  renderLifecycle({ status: accepted.status, phases: {}, createdAt: new Date().toISOString(), orderType: type });
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

function tokensChanged() {
  renderTokenIcons();
  renderPriceUnits();
  for (const control of [controls.limitPrice, controls.triggerPrice]) delete control.dataset.edited; // another pair
  renderBalances();
  scheduleQuote();
}

async function init() {
  const socket = liveSocket();
  if (socket) {
    socket.on("order_update", applyOrderUpdate);
    socket.on("connect", subscribe); // (re)subscribe the order being followed after a reconnect
  }
  onConnectionChange((connection) => { if (connection !== "connected") startPolling(); });

  form.addEventListener("submit", submitOrder);
  for (const control of [controls.amountIn, controls.amountOut, controls.slippageBps]) {
    control.addEventListener("input", scheduleQuote);
  }
  controls.orderType.addEventListener("change", () => { clearErrors(); applyOrderType(); scheduleQuote(); });
  for (const radio of document.querySelectorAll('input[name="exactSide"]')) {
    radio.addEventListener("change", () => { clearErrors(); applyOrderType(); scheduleQuote(); });
  }
  controls.expiry.addEventListener("change", () => { clearFieldError(controls.expiry); applyOrderType(); });
  for (const control of [controls.limitPrice, controls.triggerPrice]) {
    control.addEventListener("input", () => { control.dataset.edited = "true"; clearFieldError(control); renderLimitMinOut(); });
  }
  for (const control of [controls.slices, controls.intervalS, controls.amountIn]) {
    control.addEventListener("input", () => {
      if (control !== controls.amountIn) clearFieldError(control);
      renderTwapHelp();
      renderLimitMinOut();
    });
  }
  for (const control of [controls.expiresAt, controls.onChildFailure]) {
    control.addEventListener("input", () => clearFieldError(control));
  }
  for (const control of [controls.routingStrategy, controls.slippageBps]) control.addEventListener("change", scheduleQuote);
  for (const control of [controls.tokenIn, controls.tokenOut]) control.addEventListener("change", tokensChanged);
  document.getElementById("max-button").addEventListener("click", useMax);
  document.getElementById("swap-tokens").addEventListener("click", () => {
    const a = controls.tokenIn.value;
    controls.tokenIn.value = controls.tokenOut.value;
    controls.tokenOut.value = a;
    tokensChanged();
  });

  loadImpactLimit();
  const balances = loadBalances();
  try {
    const tokens = await loadTokens();
    state.tokens = new Map(tokens.map((t) => [t.symbol, t]));
    fillTokenSelect(controls.tokenIn, tokens, form.dataset.defaultTokenIn || "SOL");
    fillTokenSelect(controls.tokenOut, tokens, form.dataset.defaultTokenOut || "USDC");
    renderTokenIcons();
    applyOrderType();
    await balances;
    renderBalances();
    form.dataset.ready = "true";
    if (controls.amountIn.value.trim()) requestQuote();
  } catch (err) {
    tradeError.textContent = `Could not load the token list: ${describeError(err)}`;
    show(tradeError, true);
  }
}

init();

/** A price for an input: six significant figures, no grouping (the API reads it exactly as typed). */
function priceText(value) {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) return "";
  return String(Number(n.toPrecision(6)));
}

/** Limit and trigger prices start at the current rate until the trader types one. */
function prefillPrices(q) {
  const rate = Number(q.route.amountOut) / Number(q.route.amountIn);
  for (const [control, value] of [[controls.limitPrice, rate], [controls.triggerPrice, q.referencePrice ?? rate]]) {
    if (control.dataset.edited === "true") continue;
    control.value = priceText(value);
    control.dataset.prefilled = "true";
  }
  renderLimitMinOut();
}
