// The backtests page: datasets, runs, progress (backtest_progress / dataset_progress events, and a
// poll while anything runs), a run's metrics, charts and trades, and comparisons of runs.
import {
  ApiError, chartPalette, describeError, drawChart, el, fetchJSON, formatDateTime, formatUsd,
  liveSocket, show,
} from "./common.js";

const page = document.getElementById("backtests-page");
const form = document.getElementById("backtest-form");
const genForm = document.getElementById("generate-form");
const runsBody = document.querySelector("#runs-table tbody");
const compareButton = document.getElementById("compare-selected");
const detail = document.getElementById("run-detail");
const status = document.getElementById("backtests-status");
const errorBox = document.getElementById("backtests-error");
const STRATEGIES = (page.dataset.strategies || "").split(",").filter(Boolean);
const TRADES_PAGE = 25;
const METRICS = [
  ["total_return", "Total return", "pct"],
  ["sharpe_ratio", "Sharpe (annualised)", "num"],
  ["sortino_ratio", "Sortino", "num"],
  ["max_drawdown", "Max drawdown", "pct"],
  ["win_rate", "Win rate", "pct"],
  ["profit_factor", "Profit factor", "num"],
  ["total_cost_bps", "Total cost (bps)", "num"],
  ["average_cost_bps", "Average cost (bps)", "num"],
  ["turnover", "Turnover", "num"],
  ["trade_count", "Trades", "int"],
];
const FINAL = new Set(["completed", "failed", "cancelled"]);
const STATUS_CLASS = {
  pending: "text-bg-secondary", running: "text-bg-primary", completed: "text-bg-success",
  failed: "text-bg-danger", cancelled: "text-bg-dark",
};

const runs = new Map(); // backtestId -> summary
const selected = new Set();
let nextCursor = null;
let current = null; // the detail's backtestId
let tradesOffset = 0;
let pollTimer = null;

/** Label each cell with its column's header, for the phone layout (.table-cards: one card per row). */
function labelCells(table) {
  const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
  for (const row of table.querySelectorAll("tbody tr")) {
    [...row.children].forEach((cell, i) => {
      if (cell.tagName === "TD" && !cell.hasAttribute("colspan") && heads[i]) cell.dataset.label = heads[i];
    });
  }
}

const SHORT_TIME = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "UTC",
});

function usdTick(value) {
  const n = Number(value);
  return Math.abs(n) >= 1000 ? formatUsd(n, 0) : formatUsd(n);
}

function formatMetric(value, kind) {
  if (value === null || value === undefined) return "–";
  const n = Number(value);
  if (!Number.isFinite(n)) return "–";
  if (kind === "pct") return `${(n * 100).toFixed(2)}%`;
  if (kind === "int") return String(Math.round(n));
  return Math.abs(n) >= 1000 ? n.toFixed(0) : n.toPrecision(4);
}

function badge(value) {
  return el("span", { class: `badge ${STATUS_CLASS[value] || "text-bg-secondary"}`, dataset: { status: value } }, value);
}

function fail(err) {
  errorBox.textContent = describeError(err);
  show(errorBox, true);
}

function feedbackOf(control) {
  const next = control.parentElement.querySelector(".invalid-feedback");
  return next || null;
}

function markInvalid(control, message) {
  control.classList.add("is-invalid");
  control.setAttribute("aria-invalid", "true");
  const feedback = feedbackOf(control);
  if (feedback) feedback.textContent = message;
  control.focus();
}

function clearInvalid(root) {
  for (const control of root.querySelectorAll(".is-invalid")) {
    control.classList.remove("is-invalid");
    control.removeAttribute("aria-invalid");
  }
  show(errorBox, false);
}

// --- datasets and generation -------------------------------------------------------------------

async function loadDatasets(preferred) {
  const select = document.getElementById("bt-dataset");
  const { datasets } = await fetchJSON("/api/backtest/datasets");
  const keep = preferred || select.value;
  select.replaceChildren(
    ...(datasets.length ? [] : [el("option", { value: "" }, "No data yet: generate a dataset")]),
    ...datasets.filter((d) => d.status === "ready" && d.frames > 0).map((d) => el("option", { value: d.name, title: `${d.start} – ${d.end}` },
      `${d.name} (${d.frames.toLocaleString()} frames)`)),
  );
  if (datasets.some((d) => d.name === keep)) select.value = keep;
  select.dataset.count = String(datasets.length);
}

function setGenProgress(frames, total, rows, rowsPerS, state) {
  const box = document.getElementById("gen-progress");
  const bar = document.getElementById("gen-progress-bar");
  const pct = total ? Math.round((100 * frames) / total) : 0;
  show(box, true);
  bar.style.width = `${pct}%`;
  bar.parentElement.setAttribute("aria-valuenow", String(pct));
  box.dataset.state = state;
  const rate = rowsPerS ? `, ${Math.round(rowsPerS).toLocaleString()} rows/s` : "";
  document.getElementById("gen-progress-text").textContent =
    state === "failed" ? "Generation failed." : `${frames.toLocaleString()} / ${total.toLocaleString()} frames, ${rows.toLocaleString()} rows${rate}${state === "completed" ? " — done" : ""}`;
}

let generating = null; // {jobId, dataset, total}

genForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearInvalid(genForm);
  const body = {
    dataset: genForm.dataset.value.trim(),
    days: Number(genForm.days.value),
    stepS: Number.parseInt(genForm.stepS.value, 10),
    seed: Number.parseInt(genForm.seed.value, 10),
  };
  try {
    const accepted = await fetchJSON("/api/backtest/generate-data", { method: "POST", body });
    generating = { jobId: accepted.jobId, dataset: accepted.dataset, total: accepted.frames };
    setGenProgress(0, accepted.frames, 0, null, "running");
    status.textContent = `Generating ${accepted.dataset}`;
    pollGeneration();
  } catch (err) {
    const control = err instanceof ApiError && err.field ? genForm.elements[err.field] : null;
    if (control) markInvalid(control, err.message);
    else fail(err);
  }
});

async function pollGeneration() {
  // Events carry the progress; the datasets list (polled) is the fallback and the final word.
  if (!generating) return;
  try {
    const { datasets } = await fetchJSON("/api/backtest/datasets");
    const d = datasets.find((x) => x.name === generating.dataset);
    if (d && d.status === "failed") {
      setGenProgress(0, generating.total, 0, null, "failed");
      generating = null;
      return;
    }
    if (d && d.status === "ready" && d.frames === generating.total) {
      setGenProgress(generating.total, generating.total, d.rows, null, "completed");
      const name = generating.dataset;
      generating = null;
      await loadDatasets(name);
      return;
    }
  } catch (err) {
    fail(err);
  }
  setTimeout(pollGeneration, 1500);
}

// --- runs ----------------------------------------------------------------------------------------

function runRow(run) {
  const check = el("input", {
    type: "checkbox", class: "form-check-input", "aria-label": `Compare ${run.name}`,
    dataset: { compare: run.backtestId },
  });
  check.checked = selected.has(run.backtestId);
  const progress = el("div", { class: "progress run-progress", role: "progressbar", "aria-label": `Progress of ${run.name}` },
    el("div", { class: "progress-bar" }));
  progress.firstChild.style.width = `${Math.round(run.progress * 100)}%`;
  show(progress, !FINAL.has(run.status));
  const actions = el("div", { class: "d-flex gap-1 justify-content-end" },
    el("button", { type: "button", class: "btn btn-outline-info btn-sm", dataset: { action: "view" }, "aria-label": `View ${run.name}` },
      el("i", { class: "bi bi-eye", "aria-hidden": "true" })),
    FINAL.has(run.status) ? null : el("button", { type: "button", class: "btn btn-outline-warning btn-sm", dataset: { action: "cancel" }, "aria-label": `Cancel ${run.name}` },
      el("i", { class: "bi bi-stop-fill", "aria-hidden": "true" })),
    el("button", { type: "button", class: "btn btn-outline-danger btn-sm", dataset: { action: "delete" }, "aria-label": `Delete ${run.name}` },
      el("i", { class: "bi bi-trash", "aria-hidden": "true" })),
  );
  return el("tr", { dataset: { backtestId: run.backtestId, status: run.status } },
    el("td", {}, check),
    el("td", {}, el("div", { class: "fw-semibold text-truncate run-name" }, run.name),
      el("div", { class: "small text-body-secondary" }, `${run.dataset} · ${run.strategy}`)),
    el("td", {}, badge(run.status), progress),
    el("td", { class: "text-end" }, formatMetric(run.metrics.totalReturn, "pct")),
    el("td", { class: "text-end" }, formatMetric(run.metrics.totalCostBps, "num")),
    el("td", { class: "text-end" }, String(run.tradeCount)),
    el("td", {}, actions),
  );
}

function renderRuns() {
  const list = [...runs.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.backtestId < b.backtestId ? 1 : -1));
  runsBody.replaceChildren(...list.map(runRow));
  labelCells(runsBody.closest("table"));
  show(document.getElementById("runs-empty"), list.length === 0);
  show(document.getElementById("runs-more"), Boolean(nextCursor));
  compareButton.disabled = selected.size < 1;
  page.dataset.runs = String(list.length);
  schedulePoll(list.some((r) => !FINAL.has(r.status)));
}

async function loadRuns({ more = false } = {}) {
  const url = more && nextCursor ? `/api/backtest?limit=20&cursor=${encodeURIComponent(nextCursor)}` : "/api/backtest?limit=20";
  const pageData = await fetchJSON(url);
  if (!more) {
    for (const [id, run] of runs) if (FINAL.has(run.status) && !pageData.backtests.some((b) => b.backtestId === id)) runs.delete(id);
  }
  for (const run of pageData.backtests) runs.set(run.backtestId, run);
  if (!more || pageData.nextCursor === null) nextCursor = pageData.nextCursor;
  renderRuns();
}

function schedulePoll(active) {
  if (active && !pollTimer) {
    pollTimer = setTimeout(async () => {
      pollTimer = null;
      try {
        await loadRuns();
        if (current && runs.has(current)) await showDetail(current, { keepPage: true });
      } catch (err) {
        fail(err);
      }
    }, 2000);
  }
}

function planBody(strategy) {
  const kind = form.planKind.value;
  const params = {};
  for (const input of form.querySelectorAll(`.plan-params[data-kind="${kind}"] [data-param]`)) {
    const raw = input.value.trim();
    params[input.dataset.param] = input.dataset.type === "int" && /^\d+$/.test(raw) ? Number.parseInt(raw, 10) : raw;
  }
  const body = {
    dataset: form.dataset.value,
    planKind: kind,
    params,
    initial: { [document.getElementById("bt-initial-token").value.trim()]: document.getElementById("bt-initial-amount").value.trim() },
    strategy,
  };
  const name = form.name.value.trim();
  if (name) body.name = strategy === form.strategy.value ? name : `${name} ${strategy}`;
  if (form.from.value) body.from = `${form.from.value}:00Z`;
  if (form.to.value) body.to = `${form.to.value}:00Z`;
  return body;
}

function controlFor(field) {
  if (!field) return null;
  if (field.startsWith("params.")) {
    return form.querySelector(`.plan-params[data-kind="${form.planKind.value}"] [data-param="${field.slice(7)}"]`);
  }
  if (field.startsWith("initial")) return document.getElementById("bt-initial-amount");
  return form.elements[field] || null;
}

form.planKind.addEventListener("change", () => {
  for (const set of form.querySelectorAll(".plan-params")) {
    const on = set.dataset.kind === form.planKind.value;
    show(set, on);
    set.disabled = !on;
  }
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearInvalid(form);
  const submit = document.getElementById("bt-submit");
  submit.disabled = true;
  const strategies = document.getElementById("bt-every-strategy").checked ? STRATEGIES : [form.strategy.value];
  const started = [];
  try {
    for (const strategy of strategies) {
      const accepted = await fetchJSON("/api/backtest/run", { method: "POST", body: planBody(strategy) });
      started.push(accepted.backtestId);
    }
    status.textContent = `Started ${started.length} backtest${started.length > 1 ? "s" : ""}`;
    await loadRuns();
    if (started.length > 1) {
      selected.clear();
      started.forEach((id) => selected.add(id));
      renderRuns();
    }
    await showDetail(started[started.length - 1]);
  } catch (err) {
    const control = err instanceof ApiError ? controlFor(err.field) : null;
    if (control) markInvalid(control, err.message);
    else fail(err);
  } finally {
    submit.disabled = false;
  }
});

runsBody.addEventListener("change", (event) => {
  const id = event.target.dataset.compare;
  if (!id) return;
  if (event.target.checked) selected.add(id); else selected.delete(id);
  compareButton.disabled = selected.size < 1;
});

runsBody.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const id = button.closest("tr").dataset.backtestId;
  try {
    if (button.dataset.action === "view") await showDetail(id);
    else if (button.dataset.action === "cancel") {
      await fetchJSON(`/api/backtest/${id}/cancel`, { method: "POST" });
      await loadRuns();
    } else if (button.dataset.action === "delete") {
      await fetchJSON(`/api/backtest/${id}`, { method: "DELETE" });
      runs.delete(id);
      selected.delete(id);
      if (current === id) { current = null; show(detail, false); }
      renderRuns();
    }
  } catch (err) {
    fail(err);
  }
});

document.getElementById("runs-more").addEventListener("click", () => loadRuns({ more: true }).catch(fail));

// --- one run -------------------------------------------------------------------------------------

/** A time x axis (epoch ms) spanning exactly the data, with few enough ticks to fit the width. */
function timeAxis(points) {
  const xs = points.map((p) => p.x);
  return {
    type: "linear",
    min: xs.length ? Math.min(...xs) : undefined,
    max: xs.length ? Math.max(...xs) : undefined,
    ticks: {
      maxTicksLimit: window.innerWidth < 576 ? 3 : 5,
      maxRotation: 0,
      callback: (v) => SHORT_TIME.format(new Date(v)),
    },
  };
}

function lineConfig(series, label, color, { percent = false } = {}) {
  const data = series.map(([t, v]) => ({ x: t * 1000, y: percent ? v * 100 : v }));
  return {
    type: "line",
    data: { datasets: [{ label, data, borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 1.5, fill: false }] },
    options: {
      parsing: false,
      animation: false,
      scales: {
        x: timeAxis(data),
        y: { ticks: { maxTicksLimit: 6, callback: (v) => (percent ? `${Number(v).toPrecision(2)}%` : usdTick(v)) } },
      },
      plugins: { legend: { display: false } },
    },
  };
}

async function showDetail(id, { keepPage = false } = {}) {
  const run = await fetchJSON(`/api/backtest/${id}`);
  if (current !== id || !keepPage) tradesOffset = 0;
  current = id;
  show(detail, true);
  detail.dataset.backtestId = id;
  detail.dataset.status = run.status;
  document.getElementById("detail-name").textContent = `${run.name} · ${run.dataset} · ${run.strategy}`;
  const badgeNode = document.getElementById("detail-status");
  badgeNode.className = `badge ${STATUS_CLASS[run.status] || "text-bg-secondary"}`;
  badgeNode.textContent = run.status;
  const bar = document.getElementById("detail-progress");
  bar.style.width = `${Math.round(run.progress * 100)}%`;
  bar.parentElement.setAttribute("aria-valuenow", String(Math.round(run.progress * 100)));
  document.getElementById("detail-csv").href = `/backtests/${id}/trades.csv`;
  const errorNode = document.getElementById("detail-error");
  errorNode.textContent = run.errorMessage || "";
  show(errorNode, Boolean(run.errorMessage));
  document.getElementById("detail-metrics").replaceChildren(...METRICS.map(([key, label, kind]) =>
    el("div", { class: "col" }, el("dt", { class: "text-body-secondary fw-normal" }, label),
      el("dd", { class: "mb-0 fw-semibold", dataset: { metric: key } }, formatMetric(run.allMetrics[key], kind)))));
  const [color, second] = chartPalette();
  drawChart(document.getElementById("chart-equity"), lineConfig(run.equity, "Equity", color),
    run.equity.length ? `Equity from ${formatUsd(run.equity[0][1])} to ${formatUsd(run.equity[run.equity.length - 1][1])}` : "");
  drawChart(document.getElementById("chart-drawdown"), lineConfig(run.drawdown, "Drawdown", second || color, { percent: true }),
    run.drawdown.length ? `Deepest drawdown ${formatMetric(Math.min(...run.drawdown.map((p) => p[1])), "pct")}` : "");
  await loadTrades();
}

async function loadTrades() {
  if (!current) return;
  const body = await fetchJSON(`/api/backtest/${current}/trades?limit=${TRADES_PAGE}&offset=${tradesOffset}`);
  const tbody = document.querySelector("#trades-table tbody");
  tbody.replaceChildren(...(body.trades.length ? body.trades.map((t) => el("tr", {},
    el("td", {}, String(t.seq)),
    el("td", { class: "text-nowrap" }, formatDateTime(t.t)),
    el("td", {}, `${t.amountIn} ${t.tokenIn} → ${t.amountOut} ${t.tokenOut}`),
    el("td", { class: "text-end" }, Number(t.executionPrice).toPrecision(6)),
    el("td", { class: "text-end" }, t.costBps),
    el("td", { class: "small" }, [...new Set(t.legs.map((l) => l.venue))].join(", ")),
    el("td", { class: "text-end" }, formatUsd(t.valueUsd)),
  )) : [el("tr", { class: "table-empty" }, el("td", { colspan: "7" }, "No trades."))]));
  labelCells(tbody.closest("table"));
  const last = Math.min(body.total, tradesOffset + body.trades.length);
  document.getElementById("trades-page").textContent = body.total ? `${tradesOffset + 1}–${last} of ${body.total}` : "";
  document.getElementById("trades-prev").disabled = tradesOffset === 0;
  document.getElementById("trades-next").disabled = last >= body.total;
}

document.getElementById("trades-prev").addEventListener("click", () => {
  tradesOffset = Math.max(0, tradesOffset - TRADES_PAGE);
  loadTrades().catch(fail);
});
document.getElementById("trades-next").addEventListener("click", () => {
  tradesOffset += TRADES_PAGE;
  loadTrades().catch(fail);
});

// --- comparison ----------------------------------------------------------------------------------

compareButton.addEventListener("click", async () => {
  try {
    const body = await fetchJSON("/api/backtest/compare", { method: "POST", body: { ids: [...selected] } });
    const section = document.getElementById("compare");
    show(section, true);
    const head = document.querySelector("#compare-table thead tr");
    head.replaceChildren(el("th", { scope: "col" }, "Metric"),
      ...body.runs.map((r) => el("th", { scope: "col", class: "text-end" }, `${r.name}`)));
    const rows = METRICS.filter(([key]) => body.metricNames.includes(key)).map(([key, label, kind]) => {
      const values = body.runs.map((r) => r.metrics[key]);
      return el("tr", { dataset: { metric: key } }, el("th", { scope: "row", class: "fw-normal" }, label),
        ...values.map((v) => el("td", { class: "text-end" }, formatMetric(v, kind))));
    });
    document.querySelector("#compare-table tbody").replaceChildren(...rows);
    const palette = chartPalette();
    const datasets = body.runs.map((r, i) => ({
      label: r.name, data: r.equity.map(([t, v]) => ({ x: t * 1000, y: v })),
      borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length], pointRadius: 0, borderWidth: 1.5,
    }));
    drawChart(document.getElementById("chart-compare"), {
      type: "line",
      data: { datasets },
      options: { parsing: false, animation: false, scales: { x: timeAxis(datasets.flatMap((d) => d.data)), y: { ticks: { maxTicksLimit: 6, callback: usdTick } } } },
    }, `Equity of ${body.runs.length} runs`);
    section.dataset.runs = String(body.runs.length);
    section.scrollIntoView({ behavior: "smooth", block: "start" });
  } catch (err) {
    fail(err);
  }
});

// --- live events ---------------------------------------------------------------------------------

const socket = liveSocket();
if (socket) {
  socket.on("backtest_progress", (event) => {
    const run = runs.get(event.backtestId);
    if (run) {
      run.status = event.status;
      run.progress = event.progress;
      run.tradeCount = event.trades;
      renderRuns();
    }
    if (FINAL.has(event.status)) {
      loadRuns().then(() => (current === event.backtestId ? showDetail(current, { keepPage: true }) : null)).catch(fail);
    } else if (current === event.backtestId) {
      const bar = document.getElementById("detail-progress");
      bar.style.width = `${Math.round(event.progress * 100)}%`;
    }
  });
  socket.on("dataset_progress", (event) => {
    if (!generating || event.jobId !== generating.jobId) return;
    document.getElementById("gen-progress").dataset.rows = String(event.rows);
    setGenProgress(event.frames, event.total, event.rows, event.rowsPerS, event.status);
  });
}

// --- start ---------------------------------------------------------------------------------------

Promise.all([loadDatasets(), loadRuns()])
  .catch(fail)
  .finally(() => {
    page.dataset.state = "ready";
    page.removeAttribute("aria-busy");
  });
