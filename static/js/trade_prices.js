// The trade page's price card: 24 h of 15-minute candles of the token being sold (or, for a
// stablecoin, the one being bought), from the recorded history; redrawn when the pair changes and
// every minute (the recorder writes a snapshot a minute by default).
import { describeError } from "./common.js";
import { drawCandles, fetchCandles } from "./candles.js";

const section = document.getElementById("trade-price-history");
const canvas = document.getElementById("chart-trade-candles");
const tokenIn = document.getElementById("token-in");
const tokenOut = document.getElementById("token-out");
const STABLE = new Set(["USDC", "USDT"]);
let timer = null;

function chosenToken() {
  const sell = tokenIn.value;
  return sell && !STABLE.has(sell) ? sell : tokenOut.value || sell;
}

async function refresh() {
  const token = chosenToken();
  if (!token) return;
  section.dataset.token = token;
  document.getElementById("trade-price-token").textContent = token;
  try {
    drawCandles(canvas, await fetchCandles(token), token);
    section.dataset.state = "ready";
  } catch (err) {
    section.dataset.state = "error";
    canvas.textContent = describeError(err);
  }
  clearTimeout(timer);
  timer = setTimeout(refresh, 60_000);
}

for (const select of [tokenIn, tokenOut]) select.addEventListener("change", refresh);
// The selects are filled by trade.js once the tokens load: wait for a value.
(function start() {
  if (tokenIn.value || tokenOut.value) refresh();
  else setTimeout(start, 100);
}());
