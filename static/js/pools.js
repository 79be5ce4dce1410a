// The pools page: every AMM pool (GET /api/liquidity-pools) and OTC desk (GET /api/otc-pools), kept
// live by Socket.IO `pool_update` (public room "pools", joined on connect), and for one pair the
// output and price impact of each venue against order size (GET /api/liquidity-curves): the
// curves the router splits an order across. A live update of a venue of the chosen pair redraws
// the curves. Amounts stay exact strings; they become floats only to be plotted.
// The arbitrage panel lists GET /api/arbitrage/opportunities, reloaded every few seconds and after
// a live venue update.
import {
  bpsToPercent, debounce, describeError, el, fetchJSON, formatAmount, formatBps, formatDateTime, formatTime,
  liveSocket, onConnectionChange, show,
} from "./common.js";
import { formatListAmount, labelCells } from "./figures.js";

const CURVE_POINTS = 24;
const CURVES_DEBOUNCE_MS = 400;
const RELOAD_DEBOUNCE_MS = 500;
const PREFERRED_PAIR = "SOL/USDC";
const KIND_LABELS = { amm: "AMM", otc: "OTC desk", aggregator: "Aggregator" };
const POINT_STYLES = { amm: "circle", otc: "rectRot", aggregator: "triangle" };
const PALETTE_SIZE = 8;
const ARB_REFRESH_MS = 5000;
const ARB_DEBOUNCE_MS = 600;
const ARB_LIMIT = 10;

const page = document.getElementById("pools-page");
const statusLine = document.getElementById("pools-status");
const errorBox = document.getElementById("pools-error");
const content = document.getElementById("pools-content");
const emptyState = document.getElementById("pools-empty");
const poolsBody = document.querySelector("#pools-table tbody");
const desksBody = document.querySelector("#desks-table tbody");
const pairSelect = document.getElementById("pair-select");
const curvesPanel = document.getElementById("curves-panel");
const curvesError = document.getElementById("curves-error");
const curvesStatus = document.getElementById("curves-status");
const outputCanvas = document.getElementById("chart-curves");
const impactCanvas = document.getElementById("chart-impact-curves");
const arbPanel = document.getElementById("arb-panel");
const arbStatus = document.getElementById("arb-status");
const arbError = document.getElementById("arb-error");
const arbBody = document.querySelector("#arb-table tbody");
const arbEmpty = document.getElementById("arb-empty");

const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumSignificantDigits: 3 });

const state = {
  loaded: false,
  loading: null, // the venue load in flight
  reloadAgain: false,
  pools: new Map(), // id -> { data, row }
  desks: new Map(),
  pairs: [], // "SOL/USDC" strings, both directions of every pair a venue trades
  curvesController: null,
  curvesSeq: 0,
  charts: { output: null, impact: null },
  arbLoading: false,
  arbAgain: false,
  arbLoaded: false,
};

// --- formatting ---------------------------------------------------------------------------------

// A number is a .num span (never wraps); on a phone card its unit may go to the next line instead.
function amountCell(className, value, symbol) {
  return el("td", { class: `text-end text-nowrap ${className}`, title: `${value} ${symbol}`, dataset: { value } },
    el("span", { class: "num" }, formatListAmount(value)), " ", el("span", { class: "text-body-secondary small" }, symbol));
}

function setAmount(cell, value, symbol) {
  cell.replaceChildren(el("span", { class: "num" }, formatListAmount(value)), " ",
    el("span", { class: "text-body-secondary small" }, symbol));
  cell.title = `${value} ${symbol}`;
  cell.dataset.value = value;
}

function setPrice(cell, price, tokenA, tokenB) {
  cell.replaceChildren(el("span", { class: "num" }, formatPrice(price)), " ",
    el("span", { class: "text-body-secondary small" }, `${tokenB}/${tokenA}`));
  cell.title = `1 ${tokenA} = ${price} ${tokenB} (marginal, before the fee)`;
  cell.dataset.value = price;
}

// One precision down the Price column: six significant digits ("150.000", "0.800000", "0.000000133386").
const PRICE_DIGITS = new Intl.NumberFormat("en-US", { minimumSignificantDigits: 6, maximumSignificantDigits: 6 });

function formatPrice(value) {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? PRICE_DIGITS.format(n) : formatAmount(value);
}

function usd(value) {
  if (value === null || value === undefined) return "–";
  const n = Number(value);
  return Number.isFinite(n) ? `$${compact.format(n)}` : String(value);
}

function seconds(value) {
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  return n === 0 ? "instant" : `${formatAmount(value)} s`;
}

/** Flash a row that just changed (CSS animation, none with reduced motion). */
function flash(row) {
  row.classList.remove("pool-row-updated");
  void row.offsetWidth; // restart the animation
  row.classList.add("pool-row-updated");
}

function bumpUpdates(row) {
  row.dataset.updates = String(Number(row.dataset.updates || "0") + 1);
}

// --- the tables ---------------------------------------------------------------------------------

function poolRow(pool) {
  const row = el("tr", { dataset: { venueId: pool.id, kind: "amm", updates: "0", pair: `${pool.tokenA}/${pool.tokenB}` } },
    el("th", { scope: "row", class: "fw-normal", title: pool.id }, pool.venue,
      el("span", { class: "d-block d-md-none small text-body-secondary text-nowrap" }, `${pool.tokenA}/${pool.tokenB}`),
      el("span", { class: "d-none d-md-block small text-body-secondary font-monospace text-nowrap" }, pool.id)),
    el("td", { class: "text-nowrap d-none d-md-table-cell" }, `${pool.tokenA}/${pool.tokenB}`),
    amountCell("reserve-a", pool.reserveA, pool.tokenA),
    amountCell("reserve-b", pool.reserveB, pool.tokenB),
    el("td", { class: "text-end text-nowrap fee", title: `${pool.feeBps} bps` }, bpsToPercent(pool.feeBps)),
    el("td", { class: "text-end text-nowrap price" }),
    el("td", { class: "text-end d-none d-md-table-cell depth", title: pool.depthUsd ? `$${pool.depthUsd}` : null },
      usd(pool.depthUsd)),
    el("td", { class: "d-none d-lg-table-cell small text-nowrap updated" }));
  fillPoolRow(row, pool);
  return row;
}

function fillPoolRow(row, pool) {
  setAmount(row.querySelector(".reserve-a"), pool.reserveA, pool.tokenA);
  setAmount(row.querySelector(".reserve-b"), pool.reserveB, pool.tokenB);
  setPrice(row.querySelector(".price"), pool.price, pool.tokenA, pool.tokenB);
  const updated = row.querySelector(".updated");
  if (pool.updatedAt) {
    updated.textContent = formatDateTime(pool.updatedAt);
    updated.title = pool.updatedAt;
  }
  if (pool.feeBps !== undefined) {
    const fee = row.querySelector(".fee");
    fee.textContent = bpsToPercent(pool.feeBps);
    fee.title = `${pool.feeBps} bps`;
  }
  if (pool.depthUsd !== undefined) row.querySelector(".depth").textContent = usd(pool.depthUsd);
}

function deskRow(desk) {
  const spread = `${formatBps(desk.baseSpreadBps, 0)} + up to ${formatBps(desk.sizeSpreadBps, 0)}`;
  const row = el("tr", { dataset: { venueId: desk.id, kind: "otc", updates: "0", pair: `${desk.base}/${desk.quote}` } },
    el("th", { scope: "row", class: "fw-normal", title: desk.id }, desk.name,
      el("span", { class: "d-none d-md-block small text-body-secondary font-monospace text-nowrap" }, desk.id)),
    el("td", { class: "text-nowrap d-none d-md-table-cell" }, `${desk.base}/${desk.quote}`),
    amountCell("inventory-base", desk.inventory.base, desk.base),
    amountCell("inventory-quote", desk.inventory.quote, desk.quote),
    el("td", { class: "text-end small", title: `${desk.curve} curve: the size part grows with the order's share of the maximum size` },
      spread),
    el("td", { class: "text-end d-none d-md-table-cell small text-nowrap", title: `${desk.minSize} to ${desk.maxSize} ${desk.base}` },
      `${formatAmount(desk.minSize)} – ${formatAmount(desk.maxSize)} ${desk.base}`),
    el("td", { class: "d-none d-lg-table-cell small" }, seconds(desk.settlementDelayS)));
  return row;
}

function fillDeskRow(row, desk) {
  setAmount(row.querySelector(".inventory-base"), desk.inventory.base, desk.base);
  setAmount(row.querySelector(".inventory-quote"), desk.inventory.quote, desk.quote);
}

/** Put the rows of `items` into `tbody` (existing rows updated in place, so their counters survive). */
function syncRows(tbody, store, items, makeRow, fillRow, emptyText, columns) {
  const seen = new Set();
  for (const item of items) {
    seen.add(item.id);
    const known = store.get(item.id);
    if (known) {
      fillRow(known.row, item);
      known.data = item;
    } else {
      store.set(item.id, { data: item, row: makeRow(item) });
    }
  }
  for (const id of [...store.keys()]) if (!seen.has(id)) store.delete(id);
  const rows = items.map((item) => store.get(item.id).row);
  if (rows.length === 0) {
    rows.push(el("tr", {}, el("td", { colspan: String(columns), class: "text-body-secondary text-center py-3" }, emptyText)));
  }
  tbody.replaceChildren(...rows);
}

function byPairThenVenue(a, b, pairOf, nameOf) {
  return pairOf(a).localeCompare(pairOf(b)) || nameOf(a).localeCompare(nameOf(b));
}

function renderVenues(pools, desks) {
  pools.sort((a, b) => byPairThenVenue(a, b, (p) => `${p.tokenA}/${p.tokenB}`, (p) => p.venue));
  desks.sort((a, b) => byPairThenVenue(a, b, (d) => `${d.base}/${d.quote}`, (d) => d.name));
  syncRows(poolsBody, state.pools, pools, poolRow, fillPoolRow, "No AMM pools.", 8);
  syncRows(desksBody, state.desks, desks, deskRow, fillDeskRow, "No OTC desks.", 7);
  labelCells(poolsBody.closest("table")); // the phone layout shows each cell as "label: value"
  labelCells(desksBody.closest("table"));
  document.getElementById("pools-count").textContent = `${pools.length} pool${pools.length === 1 ? "" : "s"}`;
  document.getElementById("desks-count").textContent = `${desks.length} desk${desks.length === 1 ? "" : "s"}`;
  const empty = pools.length === 0 && desks.length === 0;
  show(emptyState, empty);
  show(content, !empty);
  show(curvesPanel, !empty);
  show(arbPanel, !empty);
  page.dataset.state = empty ? "empty" : "ready";
  statusLine.textContent = empty ? "No venues" : `${pools.length} pools and ${desks.length} desks, live`;
  renderPairs([...pools.map((p) => [p.tokenA, p.tokenB]), ...desks.map((d) => [d.base, d.quote])]);
  markSelectedPair();
}

async function loadVenues() {
  if (state.loading) {
    state.reloadAgain = true;
    return state.loading;
  }
  state.loading = (async () => {
    page.setAttribute("aria-busy", "true");
    try {
      const [pools, desks] = await Promise.all([fetchJSON("/api/liquidity-pools"), fetchJSON("/api/otc-pools")]);
      show(errorBox, false);
      renderVenues(pools.pools, desks.desks);
      state.loaded = true;
    } catch (err) {
      errorBox.textContent = `Could not load the pools and desks: ${describeError(err)}`;
      show(errorBox, true);
      if (!state.loaded) {
        page.dataset.state = "error";
        statusLine.textContent = "Not loaded";
        show(curvesPanel, false);
      }
    } finally {
      page.setAttribute("aria-busy", "false");
      state.loading = null;
      if (state.reloadAgain) {
        state.reloadAgain = false;
        loadVenues();
      }
    }
  })();
  return state.loading;
}

const scheduleReload = debounce(loadVenues, RELOAD_DEBOUNCE_MS);

// --- live updates -------------------------------------------------------------------------------

function onPoolUpdate(update) {
  if (!update || typeof update.id !== "string") return;
  scheduleArbitrage(); // a trade moved a venue: prices between venues changed
  if (!state.loaded) { // the load in flight (or the next one) will have it
    if (state.loading) state.reloadAgain = true;
    return;
  }
  const store = update.kind === "otc" ? state.desks : state.pools;
  const known = store.get(update.id);
  if (!known) {
    scheduleReload(); // a venue this page has not seen yet
    return;
  }
  if (update.kind === "otc") {
    const desk = { ...known.data, inventory: { base: update.inventoryBase, quote: update.inventoryQuote } };
    known.data = desk;
    fillDeskRow(known.row, desk);
  } else {
    const pool = { ...known.data, reserveA: update.reserveA, reserveB: update.reserveB, price: update.price,
      updatedAt: new Date().toISOString() };
    known.data = pool;
    fillPoolRow(known.row, pool);
  }
  bumpUpdates(known.row);
  flash(known.row);
  statusLine.textContent = `Last live update ${formatTime(new Date().toISOString())}`;
  const [tokenIn, tokenOut] = selectedPair();
  const tokens = new Set([update.tokenA, update.tokenB]);
  if (tokenIn && tokens.has(tokenIn) && tokens.has(tokenOut)) scheduleCurves();
}

// --- the pair and its curves --------------------------------------------------------------------

function renderPairs(venuePairs) {
  const seen = new Set();
  const pairs = [];
  for (const [a, b] of [...venuePairs].sort((x, y) => `${x[0]}/${x[1]}`.localeCompare(`${y[0]}/${y[1]}`))) {
    for (const pair of [`${a}/${b}`, `${b}/${a}`]) {
      if (!seen.has(pair)) {
        seen.add(pair);
        pairs.push(pair);
      }
    }
  }
  const previous = pairSelect.value;
  const unchanged = pairs.length === state.pairs.length && pairs.every((p, i) => p === state.pairs[i]);
  state.pairs = pairs;
  if (!unchanged) {
    pairSelect.replaceChildren(...pairs.map((pair) => {
      const [sell, buy] = pair.split("/");
      return el("option", { value: pair, title: `Sell ${sell} for ${buy}` }, pair);
    }));
  }
  pairSelect.disabled = pairs.length === 0;
  if (pairs.length === 0) {
    pairSelect.replaceChildren(el("option", { value: "" }, "No pairs"));
    return;
  }
  const fromUrl = new URLSearchParams(window.location.search).get("pair") || "";
  const wanted = [previous, fromUrl.toUpperCase(), PREFERRED_PAIR].find((p) => p && pairs.includes(p)) || pairs[0];
  if (pairSelect.value !== wanted || !state.charts.output) {
    pairSelect.value = wanted;
    loadCurves();
  }
}

function selectedPair() {
  const value = pairSelect.value || "";
  const [tokenIn, tokenOut] = value.split("/");
  return tokenIn && tokenOut ? [tokenIn, tokenOut] : [null, null];
}

/** Highlight the table rows of the pair whose curves are shown (either direction). */
function markSelectedPair() {
  const [tokenIn, tokenOut] = selectedPair();
  for (const { row } of [...state.pools.values(), ...state.desks.values()]) {
    const [a, b] = row.dataset.pair.split("/");
    const selected = tokenIn !== null && ((a === tokenIn && b === tokenOut) || (a === tokenOut && b === tokenIn));
    row.classList.toggle("pool-row-selected", selected);
  }
}

function onPairChange() {
  const url = new URL(window.location.href);
  url.searchParams.set("pair", pairSelect.value);
  window.history.replaceState(null, "", url);
  markSelectedPair();
  loadCurves();
}

async function loadCurves() {
  const [tokenIn, tokenOut] = selectedPair();
  if (!tokenIn) return;
  state.curvesController?.abort();
  const controller = new AbortController();
  state.curvesController = controller;
  const seq = ++state.curvesSeq;
  curvesPanel.dataset.state = "loading";
  curvesPanel.setAttribute("aria-busy", "true");
  const query = new URLSearchParams({ tokenIn, tokenOut, points: String(CURVE_POINTS) });
  try {
    const curves = await fetchJSON(`/api/liquidity-curves?${query}`, { signal: controller.signal });
    if (seq !== state.curvesSeq) return;
    show(curvesError, false);
    drawCurves(curves);
    curvesPanel.dataset.state = "ready";
  } catch (err) {
    if (err?.name === "AbortError" || seq !== state.curvesSeq) return;
    curvesError.textContent = `No curves for ${tokenIn}/${tokenOut}: ${describeError(err)}`;
    show(curvesError, true);
    curvesPanel.dataset.state = "error";
    drawCurves({ tokenIn, tokenOut, sizes: [], venues: [] });
  } finally {
    if (seq === state.curvesSeq) curvesPanel.setAttribute("aria-busy", "false");
  }
}

const scheduleCurves = debounce(loadCurves, CURVES_DEBOUNCE_MS);

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** A Chart.js log-scale tick label: only 1, 2 and 5 times a power of ten, compact. */
function logTick(value) {
  const v = Number(value);
  if (!(v > 0)) return "";
  const mantissa = Math.round(v / 10 ** Math.floor(Math.log10(v) + 1e-9));
  return [1, 2, 5].includes(mantissa) ? compact.format(v) : "";
}

function positive(text) {
  if (text === null || text === undefined) return null;
  const n = Number(text);
  return Number.isFinite(n) && n > 0 ? n : null;
}

function datasetsFor(curves, valueOf) {
  return curves.venues.filter((v) => v.available).map((v, i) => {
    const color = cssVar(`--sr-route-${i % PALETTE_SIZE}`, "#3d8bfd");
    return {
      label: `${v.venue}${v.isEstimate ? " (estimate)" : ""}`,
      venueId: v.venueId,
      kind: v.kind,
      data: v.points.map((p) => ({ x: positive(p.amountIn), y: p.available ? valueOf(p) : null, point: p })),
      borderColor: color,
      backgroundColor: color,
      borderWidth: 2,
      borderDash: v.isEstimate || v.kind === "aggregator" ? [6, 4] : [],
      pointStyle: POINT_STYLES[v.kind] || "circle",
      pointRadius: v.kind === "otc" ? 3 : 2,
      pointHoverRadius: 5,
      spanGaps: false,
      tension: 0,
    };
  });
}

function countPoints(datasets) {
  return datasets.reduce((n, d) => n + d.data.filter((p) => p.x !== null && p.y !== null).length, 0);
}

function chartOptions(curves, { yTitle, yType, label }) {
  return {
    responsive: true,
    maintainAspectRatio: false,
    parsing: false,
    normalized: true,
    animation: reduceMotion ? false : { duration: 250 },
    interaction: { mode: "nearest", axis: "x", intersect: false },
    scales: {
      x: {
        type: "logarithmic",
        title: { display: true, text: `Order size (${curves.tokenIn}, log scale)` },
        ticks: { callback: logTick, maxRotation: 0, autoSkip: true },
      },
      y: {
        type: yType,
        title: { display: true, text: yTitle },
        ticks: { callback: yType === "logarithmic" ? logTick : (value) => compact.format(value) },
      },
    },
    plugins: {
      legend: { position: "bottom", labels: { usePointStyle: true, boxWidth: 8 } },
      tooltip: {
        callbacks: {
          title: (items) => (items.length ? `Sell ${formatAmount(items[0].raw.point.amountIn)} ${curves.tokenIn}` : ""),
          label: (item) => label(item.dataset.label, item.raw.point),
        },
      },
    },
  };
}

function drawChart(key, canvas, curves, datasets, labels) {
  const options = chartOptions(curves, labels);
  let chart = state.charts[key];
  if (!chart) {
    chart = new window.Chart(canvas, { type: "line", data: { datasets }, options });
    state.charts[key] = chart;
  } else {
    chart.data.datasets = datasets;
    chart.options = options;
    chart.update();
  }
  canvas.dataset.points = String(countPoints(datasets));
  canvas.dataset.updates = String(Number(canvas.dataset.updates || "0") + 1);
  canvas.dataset.pair = `${curves.tokenIn}/${curves.tokenOut}`;
}

function drawCurves(curves) {
  if (typeof window.Chart !== "function") {
    curvesError.textContent = "The chart library did not load; the curves are in the table below.";
    show(curvesError, true);
  } else {
    const { tokenIn, tokenOut } = curves;
    // Log output: sizes span five decades, so on a linear axis all but the largest sizes lay flat at 0.
    drawChart("output", outputCanvas, curves, datasetsFor(curves, (p) => positive(p.amountOut)), {
      yTitle: `Output (${tokenOut}, log scale)`,
      yType: "logarithmic",
      label: (venue, p) => `${venue}: ${formatAmount(p.amountOut)} ${tokenOut} (price ${formatAmount(p.price)})`,
    });
    drawChart("impact", impactCanvas, curves, datasetsFor(curves, (p) => positive(p.priceImpactBps)), {
      yTitle: "Price impact (bps, log scale)",
      yType: "logarithmic",
      label: (venue, p) => `${venue}: ${formatBps(p.priceImpactBps)} (${bpsToPercent(p.priceImpactBps)}), fee ${formatBps(p.feeBps)}`,
    });
    outputCanvas.setAttribute("aria-label", `Output in ${tokenOut} against the amount of ${tokenIn} sold, per venue`);
    impactCanvas.setAttribute("aria-label", `Price impact in bps against the amount of ${tokenIn} sold, per venue`);
  }
  renderCurvesNotes(curves);
  renderCurvesTable(curves);
}

function renderCurvesNotes(curves) {
  const list = document.getElementById("curves-unavailable");
  const items = [];
  for (const v of curves.venues) {
    if (!v.available) {
      items.push(el("li", { dataset: { venueId: v.venueId } },
        el("i", { class: "bi bi-slash-circle text-warning", "aria-hidden": "true" }), " ",
        `${v.venue} (${KIND_LABELS[v.kind] || v.kind}): not drawn, ${v.reason || "unavailable"}`));
    } else if (v.minAmountIn && v.maxAmountIn) {
      items.push(el("li", { dataset: { venueId: v.venueId } },
        el("i", { class: "bi bi-rulers", "aria-hidden": "true" }), " ",
        `${v.venue} quotes only from ${formatAmount(v.minAmountIn)} to ${formatAmount(v.maxAmountIn)} ${curves.tokenIn}.`));
    }
  }
  list.replaceChildren(...items);
  const drawn = curves.venues.filter((v) => v.available).length;
  curvesStatus.textContent = curves.venues.length === 0
    ? ""
    : `${drawn} of ${curves.venues.length} venues drawn for ${curves.tokenIn} → ${curves.tokenOut}`
      + (curves.referencePrice ? `; reference price ${formatAmount(curves.referencePrice)} ${curves.tokenOut}/${curves.tokenIn}` : "")
      + (curves.asOf ? `; as of ${formatTime(curves.asOf)}` : "")
      + ".";
}

function renderCurvesTable(curves) {
  const table = document.getElementById("curves-table");
  const venues = curves.venues.filter((v) => v.available);
  table.querySelector("thead tr").replaceChildren(
    el("th", { scope: "col", class: "text-end" }, `Size (${curves.tokenIn})`),
    ...venues.map((v) => el("th", { scope: "col", class: "text-end" }, v.venue)));
  table.querySelector("tbody").replaceChildren(...curves.sizes.map((size, i) => el("tr", {},
    el("th", { scope: "row", class: "text-end fw-normal" }, formatAmount(size)),
    ...venues.map((v) => {
      const p = v.points[i];
      return el("td", { class: "text-end text-nowrap" }, p && p.available && p.amountOut !== null
        ? `${formatAmount(p.amountOut)} (${formatBps(p.priceImpactBps, 1)})` : "–");
    }))));
}

function applyChartTheme() {
  const Chart = window.Chart;
  if (typeof Chart !== "function") return;
  Chart.defaults.color = cssVar("--bs-secondary-color", "#adb5bd");
  Chart.defaults.borderColor = cssVar("--bs-border-color-translucent", "rgba(255,255,255,0.15)");
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
}

// --- arbitrage opportunities --------------------------------------------------------------------

const ARB_KINDS = { cross_venue: "Cross-venue", cycle: "Cycle" };

function arbRow(o) {
  const venues = o.legs.map((leg) => leg.venueId).join(" → ");
  const path = o.path.join(" → ");
  return el("tr", { dataset: { path: o.path.join(">"), kind: o.kind } },
    el("th", { scope: "row", class: "fw-normal" },
      el("span", { class: "text-nowrap" }, path),
      el("span", { class: "d-block small text-body-secondary" }, ARB_KINDS[o.kind] || o.kind,
        el("span", { class: "d-lg-none" }, ` · ${venues}`))),
    amountCell("arb-size", o.amountIn, o.startToken),
    amountCell("arb-profit", o.profit, o.startToken),
    el("td", { class: "text-end text-nowrap arb-profit-usd", title: `$${o.profitUsd}` }, `$${formatListAmount(o.profitUsd)}`),
    el("td", { class: "text-end text-nowrap arb-bps", title: `${o.profitBps} bps` }, formatBps(o.profitBps, 1)),
    el("td", { class: "d-none d-lg-table-cell small font-monospace" }, venues));
}

function renderArbitrage(body) {
  const found = body.opportunities;
  arbBody.replaceChildren(...found.map(arbRow));
  labelCells(arbBody.closest("table"));
  show(arbBody.closest(".table-responsive"), found.length > 0);
  show(arbEmpty, found.length === 0);
  arbPanel.dataset.state = found.length ? "ready" : "empty";
  arbPanel.dataset.updates = String(Number(arbPanel.dataset.updates || "0") + 1);
  const when = formatTime(body.asOf);
  arbStatus.textContent = found.length
    ? `${found.length} found, best first · ${when}`
    : `None · ${when}`;
}

async function loadArbitrage() {
  if (state.arbLoading) {
    state.arbAgain = true;
    return;
  }
  state.arbLoading = true;
  try {
    const body = await fetchJSON(`/api/arbitrage/opportunities?limit=${ARB_LIMIT}`);
    show(arbError, false);
    renderArbitrage(body);
    state.arbLoaded = true;
  } catch (err) {
    arbError.textContent = `Could not look for arbitrage: ${describeError(err)}`;
    show(arbError, true);
    if (!state.arbLoaded) {
      arbPanel.dataset.state = "error";
      arbStatus.textContent = "Not loaded";
    }
  } finally {
    state.arbLoading = false;
    if (state.arbAgain) {
      state.arbAgain = false;
      loadArbitrage();
    }
  }
}

const scheduleArbitrage = debounce(loadArbitrage, ARB_DEBOUNCE_MS);

// --- start --------------------------------------------------------------------------------------

function init() {
  applyChartTheme();
  pairSelect.addEventListener("change", onPairChange);
  const socket = liveSocket();
  if (socket) socket.on("pool_update", onPoolUpdate);
  let missedUpdates = false;
  onConnectionChange((connection) => {
    if (connection !== "connected") {
      missedUpdates = true;
    } else if (missedUpdates) { // back after a gap: what changed meanwhile was not streamed to us
      missedUpdates = false;
      loadVenues();
      scheduleCurves();
      loadArbitrage();
    }
  });
  loadVenues();
  loadArbitrage();
  window.setInterval(() => { if (!document.hidden) loadArbitrage(); }, ARB_REFRESH_MS);
}

init();
