// The orders page: the account's orders from GET /api/orders, filtered (status, type, strategy, tokens)
// and paginated; the filters live in the URL so a filtered page can be linked and reloaded.
// Received is the filled amount, "not filled" for a failed order, or the quote ("≈ …") while live.
// On a phone the row keeps Pair, Received and Status; the date and the amount paid fold into them
// (and the type, when not market). Open and working orders come first (the API orders them so).
import {
  describeError, el, fetchJSON, formatDateTime, formatTokenAmount, loadTokens, orderTypeBadge, receivedText, show, statusBadge,
  strategyLabel, tokenIcon,
} from "./common.js";

const form = document.getElementById("orders-filters");
const pageSize = Number(form.dataset.pageSize || "25");
const FILTERS = ["status", "orderType", "routingStrategy", "tokenIn", "tokenOut"];
const table = document.getElementById("orders-table");
const count = document.getElementById("orders-count");
const errorBox = document.getElementById("orders-error");
const prev = document.getElementById("orders-prev");
const next = document.getElementById("orders-next");
const pageLabel = document.getElementById("orders-page");
const list = document.getElementById("orders-list");

let offset = 0;
let controller = null;

function filtersFromForm() {
  const filters = {};
  for (const name of FILTERS) {
    const value = form.elements[name].value;
    if (value) filters[name] = value;
  }
  return filters;
}

function readUrl() {
  const params = new URLSearchParams(window.location.search);
  for (const name of FILTERS) {
    const select = form.elements[name];
    const value = params.get(name) || "";
    if (value && !Array.from(select.options).some((o) => o.value === value)) {
      select.append(el("option", { value }, value)); // keep a linked filter even if not in the list
    }
    select.value = value;
  }
  const fromUrl = Number.parseInt(params.get("offset") || "0", 10);
  offset = Number.isFinite(fromUrl) && fromUrl > 0 ? fromUrl : 0;
}

function writeUrl(filters) {
  const params = new URLSearchParams(filters);
  if (offset > 0) params.set("offset", String(offset));
  const query = params.toString();
  window.history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
}

function receivedCell(order) {
  if (order.amountOut !== null && order.amountOut !== undefined) return formatTokenAmount(order.amountOut, order.tokenOut);
  if (order.orderType === "twap" && Number(order.filledAmountOut) > 0) {
    return el("span", { title: "Filled so far by its slices" }, formatTokenAmount(order.filledAmountOut, order.tokenOut));
  }
  if (["failed", "cancelled", "expired"].includes(order.status)) return el("span", { class: "text-body-secondary", dataset: { notFilled: "true" } }, receivedText(order));
  return el("span", { class: "text-body-secondary", title: "Quoted: the order is not filled yet" },
    `≈ ${formatTokenAmount(order.quotedAmountOut, order.tokenOut)}`);
}

function row(order) {
  const href = `/orders/${encodeURIComponent(order.orderId)}`;
  const title = order.amountOut ? `${order.amountOut} ${order.tokenOut}` : null;
  const type = order.orderType || "market";
  return el("tr", { dataset: { orderId: order.orderId, status: order.status, orderType: type } },
    el("td", { class: "small num d-none d-sm-table-cell" }, formatDateTime(order.createdAt)),
    el("td", {},
      el("a", { href, class: "link-light pair-link" }, tokenIcon(order.tokenIn), order.tokenIn, " → ", tokenIcon(order.tokenOut), order.tokenOut),
      el("span", { class: "d-block d-sm-none small text-body-secondary order-phone-meta" },
        el("span", { class: "order-status-phone" }, statusBadge(order.status)), " ",
        type !== "market" ? el("span", { class: "order-type-phone" }, orderTypeBadge(type), " ") : null,
        el("span", { class: "num" }, formatDateTime(order.createdAt)))),
    el("td", { class: "d-none d-sm-table-cell order-type" }, orderTypeBadge(type)),
    el("td", { class: "text-end num d-none d-sm-table-cell", title: `${order.amountIn} ${order.tokenIn}` },
      formatTokenAmount(order.amountIn, order.tokenIn)),
    el("td", { class: "text-end num order-received", title },
      receivedCell(order),
      el("span", { class: "d-block d-sm-none small text-body-secondary" }, `for ${formatTokenAmount(order.amountIn, order.tokenIn)}`)),
    el("td", { class: "d-none d-md-table-cell small" }, strategyLabel(order.routingStrategy)),
    el("td", { class: "d-none d-sm-table-cell order-status" }, statusBadge(order.status)),
    el("td", { class: "text-end d-none d-sm-table-cell" }, el("a", { href, class: "btn btn-sm btn-outline-secondary", "aria-label": `Order ${order.orderId} details` },
      el("i", { class: "bi bi-chevron-right", "aria-hidden": "true" }))));
}

async function load() {
  controller?.abort();
  controller = new AbortController();
  const filters = filtersFromForm();
  writeUrl(filters);
  const query = new URLSearchParams({ ...filters, limit: String(pageSize), offset: String(offset) });
  list.dataset.state = "loading";
  list.setAttribute("aria-busy", "true");
  show(errorBox, false);
  try {
    const page = await fetchJSON(`/api/orders?${query}`, { signal: controller.signal });
    if (page.orders.length === 0 && offset > 0 && page.total > 0) {
      offset = Math.max(0, Math.floor((page.total - 1) / pageSize) * pageSize); // past the end: last page
      load();
      return;
    }
    render(page, Object.keys(filters).length > 0);
  } catch (err) {
    if (err?.name === "AbortError") return;
    list.dataset.state = "error";
    errorBox.textContent = `Could not load the orders: ${describeError(err)}`;
    show(errorBox, true);
    count.textContent = "";
  } finally {
    list.setAttribute("aria-busy", "false");
  }
}

function render(page, filtered) {
  const tbody = table.querySelector("tbody");
  tbody.replaceChildren(...page.orders.map(row));
  const empty = page.total === 0;
  show(table, !empty);
  show(document.getElementById("orders-empty"), empty && !filtered);
  show(document.getElementById("orders-no-match"), empty && filtered);
  list.dataset.state = empty ? (filtered ? "no-match" : "empty") : "ready";
  const first = empty ? 0 : page.offset + 1;
  const last = page.offset + page.orders.length;
  count.textContent = empty ? (filtered ? "No matching orders" : "No orders yet")
    : `Showing ${first}–${last} of ${page.total} order${page.total === 1 ? "" : "s"}`;
  const pages = Math.max(1, Math.ceil(page.total / pageSize));
  pageLabel.textContent = `Page ${Math.floor(page.offset / pageSize) + 1} of ${pages}`;
  prev.disabled = page.offset === 0;
  next.disabled = last >= page.total;
}

async function init() {
  readUrl();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    offset = 0;
    load();
  });
  form.addEventListener("reset", () => {
    // After the browser has reset the selects.
    setTimeout(() => { offset = 0; load(); }, 0);
  });
  for (const name of FILTERS) {
    form.elements[name].addEventListener("change", () => { offset = 0; load(); });
  }
  prev.addEventListener("click", () => { offset = Math.max(0, offset - pageSize); load(); });
  next.addEventListener("click", () => { offset += pageSize; load(); });
  try {
    const tokens = await loadTokens();
    for (const select of form.querySelectorAll("[data-token-select]")) {
      const chosen = select.value;
      const extra = Array.from(select.options).filter((o) => o.value && !tokens.some((t) => t.symbol === o.value));
      select.replaceChildren(el("option", { value: "" }, "Any"),
        ...tokens.map((t) => el("option", { value: t.symbol }, t.symbol)), ...extra);
      select.value = chosen;
    }
  } catch {
    // the filters still work by URL; the list below reports a server problem
  }
  load();
}

init();
