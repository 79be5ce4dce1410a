// Figures for people, shared by the dashboard, analytics and pools pages: one precision per list,
// savings as dollars with basis points beside them (sub-cent noise hidden), latency by venue kind,
// and the cell helpers the narrow-screen card layout of app.css reads (data-label).
// Exact values stay in the API's strings; these only shorten what is shown (the exact figure goes
// in the title attribute where a cell shortens it).
import { el, formatMs, formatUsd } from "./common.js";

export const KIND_LABELS = { amm: "AMM", aggregator: "Aggregator", otc: "OTC" };
export const KIND_ORDER = ["amm", "aggregator", "otc"];

const FIXED_2 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const SMALL = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 4 });

/**
 * An amount for a list: two decimals from 1 up ("1,496.08", "134,628.42"), four significant digits
 * below 1 ("0.003412"), so the figures of one column line up. The API's string stays exact.
 */
export function formatListAmount(value) {
  if (value === null || value === undefined || value === "") return "–";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  if (n === 0) return "0.00";
  return Math.abs(n) >= 1 ? FIXED_2.format(n) : SMALL.format(n);
}

/** "1,496.08 USDC" with the exact amount in the title: a span that never wraps. */
export function listAmount(value, symbol) {
  return el("span", { class: "num", title: `${value} ${symbol}` }, `${formatListAmount(value)} ${symbol}`);
}

/** USD for savings: "< $0.01" (no-break spaces inside) for sub-cent amounts (noise, not money a trader sees), else cents. */
export function formatSavingsUsd(value) {
  if (value === null || value === undefined || value === "") return "–";
  const n = Number(value);
  if (!Number.isFinite(n)) return "–";
  if (n !== 0 && Math.abs(n) < 0.005) return n > 0 ? "<\u00a0$0.01" : ">\u00a0−$0.01";
  return formatUsd(n, 2);
}

/** Basis points, two decimals ("3.21 bps"); "< 0.01 bps" for a positive sliver. */
export function formatSavingsBps(value) {
  if (value === null || value === undefined || value === "") return null;
  const n = Number(value);
  if (!Number.isFinite(n)) return null;
  if (n > 0 && n < 0.005) return "<\u00a00.01\u00a0bps";
  return `${n.toFixed(2)}\u00a0bps`;
}

/** "$0.47 · 3.21 bps": dollars and basis points side by side (bps left out when unknown). */
export function formatSavings(usd, bps) {
  const dollars = formatSavingsUsd(usd);
  const points = Number(usd) === 0 ? null : formatSavingsBps(bps); // nothing saved: no "0.00 bps"
  return points ? `${dollars} · ${points}` : dollars;
}

/** Savings in bps of a trade's notional (an estimate: both sides valued in USD at execution). */
export function savingsBps(savingsUsd, notionalUsd) {
  const s = Number(savingsUsd);
  const n = Number(notionalUsd);
  return Number.isFinite(s) && Number.isFinite(n) && n > 0 ? (s / n) * 10_000 : null;
}

/** Latency rows per venue kind in KIND_ORDER (the API leaves out kinds without trades). */
export function latencyKinds(byKind) {
  const found = new Map((byKind || []).map((k) => [k.kind, k]));
  return KIND_ORDER.filter((kind) => found.has(kind)).map((kind) => found.get(kind));
}

/** "AMM 85 ms": a kind's p95 as a label and a figure that never wraps. */
export function kindLatencyItem(k) {
  return el("li", { class: "kind-latency", dataset: { kind: k.kind, p95Ms: String(k.p95Ms) } },
    el("span", { class: `badge kind-badge kind-${k.kind}` }, KIND_LABELS[k.kind] || k.kind), " ",
    el("span", { class: "num", title: `p50 ${formatMs(k.p50Ms)} · p99 ${formatMs(k.p99Ms)} · ${k.count} trade${k.count === 1 ? "" : "s"}` },
      formatMs(k.p95Ms)));
}

/** Give each cell of a row the text of its column's header (data-label), for the phone card layout. */
export function labelCells(table) {
  const headers = [...table.querySelectorAll("thead th")].map((th) => th.dataset.label || th.textContent.trim());
  for (const row of table.querySelectorAll("tbody tr")) {
    [...row.children].forEach((cell, i) => {
      if (headers[i] && !cell.dataset.label) cell.dataset.label = headers[i];
    });
  }
}
