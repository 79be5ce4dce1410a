// Stored price history as candles (GET /api/prices/history: OHLC aggregated in SQL): a candlestick
// chart (floating bars: the high–low wick behind the open–close body) for the trade page, and the
// candles as a price line for the dashboard's cards. Chart.js must be loaded before this module.
import { drawChart, fetchJSON, formatUsdPrice } from "./common.js";

const CANDLE_TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: "UTC" });

/** The token's candles over the last `hours` at `interval` ("15m"), or [] when none is stored. */
export async function fetchCandles(token, { hours = 24, interval = "15m", dataset = "live" } = {}) {
  const since = new Date(Date.now() - hours * 3600_000).toISOString();
  const url = `/api/prices/history?token=${encodeURIComponent(token)}&interval=${interval}&dataset=${dataset}`
    + `&from=${encodeURIComponent(since)}`;
  const body = await fetchJSON(url);
  return body.candles;
}

/** Draw `candles` on `canvas` as a candlestick chart; returns the chart. */
export function drawCandles(canvas, candles, token) {
  const up = getComputedStyle(document.documentElement).getPropertyValue("--bs-success").trim() || "#198754";
  const down = getComputedStyle(document.documentElement).getPropertyValue("--bs-danger").trim() || "#dc3545";
  const colors = candles.map((c) => (c.close >= c.open ? up : down));
  const labels = candles.map((c) => CANDLE_TIME.format(new Date(c.t)));
  const last = candles.length ? candles[candles.length - 1] : null;
  return drawChart(canvas, {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: "High–low", data: candles.map((c) => [c.low, c.high]), backgroundColor: colors, barPercentage: 0.15, maxBarThickness: 2, grouped: false },
        { label: "Open–close", data: candles.map((c) => [Math.min(c.open, c.close), Math.max(c.open, c.close) || c.open]), backgroundColor: colors, barPercentage: 0.7, maxBarThickness: 14, grouped: false, minBarLength: 2 },
      ],
    },
    options: {
      animation: false,
      scales: {
        x: { ticks: { maxTicksLimit: 6, maxRotation: 0 } },
        y: { beginAtZero: false, ticks: { maxTicksLimit: 5, callback: (v) => formatUsdPrice(v) } },
      },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            label: (ctx) => {
              const c = candles[ctx.dataIndex];
              return ctx.datasetIndex === 1
                ? ` O ${formatUsdPrice(c.open)} H ${formatUsdPrice(c.high)} L ${formatUsdPrice(c.low)} C ${formatUsdPrice(c.close)}`
                : null;
            },
          },
        },
      },
    },
  }, last ? `${token}: ${candles.length} candles; last close ${formatUsdPrice(last.close)} (UTC ${labels[labels.length - 1]})` : "");
}
