// The dashboard: the price ticker with each token's source, headline figures (p95 latency per venue
// kind), a 24-hour price line per token (from the trades until stored price history exists), recent
// trades and three charts (volume by venue, cumulative savings as a stepped line, price impact
// against order size).
// On load it reads the REST API; then Socket.IO keeps it current without a reload:
//   trade_executed → the trade is prepended to the table and plotted at once, and the summary and
//                    time series are fetched again, debounced, so a burst of trades costs one refetch;
//   price_update   → the ticker and its source badges;
//   a reconnect    → everything is read again (events sent while we were away are lost).
import {
  debounce, describeError, drawChart, el, fetchJSON, formatAmount, formatBps, formatDateTime, formatMs,
  formatShare, formatTime, formatTokenAmount, formatUsd, formatUsdCompact, formatUsdPrice, chartPalette,
  liveSocket, loadTokens, show, strategyLabel,
} from "./common.js";
import {
  formatSavings, formatSavingsUsd, kindLatencyItem, KIND_LABELS, labelCells, latencyKinds, listAmount, savingsBps,
} from "./figures.js";
import { fetchCandles } from "./candles.js";

const MAX_ROWS = 20; // recent trades in the table
const MAX_POINTS = 200; // trades on the impact scatter
const REFRESH_DEBOUNCE_MS = 1000;
const PRICE_WINDOW_MS = 24 * 3600e3; // the price lines cover the last 24 hours, per minute
const SCATTER_THROTTLE_MS = 150; // a burst of trades redraws the scatter a few times, not once per trade
const ANNOUNCE_DEBOUNCE_MS = 1500;
// Prices from our own pools or the static defaults mean no live feed answered: the ticker says "offline".
const FALLBACK_SOURCES = new Set(["pools", "static"]);
const SOURCE_LABELS = { coingecko: "CoinGecko", kraken: "Kraken", binance: "Binance", pools: "pool-implied", static: "static default" };
// Savings over time: the finest bucket that keeps the line readable (buckets from the first trade to now).
const BUCKETS = [
  { name: "minute", maxPoints: 180, label: "per minute" },
  { name: "hour", maxPoints: 24 * 45, label: "per hour" },
  { name: "day", maxPoints: 2000, label: "per day" },
];

const page = document.getElementById("dashboard-page");
const ui = {
  empty: document.getElementById("dashboard-empty"),
  error: document.getElementById("dashboard-error"),
  announcer: document.getElementById("dashboard-announcer"),
  ticker: document.getElementById("price-ticker"),
  tickerList: document.getElementById("ticker-list"),
  tickerStatus: document.getElementById("ticker-status"),
  tradesBody: document.querySelector("#recent-trades tbody"),
  recentEmpty: document.getElementById("recent-empty"),
  recentCount: document.getElementById("recent-count"),
  savingsBucket: document.getElementById("savings-bucket"),
  venueChart: document.getElementById("chart-volume-by-venue"),
  savingsChart: document.getElementById("chart-savings"),
  impactChart: document.getElementById("chart-impact"),
  priceCharts: document.getElementById("price-charts"),
  priceChartsEmpty: document.getElementById("price-charts-empty"),
  latencyKinds: document.getElementById("stat-latency-kinds"),
};

const state = {
  trades: [], // newest first, at most MAX_POINTS: the scatter's points, the table's first rows
  total: 0, // trades executed in all
  bucket: 0, // index into BUCKETS; only ever grows
  tokens: null, // symbols in the API's order, for the ticker
  hasTrades: false,
  errors: new Map(), // what failed to load, by part
  refreshing: false,
  refreshAgain: false,
  announced: [],
};

// --- errors and the empty state ------------------------------------------------------------------

function setError(part, err) {
  if (err) state.errors.set(part, describeError(err));
  else state.errors.delete(part);
  const messages = [...state.errors.entries()].map(([name, message]) => `${name}: ${message}`);
  ui.error.textContent = messages.length ? `Some figures could not be loaded (${messages.join("; ")}). They refresh with the next trade.` : "";
  show(ui.error, messages.length > 0);
}

function setHasTrades(hasTrades) {
  state.hasTrades = hasTrades;
  show(ui.empty, !hasTrades);
  show(ui.recentEmpty, !hasTrades);
  page.dataset.empty = String(!hasTrades);
}

// --- the price ticker ----------------------------------------------------------------------------

function sourceLabel(source) {
  return SOURCE_LABELS[source] || source;
}

function tickerItem(symbol) {
  let item = ui.tickerList.querySelector(`.ticker-item[data-token="${CSS.escape(symbol)}"]`);
  if (!item) {
    item = el("li", { class: "ticker-item", dataset: { token: symbol, source: "offline" } },
      el("span", { class: "ticker-symbol" }, symbol),
      el("span", { class: "ticker-price" }, "–"),
      el("span", { class: "ticker-change" }),
      el("span", { class: "badge ticker-source" }, "offline"));
    ui.tickerList.append(item);
  }
  return item;
}

function renderTickerItem(symbol, quote) {
  const item = tickerItem(symbol);
  const priceNode = item.querySelector(".ticker-price");
  const changeNode = item.querySelector(".ticker-change");
  const badge = item.querySelector(".ticker-source");
  const raw = quote ? quote.source : null;
  const live = Boolean(raw) && !FALLBACK_SOURCES.has(raw);
  const source = live ? raw : "offline";
  item.dataset.source = source;
  item.dataset.priceSource = raw || "";
  const price = quote ? formatUsdPrice(quote.priceUsd) : "–";
  const previous = priceNode.dataset.value;
  if (quote && previous && previous !== quote.priceUsd) {
    const up = Number(quote.priceUsd) > Number(previous);
    item.classList.remove("ticker-up", "ticker-down");
    void item.offsetWidth; // restart the highlight
    item.classList.add(up ? "ticker-up" : "ticker-down");
  }
  priceNode.textContent = price;
  priceNode.dataset.value = quote ? quote.priceUsd : "";
  priceNode.title = quote ? `${quote.priceUsd} USD` : "No price";

  const change = quote && quote.change24hPct !== null && quote.change24hPct !== undefined ? Number(quote.change24hPct) : null;
  if (change !== null && Number.isFinite(change)) {
    changeNode.textContent = `${change > 0 ? "+" : ""}${change.toFixed(2)}%`;
    changeNode.className = `ticker-change small ${change > 0 ? "text-success" : change < 0 ? "text-danger" : "text-body-secondary"}`;
    changeNode.title = "Change over 24 hours";
  } else {
    changeNode.textContent = "";
    changeNode.className = "ticker-change";
    changeNode.removeAttribute("title");
  }

  badge.className = `badge ticker-source ${live ? "text-bg-success" : "text-bg-secondary"}`;
  badge.textContent = live ? sourceLabel(raw) : "offline";
  const age = quote && Number.isFinite(Number(quote.ageS)) ? `, ${Number(quote.ageS).toFixed(0)} s old` : "";
  badge.title = live ? `Live price from ${sourceLabel(raw)}${age}`
    : raw ? `No live feed answered: ${sourceLabel(raw)} price${age}` : "No price available";
  item.setAttribute("aria-label", `${symbol} ${price}${live ? `, from ${sourceLabel(raw)}` : ", offline"}`);
}

function renderPrices(body) {
  const prices = body.prices || {};
  const symbols = state.tokens ? [...state.tokens, ...Object.keys(prices).filter((s) => !state.tokens.includes(s))]
    : Object.keys(prices);
  ui.tickerList.querySelector(".ticker-placeholder")?.remove();
  for (const symbol of symbols) renderTickerItem(symbol, prices[symbol] || null);

  const overall = body.source;
  const live = overall && overall !== "mixed" ? !FALLBACK_SOURCES.has(overall)
    : Object.keys(body.sourceCounts || {}).some((s) => !FALLBACK_SOURCES.has(s));
  ui.ticker.dataset.source = overall || "";
  const when = body.timestamp || body.asOf;
  const names = Object.entries(body.sourceCounts || {}).map(([s, n]) => `${sourceLabel(s)} ${n}`).join(", ");
  ui.tickerStatus.replaceChildren(
    el("i", { class: `bi ${live ? "bi-broadcast text-success" : "bi-wifi-off text-warning"}`, "aria-hidden": "true" }), " ",
    live ? `Live (${names})` : "Offline: no live price feed, using our pools' prices",
    when ? ` · ${formatTime(when)}` : "");
  const health = (body.sources || []).map((s) => `${s.name}: ${s.healthy ? "ok" : "unavailable"}`).join(", ");
  ui.tickerStatus.title = health ? `Price sources: ${health}` : "Where the prices come from";
}

function renderPricesUnavailable(err) {
  ui.tickerList.querySelector(".ticker-placeholder")?.remove();
  for (const symbol of state.tokens || []) renderTickerItem(symbol, null);
  ui.ticker.dataset.source = "offline";
  ui.tickerStatus.textContent = `Prices unavailable: ${describeError(err)}`;
}

async function loadPrices() {
  try {
    if (!state.tokens) {
      try {
        state.tokens = (await loadTokens()).map((t) => t.symbol);
      } catch {
        state.tokens = null; // the prices still list their own tokens
      }
    }
    renderPrices(await fetchJSON("/api/prices"));
  } catch (err) {
    renderPricesUnavailable(err);
  }
}

// --- headline figures and volume by venue -----------------------------------------------------------

function setStat(id, value, text, detail) {
  const node = document.getElementById(id);
  node.textContent = text;
  node.dataset.value = value === null || value === undefined ? "" : String(value);
  document.getElementById(`${id}-detail`).textContent = detail || "\u00a0";
}

function renderSummary(s) {
  const byStatus = s.orders.byStatus || {};
  const open = s.orders.total - s.orders.final;
  setStat("stat-orders", s.orders.total, s.orders.total.toLocaleString("en-US"),
    `${byStatus.confirmed || 0} confirmed · ${byStatus.failed || 0} failed${open ? ` · ${open} open` : ""}`);
  setStat("stat-volume", s.notionalUsd, formatUsd(s.notionalUsd),
    `${s.trades.toLocaleString("en-US")} trade${s.trades === 1 ? "" : "s"}`);
  const savings = s.savingsVsBestSingle;
  setStat("stat-savings", savings.totalUsd ?? 0, formatSavingsUsd(savings.totalUsd ?? 0),
    savings.available ? `avg ${formatSavings(savings.avgUsd, savings.avgBps)} per trade, vs the best single venue` : "vs the best single venue");
  setStat("stat-success-rate", s.orders.successRate, s.orders.successRate === null ? "–" : formatShare(s.orders.successRate),
    s.orders.final ? `of ${s.orders.final} finished order${s.orders.final === 1 ? "" : "s"}` : "no finished orders yet");
  renderLatency(s.latency);

  const venues = s.volumeByVenue || [];
  const total = venues.reduce((sum, v) => sum + v.volumeUsd, 0);
  const palette = chartPalette();
  const bodyBg = getComputedStyle(document.body).backgroundColor;
  const share = (v) => (total > 0 ? formatShare(v / total) : "–");
  drawChart(ui.venueChart, {
    type: "doughnut",
    data: {
      labels: venues.map((v) => v.venue),
      datasets: [{
        label: "Volume (USD)",
        data: venues.map((v) => v.volumeUsd),
        backgroundColor: venues.map((_, i) => palette[i % palette.length]),
        borderColor: bodyBg,
        borderWidth: 2,
      }],
    },
    options: {
      cutout: "60%",
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12 } },
        tooltip: { callbacks: { label: (ctx) => ` ${ctx.label}: ${formatUsd(ctx.raw)} (${share(ctx.raw)})` } },
      },
    },
  }, venues.length ? `Volume by venue: ${venues.map((v) => `${v.venue} ${formatUsd(v.volumeUsd)} (${share(v.volumeUsd)})`).join(", ")}.`
    : "No volume yet.");
  if (s.trades > 0 && !state.hasTrades) setHasTrades(true);
  state.total = Math.max(state.total, s.trades);
  renderRecentCount();
}

/**
 * p95 latency per venue kind: one OTC settlement (tens of seconds) must not make the headline. The
 * headline is the first kind that has trades (AMM, then aggregator, then OTC); the list gives each.
 */
function renderLatency(latency) {
  const kinds = latencyKinds(latency.byKind);
  const head = kinds[0] || null;
  const node = document.getElementById("stat-p95-latency");
  node.dataset.kind = head ? head.kind : "";
  document.getElementById("stat-p95-latency-kind").textContent = head ? `(${KIND_LABELS[head.kind]} trades)` : "";
  setStat("stat-p95-latency", head ? head.p95Ms : null, head ? formatMs(head.p95Ms) : "–",
    head ? `${KIND_LABELS[head.kind]} · all trades p95 ${formatMs(latency.p95Ms)}` : "submit to confirmed, by venue kind");
  ui.latencyKinds.replaceChildren(...kinds.map(kindLatencyItem));
}

async function loadSummary() {
  try {
    renderSummary(await fetchJSON("/api/analytics/summary"));
    setError("totals", null);
  } catch (err) {
    setError("totals", err);
  }
}

// --- savings over time ---------------------------------------------------------------------------

const LABEL_FORMATS = {
  minute: new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hour12: false }),
  hour: new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false }),
  day: new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" }),
};

async function fetchSeries() {
  for (;;) {
    const bucket = BUCKETS[state.bucket];
    const series = await fetchJSON(`/api/analytics/timeseries?bucket=${bucket.name}`);
    const tooMany = series.truncated || series.buckets.length > bucket.maxPoints;
    if (!tooMany || state.bucket === BUCKETS.length - 1) return series;
    state.bucket += 1; // a coarser bucket, from now on
  }
}

function renderSeries(series) {
  const bucket = BUCKETS[state.bucket];
  const format = LABEL_FORMATS[series.bucket] || LABEL_FORMATS.hour;
  let running = 0;
  const rows = series.buckets.map((b) => {
    running += b.savingsVsBestSingleUsd;
    return { label: format.format(new Date(b.start)), cumulative: running, bucket: b };
  });
  const color = chartPalette()[1];
  ui.savingsBucket.textContent = `cumulative, vs the best single venue (${bucket.label})`;
  drawChart(ui.savingsChart, {
    type: "line",
    data: {
      labels: rows.map((r) => r.label),
      datasets: [{
        label: "Cumulative savings (USD)",
        data: rows.map((r) => r.cumulative),
        borderColor: color,
        backgroundColor: `${color}33`,
        fill: true,
        // Cumulative data: a smoothed curve overshoots and dips between points. Stepped: the total
        // holds until the bucket in which it grew.
        stepped: "before",
        tension: 0,
        pointRadius: rows.length > 60 ? 0 : 3,
      }],
    },
    options: {
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { ticks: { maxTicksLimit: 8, maxRotation: 0 } },
        y: { beginAtZero: true, ticks: { callback: (v) => formatUsdCompact(v) } },
      },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            label: (ctx) => ` Total ${formatSavingsUsd(ctx.raw)}`,
            afterLabel: (ctx) => {
              const b = rows[ctx.dataIndex].bucket;
              return ` This ${series.bucket}: ${formatSavingsUsd(b.savingsVsBestSingleUsd)} on ${b.trades} trade${b.trades === 1 ? "" : "s"}`;
            },
          },
        },
      },
    },
  }, rows.length ? `Cumulative savings versus the best single venue reached ${formatSavingsUsd(running)} over ${rows.length} ${series.bucket} bucket${rows.length === 1 ? "" : "s"}.`
    : "No savings yet.");
}

async function loadSeries() {
  try {
    renderSeries(await fetchSeries());
    setError("savings", null);
  } catch (err) {
    setError("savings", err);
  }
}

// --- recent trades and the impact scatter --------------------------------------------------------

/** One trade from /api/analytics/impact or a trade_executed event, in one shape. */
function normalise(t) {
  return {
    orderId: t.orderId,
    executedAt: t.executedAt,
    tokenIn: t.tokenIn,
    tokenOut: t.tokenOut,
    amountIn: t.amountIn,
    amountOut: t.amountOut,
    strategy: t.strategy || t.routingStrategy,
    venues: t.venues || [],
    notionalUsd: Number(t.notionalUsd),
    savingsUsd: Number(t.savingsUsd),
    priceImpactBps: t.priceImpactBps ?? null,
  };
}

function isToday(iso) {
  const d = new Date(iso);
  const now = new Date();
  return d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
}

function tradeRow(t, isNew = false) {
  const when = isToday(t.executedAt) ? formatTime(t.executedAt).replace(/[.,]\d+$/, "") : formatDateTime(t.executedAt);
  const bps = savingsBps(t.savingsUsd, t.notionalUsd);
  return el("tr", { dataset: { orderId: t.orderId, strategy: t.strategy || "" }, class: isNew ? "trade-new" : null },
    el("td", { class: "small text-nowrap" }, el("time", { datetime: t.executedAt, title: formatDateTime(t.executedAt) }, when)),
    el("td", { title: `${t.amountIn} ${t.tokenIn} → ${t.amountOut} ${t.tokenOut}` },
      listAmount(t.amountIn, t.tokenIn), " ",
      el("span", { class: "text-nowrap" }, el("span", { "aria-hidden": "true" }, "→ "),
        el("span", { class: "visually-hidden" }, "for "), listAmount(t.amountOut, t.tokenOut)),
      el("span", { class: "d-block small text-body-secondary" }, strategyLabel(t.strategy))),
    el("td", { class: "small d-none d-md-table-cell venues-cell" }, t.venues.join(", ") || "–"),
    el("td", { class: "text-end text-nowrap" }, el("span", { class: "num" }, formatUsd(t.notionalUsd))),
    el("td", {
      class: `text-end text-nowrap d-none d-sm-table-cell ${t.savingsUsd >= 0.005 ? "text-success" : ""}`,
      title: `${formatUsd(t.savingsUsd)} vs the best single venue${bps === null ? "" : ` (≈ ${bps.toFixed(4)} bps of the trade's value)`}`,
    }, el("span", { class: "num" }, formatSavings(t.savingsUsd, bps))),
    el("td", { class: "text-end text-nowrap small d-none d-lg-table-cell" }, el("span", { class: "num" }, formatBps(t.priceImpactBps))));
}

function renderRecentCount() {
  const shown = ui.tradesBody.rows.length;
  ui.recentCount.textContent = state.total === 0 ? "none yet"
    : `latest ${shown} of ${state.total.toLocaleString("en-US")}`;
}

function renderTable() {
  ui.tradesBody.replaceChildren(...state.trades.slice(0, MAX_ROWS).map((t) => tradeRow(t)));
  labelCells(ui.tradesBody.closest("table"));
  renderRecentCount();
}

function prependRow(t) {
  ui.tradesBody.prepend(tradeRow(t, true));
  labelCells(ui.tradesBody.closest("table"));
  while (ui.tradesBody.rows.length > MAX_ROWS) ui.tradesBody.lastElementChild.remove();
  renderRecentCount();
}

function renderImpact() {
  const palette = chartPalette();
  const byStrategy = new Map();
  for (const t of state.trades) {
    const impact = Number(t.priceImpactBps);
    if (t.priceImpactBps === null || !Number.isFinite(impact) || !(t.notionalUsd > 0)) continue;
    if (!byStrategy.has(t.strategy)) byStrategy.set(t.strategy, []);
    byStrategy.get(t.strategy).push({ x: t.notionalUsd, y: impact, trade: t });
  }
  const strategies = [...byStrategy.keys()].sort();
  const plotted = strategies.reduce((n, s) => n + byStrategy.get(s).length, 0);
  const impacts = strategies.flatMap((s) => byStrategy.get(s).map((p) => p.y));
  drawChart(ui.impactChart, {
    type: "scatter",
    data: {
      datasets: strategies.map((s, i) => ({
        label: strategyLabel(s),
        data: byStrategy.get(s),
        backgroundColor: palette[i % palette.length],
        borderColor: palette[i % palette.length],
        pointRadius: 4,
        pointHoverRadius: 6,
      })),
    },
    options: {
      scales: {
        x: {
          type: "logarithmic",
          title: { display: true, text: "Order size (USD, log scale)" },
          ticks: { callback: (v) => formatUsdCompact(v), maxTicksLimit: 8, autoSkip: true },
        },
        y: { beginAtZero: true, title: { display: true, text: "Price impact (bps)" } },
      },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12 } },
        tooltip: {
          callbacks: {
            label: (ctx) => {
              const t = ctx.raw.trade;
              return ` ${formatAmount(t.amountIn, { maxFraction: 4 })} ${t.tokenIn} → ${t.tokenOut}: ${formatUsd(t.notionalUsd)}, ${formatBps(ctx.raw.y)}`;
            },
          },
        },
      },
    },
  }, plotted ? `${plotted} trade${plotted === 1 ? "" : "s"} plotted; price impact from ${formatBps(Math.min(...impacts))} to ${formatBps(Math.max(...impacts))}.`
    : "No trades yet.");
}

let scatterTimer = null;

/** Redraw the scatter soon: at most once per SCATTER_THROTTLE_MS however many trades arrive. */
function scheduleImpact() {
  if (scatterTimer !== null) return;
  scatterTimer = setTimeout(() => { scatterTimer = null; renderImpact(); }, SCATTER_THROTTLE_MS);
}

async function loadTrades() {
  try {
    const body = await fetchJSON(`/api/analytics/impact?limit=${MAX_POINTS}`);
    state.trades = body.trades.map(normalise);
    state.total = body.total;
    renderTable();
    renderImpact();
    if (body.total > 0) setHasTrades(true);
    setError("trades", null);
  } catch (err) {
    setError("trades", err);
  }
}

// --- price lines per token (24 h, from the trades) --------------------------------------------------

const PRICE_TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hour12: false });

function priceCard(symbol) {
  let card = ui.priceCharts.querySelector(`.price-chart[data-token="${CSS.escape(symbol)}"]`);
  if (!card) {
    const id = `chart-price-${symbol.toLowerCase().replace(/[^a-z0-9]/g, "")}`;
    card = el("div", { class: "col" },
      el("div", { class: "price-chart h-100", dataset: { token: symbol, change: "" } },
        el("div", { class: "d-flex flex-wrap align-items-baseline justify-content-between gap-2 mb-1" },
          el("h3", { class: "h6 mb-0 price-chart-symbol" }, symbol),
          el("span", { class: "price-chart-figures" },
            el("span", { class: "num price-chart-last" }, "–"), " ",
            el("span", { class: "num small price-chart-change" }, ""))),
        el("div", { class: "chart-box chart-box-sm" },
          el("canvas", { id, role: "img", "aria-label": `Line chart: ${symbol} price in USD over the last 24 hours`,
            "aria-describedby": `${id}-text`, dataset: { points: "0", updates: "0" } }, "No data yet."),
          el("p", { class: "chart-empty-note", "aria-hidden": "true" }, "No trades yet")),
        el("p", { id: `${id}-text`, class: "visually-hidden" }, "No data yet.")));
    ui.priceCharts.append(card);
    card = card.querySelector(".price-chart");
  }
  return card;
}

function renderPriceHistory(body) {
  const palette = chartPalette();
  const seen = new Set();
  body.tokens.forEach((history, i) => {
    const symbol = history.token;
    seen.add(symbol);
    const card = priceCard(symbol);
    const points = history.points.map((p) => ({ label: PRICE_TIME.format(new Date(p.start)), price: Number(p.priceUsd), point: p }));
    const last = history.points.length ? history.points[history.points.length - 1].priceUsd : null;
    const change = history.changePct;
    card.dataset.change = change === null ? "" : String(change);
    card.dataset.basis = history.basis;
    const lastNode = card.querySelector(".price-chart-last");
    lastNode.textContent = last === null ? "–" : formatUsdPrice(last);
    lastNode.title = last === null ? "" : `${last} USD (latest minute with a trade)`;
    const changeNode = card.querySelector(".price-chart-change");
    changeNode.textContent = change === null ? "24 h –" : `24 h ${change > 0 ? "+" : ""}${change.toFixed(2)}%`;
    changeNode.className = `num small price-chart-change ${change > 0 ? "text-success" : change < 0 ? "text-danger" : "text-body-secondary"}`;
    changeNode.title = change === null ? "Needs trades in two different minutes of the last 24 hours"
      : "From the first to the latest traded minute of the last 24 hours";
    const color = palette[i % palette.length];
    const canvas = card.querySelector("canvas");
    drawChart(canvas, {
      type: "line",
      data: {
        labels: points.map((p) => p.label),
        datasets: [{
          label: `${symbol} (USD)`, data: points.map((p) => p.price), borderColor: color, backgroundColor: color,
          borderWidth: 2, tension: 0, pointRadius: points.length > 30 ? 0 : 2, spanGaps: true,
        }],
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { ticks: { maxTicksLimit: 4, maxRotation: 0 } },
          y: { ticks: { maxTicksLimit: 4, callback: (v) => formatUsdPrice(v) } },
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: (ctx) => {
                const n = points[ctx.dataIndex].point.trades;
                const what = history.basis === "recorded" ? "sample" : "trade";
                return ` ${formatUsdPrice(ctx.raw)} (${n} ${what}${n === 1 ? "" : "s"})`;
              },
            },
          },
        },
      },
    }, points.length ? `${symbol}: ${formatUsdPrice(last)} at the latest traded minute`
      + (change === null ? "." : `, ${change > 0 ? "up" : change < 0 ? "down" : "unchanged"} ${Math.abs(change).toFixed(2)}% over 24 hours.`)
      : `${symbol}: no trades in the last 24 hours.`);
  });
  for (const card of ui.priceCharts.querySelectorAll(".price-chart")) {
    if (!seen.has(card.dataset.token)) card.closest(".col").remove();
  }
  ui.priceCharts.dataset.tokens = String(seen.size);
  show(ui.priceChartsEmpty, seen.size === 0);
}

/**
 * Each traded token's line from the recorded price history (15-minute candles' closes) where it
 * has some; the trade-based line otherwise (before any history was recorded, or if it cannot be read).
 */
async function withRecordedPrices(body) {
  const recorded = await Promise.all(body.tokens.map((history) => fetchCandles(history.token, {
    hours: PRICE_WINDOW_MS / 3600_000, interval: "15m",
  }).catch(() => [])));
  body.tokens.forEach((history, i) => {
    const candles = recorded[i];
    if (candles.length < 2) return;
    history.basis = "recorded";
    history.points = candles.map((c) => ({ start: c.t, priceUsd: String(c.close), trades: c.samples }));
    history.changePct = candles[0].open > 0 ? (candles[candles.length - 1].close / candles[0].open - 1) * 100 : null;
  });
  const note = document.getElementById("price-charts-note");
  if (note) {
    note.textContent = body.tokens.some((h) => h.basis === "recorded")
      ? "USD, recorded reference prices (15-minute closes)"
      : "USD, from the trades executed here (per minute)";
  }
  return body;
}

async function loadPriceHistory() {
  try {
    const since = new Date(Date.now() - PRICE_WINDOW_MS).toISOString();
    const body = await fetchJSON(`/api/analytics/price-history?bucket=minute&from=${encodeURIComponent(since)}`);
    renderPriceHistory(await withRecordedPrices(body));
    setError("price history", null);
  } catch (err) {
    setError("price history", err);
  }
}

// --- live updates --------------------------------------------------------------------------------

async function refresh() {
  if (state.refreshing) {
    state.refreshAgain = true; // a trade arrived during the refetch: fetch once more afterwards
    return;
  }
  state.refreshing = true;
  try {
    await Promise.all([loadSummary(), loadSeries(), loadPriceHistory()]);
  } finally {
    state.refreshing = false;
    if (state.refreshAgain) {
      state.refreshAgain = false;
      scheduleRefresh();
    }
  }
}

const scheduleRefresh = debounce(refresh, REFRESH_DEBOUNCE_MS);

const announce = debounce(() => {
  const trades = state.announced;
  state.announced = [];
  if (!trades.length) return;
  const t = trades[trades.length - 1];
  ui.announcer.textContent = trades.length === 1
    ? `New trade: ${formatTokenAmount(t.amountIn, t.tokenIn, { maxFraction: 4 })} for ${formatTokenAmount(t.amountOut, t.tokenOut, { maxFraction: 4 })}.`
    : `${trades.length} new trades.`;
}, ANNOUNCE_DEBOUNCE_MS);

function onTradeExecuted(data) {
  if (!data || typeof data.orderId !== "string") return;
  if (state.trades.some((t) => t.orderId === data.orderId)) return; // already shown
  const trade = normalise(data);
  state.trades.unshift(trade);
  if (state.trades.length > MAX_POINTS) state.trades.length = MAX_POINTS;
  state.total += 1;
  setHasTrades(true);
  prependRow(trade);
  scheduleImpact();
  state.announced.push(trade);
  announce();
  scheduleRefresh();
}

// Bot actions (bot_action events, README "Bots"): the newest few under the recent trades, live.
const BOT_FEED_SIZE = 5;

function onBotAction(data) {
  if (!data || typeof data.botName !== "string" || typeof data.message !== "string") return;
  let feed = document.getElementById("bot-feed");
  if (!feed) {
    const card = document.getElementById("recent-trades")?.closest("section");
    if (!card) return;
    feed = document.createElement("ul");
    feed.id = "bot-feed";
    feed.className = "list-group list-group-flush small border-top";
    feed.setAttribute("aria-label", "Bot actions, newest first");
    card.append(feed);
  }
  const item = document.createElement("li");
  item.className = "list-group-item d-flex gap-2 align-items-baseline";
  item.dataset.kind = data.kind;
  const badge = document.createElement("span");
  badge.className = `badge ${data.kind === "error" ? "text-bg-danger" : data.kind === "order" ? "text-bg-info" : "text-bg-secondary"}`;
  badge.textContent = `bot ${data.kind}`;
  const text = document.createElement("span");
  text.className = "text-truncate";
  text.textContent = `${data.botName}: ${data.message}`;
  text.title = text.textContent;
  item.append(badge, text);
  feed.prepend(item);
  while (feed.children.length > BOT_FEED_SIZE) feed.lastElementChild.remove();
}

async function loadAll() {
  await Promise.all([loadPrices(), loadSummary(), loadSeries(), loadTrades(), loadPriceHistory()]);
}

async function init() {
  const socket = liveSocket();
  if (socket) {
    socket.on("trade_executed", onTradeExecuted);
    socket.on("bot_action", onBotAction);
    socket.on("price_update", (body) => { if (body && body.prices) renderPrices(body); });
    let connectedBefore = socket.connected;
    socket.on("connect", () => {
      if (connectedBefore) loadAll(); // back after a drop: catch up on what we missed
      connectedBefore = true;
    });
  }
  await loadAll();
  if (!state.hasTrades) setHasTrades(false);
  page.dataset.state = "ready";
  page.setAttribute("aria-busy", "false");
}

init();
