// The analytics page: volume and savings by venue and by strategy (separate charts: one axis each,
// and tables that turn into cards on a phone), daily savings, the latency distribution with p95 per
// venue kind, and realised slippage (fill versus quote), over a chosen period.
// Everything comes from /api/analytics/*; a trade_executed event (or a reconnect) reads it all again,
// debounced, so a burst of trades costs one round of requests. The period lives in the URL (?window=7d).
import {
  debounce, describeError, drawChart, el, fetchJSON, formatAmount, formatBps, formatMs, formatShare,
  formatUsd, formatUsdCompact, chartPalette, liveSocket, show, strategyLabel,
} from "./common.js";
import {
  formatSavings, formatSavingsBps, formatSavingsUsd, KIND_LABELS, labelCells, latencyKinds, savingsBps,
} from "./figures.js";

const REFRESH_DEBOUNCE_MS = 1000;
const SLIPPAGE_POINTS = 200; // trades on the slippage scatter
const MAX_DAYS = 366; // bars on the daily savings chart
const WINDOWS = { "24h": 24 * 3600e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };

const page = document.getElementById("analytics-page");
const windowSelect = document.getElementById("analytics-window");
const ui = {
  empty: document.getElementById("analytics-empty"),
  noMatch: document.getElementById("analytics-no-match"),
  error: document.getElementById("analytics-error"),
  status: document.getElementById("analytics-status"),
  venueChart: document.getElementById("chart-venue-volume"),
  venueSavingsChart: document.getElementById("chart-venue-savings"),
  strategyChart: document.getElementById("chart-strategy"),
  strategySavingsChart: document.getElementById("chart-strategy-savings"),
  dailyChart: document.getElementById("chart-daily-savings"),
  latencyChart: document.getElementById("chart-latency"),
  slippageChart: document.getElementById("chart-slippage"),
  venueBody: document.querySelector("#venue-table tbody"),
  strategyBody: document.querySelector("#strategy-table tbody"),
  kindsBody: document.querySelector("#latency-kinds tbody"),
};

const state = {
  controller: null,
  errors: new Map(),
  trades: null, // trades in the period, from the latency figures
  loads: 0,
};

// --- helpers -----------------------------------------------------------------------------------------

function text(id, value, title) {
  const node = document.getElementById(id);
  node.textContent = value;
  if (title) node.title = title; else node.removeAttribute("title");
}

function setError(part, err) {
  if (err) state.errors.set(part, describeError(err));
  else state.errors.delete(part);
  const messages = [...state.errors.entries()].map(([name, message]) => `${name}: ${message}`);
  ui.error.textContent = messages.length ? `Some charts could not be loaded (${messages.join("; ")}).` : "";
  show(ui.error, messages.length > 0);
}

function windowParams() {
  const span = WINDOWS[windowSelect.value];
  return span ? { from: new Date(Date.now() - span).toISOString() } : {};
}

function url(path, params = {}) {
  const query = new URLSearchParams({ ...params, ...windowParams() }).toString();
  return query ? `${path}?${query}` : path;
}

function emptyRow(colspan, message) {
  return el("tr", { class: "table-empty" }, el("td", { colspan }, message));
}

function plural(n, word) {
  return `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * Bars of one USD figure per labelled row, on its own axis: volume and savings get a chart each (on
 * one dual-axis chart $130K of volume and $0.47 of savings drew bars of the same height).
 */
function usdBars(canvas, labels, values, { label, color, format, detail }, summary) {
  drawChart(canvas, {
    type: "bar",
    data: {
      labels,
      datasets: [{ label, data: values, backgroundColor: color, borderRadius: 3, maxBarThickness: 56 }],
    },
    options: {
      scales: {
        x: { ticks: { maxRotation: 30, autoSkip: false } },
        y: { beginAtZero: true, ticks: { callback: (v) => formatUsdCompact(v), maxTicksLimit: 6 } },
      },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (ctx) => ` ${format(ctx.raw)}${detail ? detail(ctx.dataIndex) : ""}` } },
      },
    },
  }, summary);
}

// --- by venue and by strategy --------------------------------------------------------------------------

function renderBreakdown(b) {
  const palette = chartPalette();
  const venues = b.byVenue;
  const totalVolume = venues.reduce((sum, v) => sum + v.volumeUsd, 0);
  const venueBps = venues.map((v) => savingsBps(v.savingsUsd, v.volumeUsd));
  usdBars(ui.venueChart, venues.map((v) => v.venue), venues.map((v) => v.volumeUsd),
    { label: "Volume (USD)", color: palette[0], format: formatUsd },
    venues.length ? `Volume by venue: ${venues.map((v) => `${v.venue} ${formatUsd(v.volumeUsd)}`).join("; ")}.`
      : "No venue volume in this period.");
  usdBars(ui.venueSavingsChart, venues.map((v) => v.venue), venues.map((v) => v.savingsUsd),
    { label: "Savings (USD)", color: palette[1], format: formatSavingsUsd, detail: (i) => (venueBps[i] === null ? "" : ` (${formatSavingsBps(venueBps[i])} of volume)`) },
    venues.length ? `Savings by venue: ${venues.map((v, i) => `${v.venue} ${formatSavings(v.savingsUsd, venueBps[i])}`).join("; ")}.`
      : "No savings in this period.");
  document.getElementById("venue-method").title = b.volumeMethod || "";
  ui.venueBody.replaceChildren(...(venues.length ? venues.map((v, i) => el("tr", { dataset: { venue: v.venue, kind: v.kind } },
    el("th", { scope: "row", class: "fw-normal" }, v.venue, " ",
      el("span", { class: `badge kind-badge kind-${v.kind}` }, KIND_LABELS[v.kind] || v.kind)),
    el("td", { class: "text-end" }, el("span", { class: "num" }, v.trades.toLocaleString("en-US"))),
    el("td", { class: "text-end" }, el("span", { class: "num" }, v.fills.toLocaleString("en-US"))),
    el("td", { class: "text-end text-nowrap" }, el("span", { class: "num" }, formatUsd(v.volumeUsd))),
    el("td", { class: "text-end" }, el("span", { class: "num" }, totalVolume > 0 ? formatShare(v.volumeUsd / totalVolume) : "–")),
    el("td", { class: `text-end text-nowrap ${v.savingsUsd >= 0.005 ? "text-success" : ""}`, title: formatUsd(v.savingsUsd) },
      el("span", { class: "num" }, formatSavings(v.savingsUsd, venueBps[i])))))
    : [emptyRow(6, "No trades in this period.")]));
  labelCells(ui.venueBody.closest("table"));

  const strategies = b.byStrategy;
  const names = strategies.map((s) => strategyLabel(s.strategy));
  usdBars(ui.strategyChart, names, strategies.map((s) => s.volumeUsd),
    { label: "Volume (USD)", color: palette[0], format: formatUsd, detail: (i) => `, ${plural(strategies[i].trades, "trade")}` },
    strategies.length ? `Volume by strategy: ${strategies.map((s, i) => `${names[i]} ${plural(s.trades, "trade")}, ${formatUsd(s.volumeUsd)}`).join("; ")}.`
      : "No trades in this period.");
  usdBars(ui.strategySavingsChart, names, strategies.map((s) => s.savingsUsd),
    { label: "Savings (USD)", color: palette[1], format: formatSavingsUsd, detail: (i) => (strategies[i].avgSavingsBps === null ? "" : ` (avg ${formatSavingsBps(strategies[i].avgSavingsBps)} per trade)`) },
    strategies.length ? `Savings by strategy: ${strategies.map((s, i) => `${names[i]} ${formatSavings(s.savingsUsd, s.avgSavingsBps)}`).join("; ")}.`
      : "No savings in this period.");
  ui.strategyBody.replaceChildren(...(strategies.length ? strategies.map((s, i) => el("tr", { dataset: { strategy: s.strategy } },
    el("th", { scope: "row", class: "fw-normal text-nowrap" }, names[i]),
    el("td", { class: "text-end" }, el("span", { class: "num" }, s.trades.toLocaleString("en-US"))),
    el("td", { class: "text-end text-nowrap" }, el("span", { class: "num" }, formatUsd(s.volumeUsd))),
    el("td", { class: `text-end text-nowrap ${s.savingsUsd >= 0.005 ? "text-success" : ""}`, title: formatUsd(s.savingsUsd) },
      el("span", { class: "num" }, formatSavingsUsd(s.savingsUsd))),
    el("td", { class: "text-end text-nowrap" }, el("span", { class: "num" }, formatSavingsBps(s.avgSavingsBps) ?? "–")),
    el("td", { class: "text-end text-nowrap", title: s.jupiterTrades ? `${plural(s.jupiterTrades, "trade")} with a Jupiter quote` : "No Jupiter quote" },
      el("span", { class: "num" }, s.savingsVsJupiterUsd === null ? "–" : formatSavingsUsd(s.savingsVsJupiterUsd))),
    el("td", { class: "text-end text-nowrap" }, el("span", { class: "num" }, formatBps(s.avgPriceImpactBps))),
    el("td", { class: "text-end text-nowrap" }, el("span", { class: "num" }, formatMs(s.avgLatencyMs)))))
    : [emptyRow(8, "No trades in this period.")]));
  labelCells(ui.strategyBody.closest("table"));
}

// --- daily savings -------------------------------------------------------------------------------------

const DAY_FORMAT = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });

function renderDaily(series) {
  const days = series.buckets.slice(-MAX_DAYS);
  const palette = chartPalette();
  const withJupiter = days.some((d) => d.jupiterTrades > 0);
  const datasets = [{
    label: "vs best single venue", data: days.map((d) => d.savingsVsBestSingleUsd), backgroundColor: palette[1], borderRadius: 3, maxBarThickness: 48,
  }];
  if (withJupiter) {
    datasets.push({
      label: "vs Jupiter", data: days.map((d) => d.savingsVsJupiterUsd), backgroundColor: palette[2], borderRadius: 3, maxBarThickness: 48,
    });
  }
  const total = days.reduce((sum, d) => sum + d.savingsVsBestSingleUsd, 0);
  text("daily-total", days.length ? `${formatSavingsUsd(total)} over ${plural(days.length, "day")} (UTC)` : "–");
  drawChart(ui.dailyChart, {
    type: "bar",
    data: { labels: days.map((d) => DAY_FORMAT.format(new Date(d.start))), datasets },
    options: {
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { ticks: { maxTicksLimit: 12, maxRotation: 0 } },
        y: { beginAtZero: true, ticks: { callback: (v) => formatUsdCompact(v) } },
      },
      plugins: {
        legend: { display: withJupiter, position: "bottom", labels: { boxWidth: 12 } },
        tooltip: {
          callbacks: {
            label: (ctx) => ` ${ctx.dataset.label}: ${ctx.raw === null ? "no Jupiter quote" : formatSavingsUsd(ctx.raw)}`,
            afterBody: (items) => {
              const d = days[items[0].dataIndex];
              return `${plural(d.trades, "trade")}, volume ${formatUsd(d.volumeUsd)}`;
            },
          },
        },
      },
    },
  }, days.length ? `Savings versus the best single venue: ${formatUsd(total)} over ${plural(days.length, "day")}; best day ${formatUsd(Math.max(...days.map((d) => d.savingsVsBestSingleUsd)))}.`
    : "No savings in this period.");
}

// --- latency -------------------------------------------------------------------------------------------

function edge(ms) {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

/** "5–10 ms", "1–2 s", "500 ms–1 s", "≥ 100 s". */
function latencyLabel(b) {
  if (b.hiMs === null) return `≥ ${edge(b.loMs)}`;
  if (b.hiMs < 1000) return `${b.loMs}–${b.hiMs} ms`;
  if (b.loMs >= 1000) return `${b.loMs / 1000}–${b.hiMs / 1000} s`;
  return `${edge(b.loMs)}–${edge(b.hiMs)}`;
}

function renderLatency(d) {
  const buckets = d.buckets;
  const labels = buckets.map(latencyLabel);
  drawChart(ui.latencyChart, {
    type: "bar",
    data: {
      labels,
      datasets: [{ label: "Trades", data: buckets.map((b) => b.count), backgroundColor: chartPalette()[6], borderRadius: 3, categoryPercentage: 0.95, barPercentage: 1 }],
    },
    options: {
      scales: {
        x: { title: { display: true, text: "Latency" }, ticks: { maxRotation: 30 } },
        y: { beginAtZero: true, title: { display: true, text: "Trades" }, ticks: { precision: 0 } },
      },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (ctx) => ` ${plural(ctx.raw, "trade")}` } },
      },
    },
  }, d.count ? `${plural(d.count, "trade")}: median ${formatMs(d.p50Ms)}, p95 ${formatMs(d.p95Ms)}, p99 ${formatMs(d.p99Ms)}, slowest ${formatMs(d.maxMs)}. `
    + buckets.map((b, i) => (b.count ? `${labels[i]}: ${b.count}` : null)).filter(Boolean).join(", ")
    : "No trades in this period.");
  const method = `Nearest-rank percentile over ${plural(d.count, "trade")}`;
  text("latency-p50", formatMs(d.p50Ms), method);
  text("latency-p90", formatMs(d.p90Ms), method);
  text("latency-p95", formatMs(d.p95Ms), method);
  text("latency-p99", formatMs(d.p99Ms), method);
  text("latency-mean", formatMs(d.meanMs));
  text("latency-max", formatMs(d.maxMs), d.minMs === null ? null : `Fastest: ${formatMs(d.minMs)}`);
  const kinds = latencyKinds(d.byKind);
  ui.kindsBody.replaceChildren(...(kinds.length ? kinds.map((k) => el("tr", { dataset: { kind: k.kind, p95Ms: String(k.p95Ms) } },
    el("th", { scope: "row", class: "fw-normal" }, el("span", { class: `badge kind-badge kind-${k.kind}` }, KIND_LABELS[k.kind] || k.kind)),
    el("td", { class: "text-end" }, el("span", { class: "num" }, k.count.toLocaleString("en-US"))),
    el("td", { class: "text-end text-nowrap" }, el("span", { class: "num" }, formatMs(k.p50Ms))),
    el("td", { class: "text-end text-nowrap" }, el("span", { class: "num" }, formatMs(k.p95Ms))),
    el("td", { class: "text-end text-nowrap" }, el("span", { class: "num" }, formatMs(k.p99Ms))),
    el("td", { class: "text-end text-nowrap" }, el("span", { class: "num" }, formatMs(k.maxMs)))))
    : [emptyRow(6, "No trades in this period.")]));
  labelCells(ui.kindsBody.closest("table"));
  state.trades = d.count;
}

// --- realised slippage -----------------------------------------------------------------------------------

/** Basis points with 2 decimals, or 4 when that would show a non-zero value as 0.00. */
function slippageText(value) {
  if (value === null || value === undefined) return "–";
  const n = Number(value);
  return formatBps(n, n !== 0 && Math.abs(n) < 0.005 ? 4 : 2);
}

function renderSlippage(s) {
  const groups = { worse: [], equal: [], better: [] };
  for (const t of s.trades) {
    const bps = Number(t.slippageBps);
    if (!Number.isFinite(bps) || !(t.notionalUsd > 0)) continue;
    groups[bps > 0 ? "worse" : bps < 0 ? "better" : "equal"].push({ x: t.notionalUsd, y: bps, trade: t });
  }
  const palette = chartPalette();
  const style = getComputedStyle(document.body);
  const colours = {
    worse: style.getPropertyValue("--bs-danger").trim() || "#dc3545",
    equal: palette[7],
    better: style.getPropertyValue("--bs-success").trim() || "#198754",
  };
  const labels = { worse: "Below the quote", equal: "At the quote", better: "Above the quote" };
  const plotted = groups.worse.length + groups.equal.length + groups.better.length;
  drawChart(ui.slippageChart, {
    type: "scatter",
    data: {
      datasets: Object.keys(groups).map((key) => ({
        label: labels[key], data: groups[key], backgroundColor: colours[key], borderColor: colours[key], pointRadius: 4, pointHoverRadius: 6,
      })),
    },
    options: {
      scales: {
        x: { type: "logarithmic", title: { display: true, text: "Order size (USD, log scale)" }, ticks: { callback: (v) => formatUsdCompact(v), maxTicksLimit: 8 } },
        y: { title: { display: true, text: "Slippage (bps)" } },
      },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12 } },
        tooltip: {
          callbacks: {
            label: (ctx) => {
              const t = ctx.raw.trade;
              return ` ${formatAmount(t.amountIn, { maxFraction: 4 })} ${t.tokenIn} → ${t.tokenOut}: ${formatBps(t.slippageBps, 4)} (${formatUsd(t.notionalUsd)})`;
            },
            afterLabel: (ctx) => {
              const t = ctx.raw.trade;
              return ` quoted ${formatAmount(t.quotedAmountOut)}, filled ${formatAmount(t.amountOut)} ${t.tokenOut}`;
            },
          },
        },
      },
    },
  }, plotted ? `${plural(plotted, "trade")} plotted: ${groups.worse.length} below the quote, ${groups.equal.length} at it, ${groups.better.length} above it.`
    : "No trades in this period.");
  const a = s.aggregate;
  text("slippage-trades", a.trades.toLocaleString("en-US"));
  text("slippage-avg", slippageText(a.avgBps));
  text("slippage-weighted", slippageText(a.weightedBps), "Weighted by each trade's USD value");
  text("slippage-p50", slippageText(a.p50Bps));
  text("slippage-p95", slippageText(a.p95Bps));
  text("slippage-range", a.minBps === null ? "–" : `${slippageText(a.minBps)} / ${slippageText(a.maxBps)}`);
  text("slippage-counts", a.trades ? `${a.worse} / ${a.equal} / ${a.better}` : "–",
    "Trades filled below the quote / exactly at it / above it");
  text("slippage-shown", String(s.trades.length));
}

// --- loading ---------------------------------------------------------------------------------------------

async function part(name, path, render, signal) {
  try {
    const body = await fetchJSON(path, { signal });
    if (signal.aborted) return;
    render(body);
    setError(name, null);
  } catch (err) {
    if (err?.name === "AbortError" || signal.aborted) return;
    setError(name, err);
  }
}

async function load() {
  state.controller?.abort();
  const controller = new AbortController();
  state.controller = controller;
  const { signal } = controller;
  page.setAttribute("aria-busy", "true");
  await Promise.all([
    part("by venue and strategy", url("/api/analytics/breakdown"), renderBreakdown, signal),
    part("daily savings", url("/api/analytics/timeseries", { bucket: "day" }), renderDaily, signal),
    part("latency", url("/api/analytics/latency"), renderLatency, signal),
    part("slippage", url("/api/analytics/slippage", { limit: String(SLIPPAGE_POINTS) }), renderSlippage, signal),
  ]);
  if (signal.aborted) return;
  state.controller = null;
  state.loads += 1;
  const filtered = Boolean(windowSelect.value);
  const none = state.trades === 0;
  show(ui.empty, none && !filtered);
  show(ui.noMatch, none && filtered);
  page.dataset.empty = String(state.trades === 0);
  page.dataset.state = "ready";
  page.setAttribute("aria-busy", "false");
  if (state.loads > 1) {
    ui.status.textContent = state.trades === null ? "Analytics refreshed." : `Analytics refreshed: ${plural(state.trades, "trade")} in this period.`;
  }
}

const scheduleLoad = debounce(load, REFRESH_DEBOUNCE_MS);

function readUrl() {
  const value = new URLSearchParams(window.location.search).get("window") || "";
  windowSelect.value = value in WINDOWS ? value : "";
}

function writeUrl() {
  const params = new URLSearchParams(window.location.search);
  if (windowSelect.value) params.set("window", windowSelect.value); else params.delete("window");
  const query = params.toString();
  window.history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
}

function init() {
  readUrl();
  document.getElementById("analytics-filters").addEventListener("submit", (event) => event.preventDefault());
  windowSelect.addEventListener("change", () => {
    writeUrl();
    scheduleLoad.cancel();
    load();
  });
  const socket = liveSocket();
  if (socket) {
    socket.on("trade_executed", () => {
      if (!windowSelect.value) show(ui.empty, false); // a trade exists now, whatever the refetch says later
      scheduleLoad();
    });
    let connectedBefore = socket.connected;
    socket.on("connect", () => {
      if (connectedBefore) scheduleLoad(); // back after a drop: catch up on what we missed
      connectedBefore = true;
    });
  }
  load();
}

init();
