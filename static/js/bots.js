// The bots page: GET /api/bots (+ each bot's GET /api/bots/<id> for its actions and value history),
// the create form (POST /api/bots) and start/stop/delete, refreshed every few seconds and at once
// after a bot_action event. Every request sends the operator's API key (X-API-Key), which the page
// asks for and keeps in this tab's sessionStorage (the web login is for traders).
import {
  chartPalette,
  describeError,
  drawChart,
  el,
  fetchJSON,
  formatDateTime,
  formatUsd,
  liveSocket,
  show,
} from "./common.js";

const page = document.getElementById("bots-page");
const REFRESH_MS = 5000;
const ACTIONS_SHOWN = 6;
const DEFAULT_CONFIGS = {
  flow: { base: "SOL", quote: "USDC", size: "0.5", mode: "random", seed: 1 },
  arbitrage: { minProfitUsd: "1", maxOpportunities: 1 },
  rebalance: { targets: { SOL: "0.5", USDC: "0.5" }, bandBps: 500, minTradeUsd: "10" },
  dca: { tokenIn: "USDC", tokenOut: "SOL", amount: "100", orderType: "market" },
};
const STATE_CLASSES = { running: "text-bg-success", stopped: "text-bg-secondary", error: "text-bg-danger" };
const ACTION_CLASSES = { order: "text-bg-info", skip: "text-bg-secondary", error: "text-bg-danger", start: "text-bg-success", stop: "text-bg-warning" };

const KEY_STORAGE = "solroute.operatorKey";
let refreshTimer = null;
let loading = false;

function operatorKey() {
  return window.sessionStorage.getItem(KEY_STORAGE) || "";
}

/** fetchJSON with the operator's key. */
function api(url, options = {}) {
  return fetchJSON(url, { ...options, headers: { ...(options.headers || {}), "X-API-Key": operatorKey() } });
}

function showLogin(message = "") {
  clearTimeout(refreshTimer);
  show(document.getElementById("bots-login"), true);
  show(document.getElementById("bots-content"), false);
  const input = document.getElementById("operator-key");
  input.classList.toggle("is-invalid", Boolean(message));
  input.nextElementSibling.textContent = message;
  page.dataset.state = "login";
}

function setStatus(text) {
  document.getElementById("bots-status").textContent = text;
}

function pnlClass(value) {
  const n = Number(value);
  return n > 0 ? "text-success" : n < 0 ? "text-danger" : "";
}

function actionItem(action) {
  return el(
    "li",
    { class: "list-group-item px-0", dataset: { kind: action.kind } },
    el(
      "div",
      { class: "d-flex gap-2 align-items-baseline" },
      el("span", { class: `badge ${ACTION_CLASSES[action.kind] || "text-bg-secondary"}` }, action.kind),
      el("span", { class: "small text-body-secondary text-nowrap" }, formatDateTime(action.t)),
    ),
    el("div", { class: "small text-break mt-1" }, action.message),
  );
}

function chartOf(bot) {
  // Hourly buckets before the bot's account was funded hold 0: the chart starts at its first value.
  // P&L per bucket = its value less what was put in (the funding: value now less P&L now; a bot's
  // account gets no deposit after its funding), so the last point is the P&L shown above.
  const all = bot.portfolio.history;
  const start = all.findIndex((p) => p.valueUsd > 0);
  const history = start < 0 ? [] : all.slice(start);
  const funded = Number(bot.pnl.valueUsd) - Number(bot.pnl.totalPnlUsd);
  const canvas = el("canvas", {
    id: `bot-chart-${bot.id}`,
    class: "bot-chart",
    role: "img",
    "aria-label": `Line chart: ${bot.name}'s P&L in USD per hour`,
    dataset: { points: "0", updates: "0" },
  }, "No data yet.");
  const box = el("div", { class: "chart-box" }, canvas, el("p", { class: "chart-empty-note", "aria-hidden": "true" }, "No value history yet"));
  return { box, draw: () => drawChart(canvas, {
    type: "line",
    data: {
      labels: history.map((p) => new Date(p.at).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })),
      datasets: [{
        label: "P&L (USD)",
        borderColor: chartPalette()[0],
        backgroundColor: chartPalette()[0],
        data: history.map((p) => p.valueUsd - funded),
        tension: 0.2,
        pointRadius: history.length < 3 ? 3 : 0,
      }],
    },
    options: {
      plugins: { legend: { display: false } },
      scales: { x: { ticks: { maxTicksLimit: 4, maxRotation: 0 } } },
    },
  }, `${bot.name}: value ${formatUsd(bot.pnl.valueUsd)}, P&L ${formatUsd(bot.pnl.totalPnlUsd)}`) };
}

function card(bot) {
  const running = bot.state === "running";
  const buttons = el(
    "div",
    { class: "btn-group btn-group-sm", role: "group", "aria-label": `Controls of ${bot.name}` },
    el("button", { type: "button", class: "btn btn-outline-success bot-start", disabled: running }, el("i", { class: "bi bi-play-fill", "aria-hidden": "true" }), " Start"),
    el("button", { type: "button", class: "btn btn-outline-warning bot-stop", disabled: !running }, el("i", { class: "bi bi-stop-fill", "aria-hidden": "true" }), " Stop"),
    el("button", { type: "button", class: "btn btn-outline-danger bot-delete" }, el("i", { class: "bi bi-trash", "aria-hidden": "true" }), " Delete"),
  );
  const chart = chartOf(bot);
  const node = el(
    "section",
    { class: "card bot-card", dataset: { botId: bot.id, state: bot.state }, "aria-label": `Bot ${bot.name}` },
    el(
      "div",
      { class: "card-header d-flex flex-wrap align-items-center justify-content-between gap-2" },
      el("h2", { class: "h6 mb-0 text-break" }, bot.name, " ", el("span", { class: "badge text-bg-dark border" }, bot.kind)),
      el("span", { class: `badge bot-state ${STATE_CLASSES[bot.state] || ""}` }, bot.state),
    ),
    el(
      "div",
      { class: "card-body" },
      bot.stateReason ? el("p", { class: "small text-warning mb-2 bot-reason text-break" }, bot.stateReason) : null,
      el(
        "dl",
        { class: "row small mb-2" },
        el("dt", { class: "col-6 col-md-3" }, "P&L"),
        el("dd", { class: `col-6 col-md-3 bot-pnl text-nowrap ${pnlClass(bot.pnl.totalPnlUsd)}` }, formatUsd(bot.pnl.totalPnlUsd)),
        el("dt", { class: "col-6 col-md-3" }, "Value"),
        el("dd", { class: "col-6 col-md-3 text-nowrap" }, formatUsd(bot.pnl.valueUsd)),
        el("dt", { class: "col-6 col-md-3" }, "Runs"),
        el("dd", { class: "col-6 col-md-3" }, String(bot.runs)),
        el("dt", { class: "col-6 col-md-3" }, "Every"),
        el("dd", { class: "col-6 col-md-3 text-nowrap" }, `${bot.intervalS} s`),
      ),
      chart.box,
      el("h3", { class: "h6 mt-3" }, "Recent actions"),
      el("ul", { class: "list-group list-group-flush bot-actions" }, ...bot.actions.slice(0, ACTIONS_SHOWN).map(actionItem)),
      el("div", { class: "mt-2" }, buttons),
    ),
  );
  node.querySelector(".bot-start").addEventListener("click", () => control(bot.id, "start"));
  node.querySelector(".bot-stop").addEventListener("click", () => control(bot.id, "stop"));
  node.querySelector(".bot-delete").addEventListener("click", () => {
    if (window.confirm(`Delete bot ${bot.name}? Its account and trades stay.`)) control(bot.id, "delete");
  });
  return { node, draw: chart.draw };
}

async function load() {
  if (loading) return;
  loading = true;
  try {
    const { bots } = await api("/api/bots");
    const details = await Promise.all(bots.map((b) => api(`/api/bots/${b.id}`)));
    show(document.getElementById("bots-login"), false);
    show(document.getElementById("bots-content"), true);
    const list = document.getElementById("bots-list");
    const cards = details.map(card);
    list.replaceChildren(...cards.map((c) => c.node));
    cards.forEach((c) => c.draw());
    show(document.getElementById("bots-empty"), bots.length === 0);
    show(document.getElementById("bots-error"), false);
    page.dataset.state = bots.length ? "ready" : "empty";
    setStatus(`${bots.length} bot${bots.length === 1 ? "" : "s"}, ${bots.filter((b) => b.state === "running").length} running`);
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      window.sessionStorage.removeItem(KEY_STORAGE);
      showLogin(err.status === 403 ? "That key is not an operator's." : "That key is not valid.");
      return;
    }
    const box = document.getElementById("bots-error");
    box.textContent = describeError(err);
    show(box, true);
    page.dataset.state = "error";
  } finally {
    loading = false;
    page.dataset.updates = String((Number.parseInt(page.dataset.updates, 10) || 0) + 1);
  }
}

async function control(botId, action) {
  try {
    if (action === "delete") await api(`/api/bots/${botId}`, { method: "DELETE" });
    else await api(`/api/bots/${botId}/${action}`, { method: "POST" });
  } catch (err) {
    const box = document.getElementById("bots-error");
    box.textContent = describeError(err);
    show(box, true);
  }
  await load();
}

function fieldControl(field) {
  if (!field) return null;
  const name = field.split(".")[0];
  return { kind: "bot-kind", name: "bot-name", intervalS: "bot-interval", config: "bot-config" }[name] || null;
}

async function create(event) {
  event.preventDefault();
  const form = event.target;
  const error = document.getElementById("bot-form-error");
  form.querySelectorAll(".is-invalid").forEach((n) => n.classList.remove("is-invalid"));
  show(error, false);
  let config;
  try {
    config = JSON.parse(document.getElementById("bot-config").value || "{}");
  } catch {
    const control = document.getElementById("bot-config");
    control.classList.add("is-invalid");
    control.nextElementSibling.textContent = "The config is not valid JSON.";
    return;
  }
  const body = {
    kind: document.getElementById("bot-kind").value,
    name: document.getElementById("bot-name").value.trim(),
    intervalS: Number(document.getElementById("bot-interval").value || "5"),
    config,
  };
  try {
    await api("/api/bots", { method: "POST", body });
    document.getElementById("bot-name").value = "";
    await load();
  } catch (err) {
    const id = fieldControl(err.field);
    const control = id ? document.getElementById(id) : null;
    if (control && control.nextElementSibling?.classList.contains("invalid-feedback")) {
      control.classList.add("is-invalid");
      control.nextElementSibling.textContent = describeError(err);
    } else {
      error.textContent = describeError(err);
      show(error, true);
    }
  }
}

function fillConfig() {
  const kind = document.getElementById("bot-kind").value;
  document.getElementById("bot-config").value = JSON.stringify(DEFAULT_CONFIGS[kind] || {}, null, 1);
}

function scheduleRefresh(delayMs = REFRESH_MS) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    await load();
    scheduleRefresh();
  }, delayMs);
}

function init() {
  if (!page) return;
  document.getElementById("bot-kind").addEventListener("change", fillConfig);
  document.getElementById("bot-form").addEventListener("submit", create);
  document.getElementById("bots-key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = document.getElementById("operator-key").value.trim();
    if (!key) {
      showLogin("Paste an operator's API key.");
      return;
    }
    window.sessionStorage.setItem(KEY_STORAGE, key);
    document.getElementById("operator-key").value = "";
    load().then(() => { if (operatorKey()) scheduleRefresh(); });
  });
  fillConfig();
  const socket = liveSocket();
  if (socket) socket.on("bot_action", () => { if (operatorKey()) scheduleRefresh(300); });
  if (!operatorKey()) {
    showLogin();
    return;
  }
  load().then(() => { if (operatorKey()) scheduleRefresh(); });
}

init();
