// The dashboard's portfolio panel: GET /api/accounts/me/portfolio on load, again (debounced) after
// each trade_executed event. Signed out (401): a link to log in instead. USD figures arrive as exact
// decimal strings; they are shown rounded to cents (the exact figure on hover).
import {
  chartPalette, debounce, describeError, drawChart, el, fetchJSON, formatTokenAmount, formatUsd,
  formatUsdPrice, liveSocket, tokenLabel,
} from "./common.js";

const panel = document.getElementById("portfolio-panel");

function usdNode(value, { signed = false } = {}) {
  if (value === null || value === undefined) return el("span", { class: "num" }, "–");
  const n = Number(value);
  const text = (signed && n > 0 ? "+" : "") + formatUsd(n, 2);
  const tone = !signed || Math.abs(n) < 0.005 ? "" : n > 0 ? " text-success" : " text-danger";
  return el("span", { class: `num${tone}`, title: `$${value}` }, text);
}

function setFigure(id, value, options) {
  const node = document.getElementById(id);
  node.replaceChildren(usdNode(value, options));
  node.dataset.value = value ?? "";
}

function holdingRow(h) {
  const held = Number(h.held) > 0 ? el("div", { class: "small text-body-secondary" }, `held ${formatTokenAmount(h.held, h.token)}`) : null;
  return el("tr", { "data-token": h.token },
    el("th", { scope: "row" }, tokenLabel(h.token)),
    el("td", { class: "text-end d-none d-sm-table-cell" },
      el("span", { class: "num", title: `${h.amount} ${h.token}` }, formatTokenAmount(h.amount, h.token)), held),
    el("td", { class: "text-end d-none d-md-table-cell" },
      el("span", { class: "num", title: h.priceUsd ? `$${h.priceUsd}` : null }, formatUsdPrice(h.priceUsd)),
      el("div", { class: "small text-body-secondary" }, h.priceSource || "")),
    el("td", { class: "text-end" }, usdNode(h.valueUsd)),
    el("td", { class: "text-end d-none d-lg-table-cell" },
      el("span", { class: "num", title: h.averageCostUsd ? `$${h.averageCostUsd}` : null }, formatUsdPrice(h.averageCostUsd))),
    el("td", { class: "text-end" }, usdNode(h.unrealisedPnlUsd, { signed: true })),
    el("td", { class: "text-end d-none d-sm-table-cell" }, usdNode(h.realisedPnlUsd, { signed: true })),
  );
}

/** "14:00" (UTC, as the API's buckets); midnight reads as the day ("8 Dec"). */
function hourLabel(iso) {
  const at = new Date(iso);
  if (at.getUTCHours() === 0) return at.toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
  return `${String(at.getUTCHours()).padStart(2, "0")}:00`;
}

function drawHistory(points) {
  const canvas = document.getElementById("chart-portfolio-value");
  const values = points.map((p) => p.valueUsd);
  const [colour] = chartPalette();
  const last = values.length ? formatUsd(values[values.length - 1], 2) : "–";
  drawChart(canvas, {
    type: "line",
    data: {
      labels: points.map((p) => hourLabel(p.at)),
      datasets: [{ label: "Value (USD)", data: values.some((v) => v > 0) ? values : [], borderColor: colour,
        backgroundColor: colour, pointRadius: 0, tension: 0.2 }],
    },
    options: {
      plugins: { legend: { display: false } },
      scales: { x: { ticks: { maxTicksLimit: 6 } }, y: { ticks: { callback: (v) => formatUsd(v, 0) } } },
    },
  }, `Account value per hour over the last 48 hours; now ${last}.`);
}

function render(body) {
  const t = body.totals;
  setFigure("portfolio-value", t.valueUsd);
  setFigure("portfolio-cost", t.costBasisUsd);
  setFigure("portfolio-unrealised", t.unrealisedPnlUsd, { signed: true });
  setFigure("portfolio-realised", t.realisedPnlUsd, { signed: true });
  setFigure("portfolio-today", t.todayNotionalUsd);
  const rows = body.holdings.filter((h) => Number(h.amount) > 0 || Number(h.realisedPnlUsd) !== 0);
  document.querySelector("#portfolio-holdings tbody").replaceChildren(...rows.map(holdingRow));
  drawHistory(body.history);
}

async function refresh() {
  try {
    render(await fetchJSON("/api/accounts/me/portfolio?bucket=hour"));
    panel.dataset.state = "ready";
  } catch (err) {
    if (err.status === 401) {
      document.getElementById("portfolio-body").hidden = true;
      document.getElementById("portfolio-signed-out").hidden = false;
      panel.dataset.state = "signed-out";
      return;
    }
    document.getElementById("portfolio-note").textContent = `Could not load the portfolio: ${describeError(err)}`;
    panel.dataset.state = "error";
  }
}

if (panel) {
  refresh();
  liveSocket()?.on("trade_executed", debounce(refresh, 1000));
}
