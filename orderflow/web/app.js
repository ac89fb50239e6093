// orderflow web console: plain JavaScript, no build step, no libraries, works offline.
// Every piece of data from the server is put into the page as text (textContent or text
// nodes), never parsed as HTML, so an order's customer name cannot inject markup.
"use strict";

const FAULT_STEPS = ["reserve_inventory", "charge_payment", "ship", "notify_customer"];
const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
const LIST_POLL_MS = 2000;
const WORKER_POLL_MS = 1500;
const WORKER_ACTIONS = [
  ["stop", "Stop", "graceful: running activities get the grace period"],
  ["kill", "Kill (-9)", "SIGKILL: the process vanishes mid-work, like a crash"],
  ["start", "Start", "a new worker process"],
];
const DETAIL_POLL_MS = 1000;
const FAULTS = {
  none: null,
  transient: { fail_first_n: 2 },
  permanent: { permanent: true },
  slow: { latency: 3 },
};

const state = { config: null, selected: null, detailTimer: null, filter: "" };

// --- small helpers ------------------------------------------------------------------------

function $(id) {
  return document.getElementById(id);
}

/** Create an element; string children become text nodes (never HTML). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: options.body ? { "Content-Type": "application/json" } : {},
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = body && body.detail;
    const text = Array.isArray(detail)
      ? detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ")
      : detail || response.statusText;
    throw new Error(`${response.status}: ${text}`);
  }
  return body;
}

function showMessage(text, kind = "info") {
  const box = $("message");
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = !text;
}

function money(value, currency = "USD") {
  if (value === null || value === undefined) return "–";
  return `${Number(value).toFixed(2)} ${currency}`;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : "–";
}

/** "reserve_inventory" -> "reserve inventory": readable, and wraps on a narrow screen. */
function stepLabel(name) {
  return String(name).replaceAll("_", " ");
}

function badge(stateName) {
  return el("span", { class: `badge state-${String(stateName).toLowerCase()}` }, stateName);
}

/** The workflow's page in the Temporal UI; null when the API knows no UI (see /api/config). */
function workflowUrl(workflowId) {
  const listing = state.config && state.config.temporal_ui_workflows_url;
  return listing ? `${listing}/${encodeURIComponent(workflowId)}` : null;
}

// --- create form --------------------------------------------------------------------------

async function loadProducts() {
  const products = await api("/api/products");
  const rows = products.map((p) =>
    el(
      "tr",
      {},
      el("td", { class: "name" }, p.name, el("div", { class: "sku" }, p.sku)),
      el("td", { class: "num" }, Number(p.price).toFixed(2)),
      el("td", { class: "num stock", dataset: { sku: p.sku } }, p.stock),
      el(
        "td",
        {},
        el("input", {
          type: "number", min: "0", max: "1000", value: "0", class: "qty",
          "aria-label": `Quantity of ${p.name}`, dataset: { sku: p.sku },
        }),
      ),
    ),
  );
  $("product-rows").replaceChildren(...rows);
  const first = document.querySelector("input.qty");
  if (first) first.value = "1"; // a ready-to-place order: one of the first product
}

/** Update the stock column in place (quantities being typed are left alone). */
async function refreshStock() {
  const products = await api("/api/products").catch(() => []);
  for (const p of products) {
    const cell = document.querySelector(`td.stock[data-sku="${CSS.escape(p.sku)}"]`);
    if (cell) cell.textContent = String(p.stock);
  }
}

function buildFaultFields() {
  const fields = FAULT_STEPS.map((step) => {
    const select = el("select", { id: `fault-${step}`, dataset: { step } });
    for (const name of Object.keys(FAULTS)) select.append(el("option", { value: name }, name));
    return el("label", {}, `Fault in ${stepLabel(step)}`, select);
  });
  $("fault-fields").replaceChildren(...fields);
  if (state.config && !state.config.allow_faults) {
    $("fault-fields").replaceChildren(el("p", { class: "hint" }, "Faults are disabled on this server."));
  }
}

function readForm() {
  const items = [...document.querySelectorAll("input.qty")]
    .map((input) => ({ sku: input.dataset.sku, quantity: Number(input.value) }))
    .filter((item) => item.quantity > 0);
  const body = { customer_id: $("customer-id").value.trim(), items };
  const name = $("customer-name").value;
  if (name) body.customer_name = name;
  const delay = Number($("step-delay").value);
  if (delay > 0) body.step_delay = delay;
  const faults = {};
  for (const select of document.querySelectorAll("#fault-fields select")) {
    const spec = FAULTS[select.value];
    if (spec) faults[select.dataset.step] = spec;
  }
  if (Object.keys(faults).length) body.faults = faults;
  return body;
}

async function onCreate(event) {
  event.preventDefault();
  const body = readForm();
  if (!body.items.length) {
    showMessage("Choose a quantity for at least one product.", "error");
    return;
  }
  const button = $("create-button");
  button.disabled = true;
  try {
    const created = await api("/api/orders", { method: "POST", body: JSON.stringify(body) });
    showMessage(`Order ${created.order_id} placed.`, "ok");
    await refreshList();
    select(created.order_id);
  } catch (error) {
    showMessage(`Could not place the order: ${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

// --- live order list ----------------------------------------------------------------------

async function refreshList() {
  let orders;
  const filter = state.filter ? `&state=${encodeURIComponent(state.filter)}` : "";
  try {
    orders = await api(`/api/orders?limit=50${filter}`);
  } catch (error) {
    showMessage(`Cannot load orders: ${error.message}`, "error");
    return;
  }
  const list = $("order-list");
  if (!orders.length) {
    const none = state.filter ? `No ${stepLabel(state.filter.toLowerCase())} orders.` : "No orders yet.";
    list.replaceChildren(el("li", { class: "empty" }, none));
    return;
  }
  list.replaceChildren(
    ...orders.map((order) => {
      const button = el(
        "button",
        { type: "button", class: "order-row", dataset: { orderId: order.order_id } },
        el("span", { class: "order-id" }, order.order_id),
        badge(order.state),
        el("span", { class: "num" }, money(order.total)),
        el("span", { class: "time" }, when(order.created_at)),
      );
      if (order.order_id === state.selected) button.classList.add("selected");
      button.addEventListener("click", () => select(order.order_id));
      return el("li", {}, button);
    }),
  );
}

// --- detail panel -------------------------------------------------------------------------

function select(orderId) {
  state.selected = orderId;
  for (const row of document.querySelectorAll(".order-row")) {
    row.classList.toggle("selected", row.dataset.orderId === orderId);
  }
  $("detail").hidden = false;
  clearTimeout(state.detailTimer);
  refreshDetail(orderId);
}

async function refreshDetail(orderId) {
  if (orderId !== state.selected) return;
  let status;
  try {
    status = await api(`/api/orders/${encodeURIComponent(orderId)}`);
  } catch (error) {
    showMessage(`Cannot load order ${orderId}: ${error.message}`, "error");
    // Keep watching: a worker that is down (killed, restarting) comes back.
    if (orderId === state.selected) {
      clearTimeout(state.detailTimer);
      state.detailTimer = setTimeout(() => refreshDetail(orderId), DETAIL_POLL_MS * 2);
    }
    return;
  }
  if (orderId !== state.selected) return;
  renderStatus(status);
  const [timeline, payments] = await Promise.all([
    api(`/api/orders/${encodeURIComponent(orderId)}/timeline`).catch(() => null),
    api(`/api/orders/${encodeURIComponent(orderId)}/payments`).catch(() => null),
  ]);
  if (orderId !== state.selected) return;
  if (timeline) renderTimeline(timeline.attempts);
  if (payments) renderPayments(payments);
  if (!FINAL.has(status.state)) {
    state.detailTimer = setTimeout(() => refreshDetail(orderId), DETAIL_POLL_MS);
  } else {
    refreshList(); // show the final state in the list now, not at the next poll
    refreshStock();
  }
}

function renderStatus(status) {
  $("detail-id").textContent = status.order_id;
  const stateBadge = $("detail-state");
  stateBadge.textContent = status.state;
  stateBadge.className = `badge state-${status.state.toLowerCase()}`;
  $("detail-customer").textContent = status.customer_name
    ? `${status.customer_name} (${status.customer_id})`
    : status.customer_id;
  $("detail-total").textContent = money(status.total, status.currency);
  $("detail-step").textContent = status.current_step || "–";
  $("detail-error").textContent = status.error || "–";
  $("detail-cancel-reason").textContent = status.cancel_reason || "–";
  const link = $("detail-workflow-link");
  link.textContent = status.workflow_id;
  const href = workflowUrl(status.workflow_id);
  if (href) link.href = href;
  else link.removeAttribute("href"); // no UI known: the id as plain text
  $("cancel-button").disabled = !status.cancellable;
  renderReview(status);
  renderShipment(status.shipment);
  renderPending(status);
  $("step-rows").replaceChildren(
    ...status.steps.map((step) =>
      el(
        "tr",
        { dataset: { step: step.name } },
        el("td", {}, stepLabel(step.name)),
        el("td", {}, el("span", { class: `step-status ${step.status}` }, step.status)),
        el("td", { class: "num" }, step.attempts),
        el("td", { class: "error-text" }, step.last_error || ""),
      ),
    ),
  );
}

async function onCancel() {
  const orderId = state.selected;
  if (!orderId) return;
  const button = $("cancel-button");
  button.disabled = true;
  try {
    await api(`/api/orders/${encodeURIComponent(orderId)}/cancel`, {
      method: "POST",
      body: JSON.stringify({ reason: "cancelled from the web console" }),
    });
    showMessage(`Cancel of ${orderId} accepted; compensating…`, "ok");
  } catch (error) {
    showMessage(`Cancel refused: ${error.message}`, "error");
  }
  clearTimeout(state.detailTimer);
  refreshDetail(orderId);
}

/** The review panel: shown while an order waits for a person (Approve / Reject). */
function renderReview(status) {
  const panel = $("review-panel");
  const review = status.review;
  const waiting = status.state === "AWAITING_REVIEW";
  panel.hidden = !review;
  if (!review) return;
  $("review-deadline").textContent = `decide before ${new Date(review.deadline).toLocaleString()}`;
  $("review-decision").textContent = review.decision
    ? `${review.decision}d by ${review.reviewer}${review.note ? `: ${review.note}` : ""}`
    : "waiting for a decision";
  $("approve-button").disabled = !waiting;
  $("reject-button").disabled = !waiting;
}

async function onReview(decision) {
  const orderId = state.selected;
  if (!orderId) return;
  $("approve-button").disabled = true;
  $("reject-button").disabled = true;
  const body = { decision, reviewer: $("reviewer").value.trim() || "web console" };
  const note = $("review-note").value.trim();
  if (note) body.note = note;
  try {
    await api(`/api/orders/${encodeURIComponent(orderId)}/review`, {
      method: "POST",
      body: JSON.stringify(body),
    });
    showMessage(`Order ${orderId} ${decision === "approve" ? "approved" : "rejected"}.`, "ok");
  } catch (error) {
    showMessage(`Review refused: ${error.message}`, "error");
  }
  clearTimeout(state.detailTimer);
  refreshDetail(orderId);
  refreshList();
}

function renderShipment(shipment) {
  $("detail-shipment").textContent = shipment
    ? `${shipment.state}${shipment.tracking_number ? ` (${shipment.tracking_number})` : ""}`
    : "–";
}

/** The running step as Temporal's pending activity shows it: attempt, last failure, next retry. */
function renderPending(status) {
  const step = status.steps.find((s) => s.name === status.current_step);
  const box = $("detail-pending");
  if (!step || FINAL.has(status.state) || !["running", "retrying"].includes(step.status)) {
    box.textContent = "–";
    return;
  }
  const parts = [`${stepLabel(step.name)}: attempt ${step.attempts}`];
  if (step.last_error) parts.push(`last failure: ${step.last_error}`);
  if (step.next_attempt_at) {
    const seconds = Math.max(0, Math.round((Date.parse(step.next_attempt_at) - Date.now()) / 1000));
    parts.push(`next retry at ${when(step.next_attempt_at)} (in ${seconds} s)`);
  }
  box.textContent = parts.join(" · ");
}

// --- workers ------------------------------------------------------------------------------

async function refreshWorkers() {
  let view;
  try {
    view = await api("/api/workers");
  } catch (error) {
    $("workers-note").textContent = `Cannot load workers: ${error.message}`;
    return;
  }
  state.workers = view;
  $("workers-note").textContent = view.controllable
    ? `Task queue ${view.task_queue}. Kill a worker mid-order, watch the order wait, start it again.`
    : view.reason;
  const list = $("worker-list");
  if (!view.workers.length) {
    list.replaceChildren(el("li", { class: "empty" }, "No worker processes to show."));
    return;
  }
  list.replaceChildren(...view.workers.map((worker) => workerRow(worker, view.controllable)));
}

function workerRow(worker, controllable) {
  const alive = worker.state === "running" || worker.state === "starting";
  const buttons = WORKER_ACTIONS.map(([action, label, tip]) => {
    const button = el(
      "button",
      { type: "button", class: action === "kill" ? "danger" : "", title: tip, dataset: { action } },
      label,
    );
    button.disabled = !controllable || (action === "start" ? alive : !alive);
    button.addEventListener("click", () => onWorkerAction(worker.name, action, button));
    return button;
  });
  const meta = worker.pid ? `pid ${worker.pid} · identity ${worker.identity}` : "not started";
  return el(
    "li",
    { class: "worker-row", dataset: { worker: worker.name } },
    el("span", { class: "worker-name" }, worker.name),
    el("span", { class: `badge worker-state state-${worker.state}` }, worker.state),
    el("span", { class: "worker-meta" }, meta),
    ...buttons,
  );
}

async function onWorkerAction(name, action, button) {
  button.disabled = true;
  try {
    const worker = await api(`/api/workers/${encodeURIComponent(name)}/${action}`, { method: "POST" });
    showMessage(`${worker.name}: ${worker.state}.`, "ok");
  } catch (error) {
    showMessage(`${name}: ${action} refused: ${error.message}`, "error");
  }
  refreshWorkers();
}

function renderTimeline(attempts) {
  const box = $("timeline");
  if (!attempts.length) {
    box.replaceChildren(el("p", { class: "empty" }, "No attempts yet."));
    return;
  }
  const now = Date.now();
  const start = Math.min(...attempts.map((a) => Date.parse(a.started_at)));
  const end = Math.max(
    ...attempts.map((a) => (a.finished_at ? Date.parse(a.finished_at) : now)),
    start + 1,
  );
  const lanes = [...new Set(attempts.map((a) => a.step))];
  // Draw at the box's real width so labels keep their size on a phone.
  const width = Math.max(280, Math.round(box.clientWidth) || 600);
  const labelWidth = 130, rowHeight = 26, axis = 18;
  const scale = (width - labelWidth - 10) / (end - start);
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${lanes.length * rowHeight + axis}`,
    role: "img", "aria-label": "Attempt timeline", class: "timeline-chart",
  });
  lanes.forEach((lane, i) => {
    const label = svg("text", { x: 4, y: i * rowHeight + 17, class: "lane" });
    label.textContent = stepLabel(lane);
    chart.append(label);
  });
  for (const attempt of attempts) {
    const from = Date.parse(attempt.started_at);
    const to = attempt.finished_at ? Date.parse(attempt.finished_at) : now;
    const bar = svg("rect", {
      x: labelWidth + (from - start) * scale,
      y: lanes.indexOf(attempt.step) * rowHeight + 5,
      width: Math.max(3, (to - from) * scale),
      height: rowHeight - 10,
      rx: 3,
      class: `bar ${attempt.outcome}`,
    });
    const tip = svg("title");
    tip.textContent = `${attempt.step} #${attempt.attempt}: ${attempt.outcome}` +
      (attempt.error_message ? ` (${attempt.error_type}: ${attempt.error_message})` : "") +
      ` ${to - from} ms`;
    bar.append(tip);
    chart.append(bar);
  }
  const total = svg("text", { x: width - 4, y: lanes.length * rowHeight + 13, class: "axis" });
  total.setAttribute("text-anchor", "end");
  total.textContent = `${((end - start) / 1000).toFixed(2)} s`;
  chart.append(total);
  box.replaceChildren(chart);
}

function renderPayments(ledger) {
  const list = $("payment-list");
  if (!ledger.entries.length) {
    list.replaceChildren(el("li", { class: "empty" }, "No payments."));
    return;
  }
  list.replaceChildren(
    ...ledger.entries.map((entry) =>
      el("li", {}, `${entry.kind} ${money(entry.amount)} at ${when(entry.created_at)}`,
        el("span", { class: "sku" }, ` ${entry.idempotency_key}`)),
    ),
    el("li", { class: "net" }, `net charged ${money(ledger.net_charged)}`),
  );
}

// --- start --------------------------------------------------------------------------------

async function main() {
  $("create-form").addEventListener("submit", onCreate);
  $("cancel-button").addEventListener("click", onCancel);
  $("approve-button").addEventListener("click", () => onReview("approve"));
  $("reject-button").addEventListener("click", () => onReview("reject"));
  $("state-filter").addEventListener("change", (event) => {
    state.filter = event.target.value;
    refreshList();
  });
  try {
    state.config = await api("/api/config");
    const listing = state.config.temporal_ui_workflows_url;
    if (listing) $("temporal-ui-link").href = listing;
    else $("temporal-ui-link").hidden = true;
  } catch (error) {
    showMessage(`Cannot load configuration: ${error.message}`, "error");
  }
  buildFaultFields();
  try {
    await loadProducts();
  } catch (error) {
    showMessage(`Cannot load products: ${error.message}`, "error");
  }
  await refreshList();
  setInterval(refreshList, LIST_POLL_MS);
  await refreshWorkers();
  setInterval(refreshWorkers, WORKER_POLL_MS);
}

document.addEventListener("DOMContentLoaded", main);
