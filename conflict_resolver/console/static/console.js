// The sales-ops console: plain JavaScript, no build step.
//
// Live updates: the page exchanges its ops key for a short-lived stream token
// (POST /v1/conflicts/stream-token) and opens an EventSource on
// /v1/conflicts/stream?token=... . The server sends `ready` on every (re)connect and then
// `opened` / `updated` / `closed` as the open queue changes; the page reloads the list (and the
// case on screen, if it is the one that changed). When the connection drops, EventSource
// retries after 1 s on its own; on reconnect `ready` makes the page reload, so nothing missed
// while offline stays missed. If the server refuses the stream (token expired, key revoked),
// the page asks for a new token with growing back-off; a revoked key signs the page out.
"use strict";

const state = { key: sessionStorage.getItem("dealreg.opsKey"), cases: [], selected: null, reasons: {}, fields: [],
                current: null, cursor: null, source: null, retry: 1000, countdown: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: {
    "Authorization": `Bearer ${state.key}`,
    ...(options.body ? { "Content-Type": "application/json" } : {}) } });
  if (response.status === 401) throw new Unauthorized();
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) { const error = new Error(body?.detail || response.statusText); error.status = response.status; throw error; }
  return body;
}

// --- Signing in -------------------------------------------------------------------------------

async function signIn(key) {
  state.key = key;
  try {
    await api("/v1/conflicts?limit=1");
  } catch (error) {
    state.key = null;
    $("sign-in-error").textContent = error instanceof Unauthorized ? "That key is not valid." : error.message;
    return;
  }
  sessionStorage.setItem("dealreg.opsKey", key);
  $("sign-in").hidden = true; $("app").hidden = false; $("sign-out").hidden = false;
  $("who").textContent = "signed in";
  connect(); reload(); loadStats(); loadPartners();
  setInterval(() => { loadStats(); loadPartners(); }, 10000);
  $("cases").focus();
}

function signOut(message = "") {
  sessionStorage.removeItem("dealreg.opsKey");
  state.key = null;
  if (state.source) state.source.close();
  $("app").hidden = true; $("sign-out").hidden = true; $("sign-in").hidden = false;
  $("who").textContent = ""; setLive(false, "offline");
  $("sign-in-error").textContent = message;
  $("key").value = ""; $("key").focus();
}

function guard(error) {
  if (error instanceof Unauthorized) signOut("Your key is no longer valid; sign in again.");
  else console.error(error);
}

// --- Live updates -----------------------------------------------------------------------------

function setLive(on, text) {
  const badge = $("live");
  badge.className = `live ${on ? "on" : "off"}`;
  badge.textContent = text;
}

async function connect() {
  if (state.source) state.source.close();
  let token;
  try {
    token = (await api("/v1/conflicts/stream-token", { method: "POST" })).token;
  } catch (error) {
    if (error instanceof Unauthorized) return guard(error);
    return scheduleReconnect();
  }
  const source = new EventSource(`/v1/conflicts/stream?token=${encodeURIComponent(token)}`);
  state.source = source;
  source.addEventListener("ready", () => { state.retry = 1000; setLive(true, "live"); reload(); });
  for (const kind of ["opened", "updated", "closed"]) {
    source.addEventListener(kind, (event) => onChange(kind, JSON.parse(event.data).id));
  }
  source.onerror = () => {
    setLive(false, "reconnecting…");
    // CONNECTING: the browser retries by itself. CLOSED: the server refused (token expired or
    // key revoked): get a new token.
    if (source.readyState === EventSource.CLOSED) scheduleReconnect();
  };
}

function scheduleReconnect() {
  setLive(false, "reconnecting…");
  setTimeout(() => state.key && connect(), state.retry);
  state.retry = Math.min(state.retry * 2, 30000);
}

let reloadTimer = null;
function onChange(kind, id) {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => { reload(); loadStats(); }, 50);
  if (state.current && state.current.id === id) openCase(id, { focus: false });
}

// --- The queue --------------------------------------------------------------------------------

function query(cursor) {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData($("filters"))) if (value) params.set(name, value);
  params.set("limit", "50");
  if (cursor) params.set("cursor", cursor);
  return `/v1/conflicts?${params}`;
}

async function reload() {
  try {
    const page = await api(query());
    state.cases = page.items; state.cursor = page.next_cursor;
    renderList();
  } catch (error) { guard(error); }
}

async function more() {
  try {
    const page = await api(query(state.cursor));
    state.cases.push(...page.items); state.cursor = page.next_cursor;
    renderList();
  } catch (error) { guard(error); }
}

function subject(item) { return item.claims.find((c) => c.role === "under_review") || item.claims[0]; }
function money(amount) { return amount ? `${Number(amount.value).toLocaleString("en-US")} ${amount.currency}` : "—"; }

function renderList() {
  const list = $("cases");
  list.replaceChildren(...state.cases.map((item, index) => {
    const claim = subject(item);
    return el("li", { "data-id": item.id, "data-index": index, tabindex: "-1",
                      class: [item.id === state.selected ? "selected" : "", item.overdue ? "overdue" : ""].join(" "),
                      onclick: () => select(index, true) },
      el("span", {}, claim.customer?.name ?? item.account_key, " · ", claim.partner?.name ?? "?"),
      el("span", { class: "reason" }, item.reason_code),
      el("span", { class: "sub" }, item.product_line, " · ", money(claim.amount),
         item.owner_name ? ` · ${item.owner_name}` : ""),
      el("span", { class: "sub due" }, item.state === "open" ? dueText(item.due_at) : item.state));
  }));
  if (!state.cases.length) list.append(el("li", { class: "empty" }, "The queue is empty."));
  $("more").hidden = !state.cursor;
}

function select(index, open) {
  const item = state.cases[index];
  if (!item) return;
  state.selected = item.id;
  for (const li of $("cases").children) li.classList.toggle("selected", li.dataset.id === item.id);
  const li = $("cases").querySelector(`[data-id="${item.id}"]`);
  li?.scrollIntoView({ block: "nearest" });
  if (open) openCase(item.id, { focus: false });
}

function dueText(dueAt) {
  const ms = new Date(dueAt) - Date.now();
  const abs = Math.abs(ms), h = Math.floor(abs / 3600000), m = Math.floor(abs % 3600000 / 60000),
        s = Math.floor(abs % 60000 / 1000);
  const text = h ? `${h}h ${m}m` : m ? `${m}m ${s}s` : `${s}s`;
  return ms >= 0 ? `due in ${text}` : `overdue by ${text}`;
}

// --- One case ---------------------------------------------------------------------------------

const ROWS = [
  ["Partner", null, (c) => c.partner ? `${c.partner.name} (${c.partner.tier})` : "—"],
  ["Customer", "name", (c) => c.customer?.name ?? "—"],
  ["Domain", "domain", (c) => c.customer?.domain ?? "—"],
  ["Country", "country", (c) => c.customer?.country ?? "—"],
  ["Product line", "product_line", (c) => c.product_line ?? "—"],
  ["Deal type", null, (c) => c.deal_type ?? "—"],
  ["Amount", null, (c) => money(c.amount)],
  ["Close date", null, (c) => c.expected_close_date ?? "—"],
  ["Submitted", null, (c) => c.submitted_at ? new Date(c.submitted_at).toLocaleString() : "—"],
  ["Order", null, (c) => c.submission_seq ? `#${c.submission_seq}` : "—"],
  ["Status", null, (c) => c.status + (c.protection_expires_at ? ` until ${c.protection_expires_at.slice(0, 10)}` : "")],
  ["Similarity", null, (c) => c.match ? `${Math.round(c.match.similarity * 100)}%` +
      (c.match.same_domain ? " · same domain" : "") +
      (c.match.calibrated_probability != null
        ? ` · ${Math.round(c.match.calibrated_probability * 100)}% same account in past reviews` : "")
      : (c.role === "under_review" ? "(this claim)" : "—")],
];

// The published rejection codes (with the sentence the partner reads) and the fields a case
// may be returned for edit with: schemas/review_reasons.py, served once per page.
let reviewReasons = null;
function loadReasons() {
  reviewReasons ??= api("/console/review-reasons.json").then((body) => {
    state.reasons = body.rejection_reasons; state.fields = body.editable_fields;
  }, (error) => { reviewReasons = null; throw error; });
  return reviewReasons;
}

// What kind of case this is, beyond its rule's code (an appeal is a reopened case).
const KINDS = {
  EXTENSION_REVIEW: "Extension request: grant or refuse more protection time",
  DIRECT_ENCROACHMENT: "Direct sales' deal on a protected account",
  FIRST_TO_REGISTER_CONFLICT: "Registered first, but another partner holds protection",
};
function kinds(item) {
  const labels = [KINDS[item.reason_code],
    (item.history || []).some((h) => h.action === "appealed") ? "Appeal: the partner appealed a rejection; the case is open again" : null];
  return labels.filter(Boolean).map((label) => el("span", { class: "kind" }, label));
}

async function openCase(id, { focus = true } = {}) {
  try {
    const [item] = await Promise.all([api(`/v1/conflicts/${encodeURIComponent(id)}`), loadReasons()]);
    state.current = item;
    renderCase(item);
    if (focus) $("case").focus();
  } catch (error) { guard(error); }
}

function renderCase(item) {
  const matched = new Set(item.claims.flatMap((c) => c.match?.matched_fields ?? []));
  const head = el("tr", {}, el("th", {}, ""), item.claims.map((c) =>
    el("th", { scope: "col" }, c.partner?.name ?? c.registration_id,
       c.role === "under_review" ? el("span", { class: "under-review" }, "under review") : null)));
  const body = ROWS.map(([label, field, value]) =>
    el("tr", { class: field && matched.has(field) ? "match" : "" },
       el("th", { scope: "row" }, label), item.claims.map((c) => el("td", {}, value(c)))));
  const countdown = el("span", { class: "countdown", id: "countdown" });
  const evidence = item.evidence || {};
  const children = [
    el("h2", {}, `${item.reason_code.replaceAll("_", " ").toLowerCase()} · ${item.product_line}`),
    el("p", { class: "kinds" }, kinds(item)),
    el("div", { class: "meta" },
       el("span", {}, "Rule: ", item.rule),
       el("span", {}, "Owner: ", item.owner_name ?? item.owner ?? "unassigned"),
       el("span", {}, "Opened ", new Date(item.opened_at).toLocaleString()),
       item.state === "open" ? countdown : el("span", {}, `Decided by ${item.decided_by_name ?? item.decided_by}: ${item.decision_reason}`),
       item.escalated_at ? el("span", { class: "overdue-flag" }, "escalated") : null),
    el("table", { class: "claims" }, el("thead", {}, head), el("tbody", {}, body)),
    evidence.direct_opportunity ? el("p", { class: "evidence" }, "Direct opportunity in the CRM: ",
      JSON.stringify(evidence.direct_opportunity)) : null,
    evidence.incumbent ? el("p", { class: "evidence" }, "Incumbent: ", JSON.stringify(evidence.incumbent)) : null,
    evidence.crm_company ? crmCompany(evidence.crm_company) : null,
    el("div", { class: "history" }, el("strong", {}, "History"),
       el("ol", {}, (item.history || []).map((h) => el("li", {},
         `${new Date(h.at).toLocaleString()} · ${h.action} by ${h.actor}`, h.reason ? ` — ${h.reason}` : "",
         h.detail?.reason_code ? ` · code ${h.detail.reason_code}` : "",
         h.detail?.fields ? ` · fields: ${h.detail.fields.join(", ")}` : "")))),
  ];
  if (item.reason_code === "DIRECT_ENCROACHMENT") children.splice(4, 1, directDeal(item));
  if (item.state !== "open") {
    if (item.resolution) children.push(el("p", { class: "resolution" }, "Resolution: ", item.resolution.replaceAll("_", " ")));
  } else if (item.reason_code === "DIRECT_ENCROACHMENT") children.push(resolutionForm(item));
  else if (item.reason_code === "EXTENSION_REVIEW") children.push(decisionForm(item));
  else children.push(decisionForm(item), transferForm(item), returnForm(item));
  $("case").replaceChildren(...children.filter(Boolean));
  clearInterval(state.countdown);
  if (item.state === "open") {
    const tick = () => { countdown.textContent = `SLA: ${dueText(item.due_at)}`;
                         countdown.classList.toggle("late", new Date(item.due_at) <= Date.now()); };
    tick(); state.countdown = setInterval(tick, 1000);
  }
}

function decisionForm(item) {
  const extension = item.reason_code === "EXTENSION_REVIEW";
  const radio = (value, label) => el("label", {},
    el("input", { type: "radio", name: "approve", value, required: true }), ` ${label}`);
  const choices = extension
    ? [radio(item.registration_id, "Grant the extension"), radio("", "Refuse the extension")]
    : [...item.claims.filter((c) => c.role === "under_review" || c.status === "approved").map((c) =>
         radio(c.registration_id, `Approve ${c.partner?.name ?? c.registration_id}${c.role === "under_review" ? "" : " (keep)"}`)),
       radio("", "Approve none (reject)")];
  // A rejection of the case's registration may carry a published code: the partner reads its
  // sentence (and may appeal), the reason below stays with sales ops.
  const sentence = el("p", { class: "sub", id: "reason-sentence", "aria-live": "polite" });
  const codes = el("select", { id: "reason-code", name: "reason_code", disabled: true,
                               "aria-describedby": "reason-sentence" },
    el("option", { value: "" }, "none (REVIEW_REJECTED)"),
    Object.keys(state.reasons).map((code) => el("option", { value: code }, code)));
  codes.addEventListener("change", () => { sentence.textContent = state.reasons[codes.value] ?? ""; });
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { class: "decide", id: "decide" },
    el("fieldset", {}, el("legend", {}, extension ? "Extension" : "Decision"), choices),
    extension ? null : el("label", { for: "reason-code" }, "Reason code for the partner"),
    extension ? null : codes, extension ? null : sentence,
    el("label", { for: "reason" }, "Reason (required)"),
    el("textarea", { id: "reason", name: "reason", required: true, maxlength: "2000" }),
    el("div", { class: "actions" },
       el("button", { type: "submit", class: "primary" }, "Decide"),
       el("button", { type: "button", onclick: () => assignToMe(item.id) }, "Assign to me")),
    error);
  form.addEventListener("change", () => {
    codes.disabled = new FormData(form).get("approve") === item.registration_id || !form.querySelector("[name=approve]:checked");
  });
  return onSubmit(form, error, item, (data) => api(`/v1/conflicts/${encodeURIComponent(item.id)}/decision`, {
    method: "POST", body: JSON.stringify({ approve: data.get("approve") || null, reason: data.get("reason"),
                                           reason_code: data.get("reason_code") || null }) }));
}

// A DIRECT_ENCROACHMENT case: direct sales' CRM deal against the protected registration.
// The CRM company the customer is (families and aliases): how it was recognised, its family.
function crmCompany(company) {
  const how = company.matched_by.replaceAll("_", " ");
  return el("p", { class: "evidence crm-company" }, "CRM company: ", company.name,
    company.relation ? ` (${company.relation})` : "",
    ` · recognised by ${how} "${company.matched_value}"`,
    company.family_root_name ? ` · family of ${company.family_root_name}, counted as ${company.family_policy.replaceAll("_", " ")}` : "");
}

function directDeal(item) {
  const deal = (item.evidence || {}).direct_opportunity || {};
  const customer = deal.customer || {};
  return el("p", { class: "evidence direct-deal" },
    el("strong", {}, "Direct sales' deal: "),
    `${customer.name ?? "?"}${customer.domain ? " (" + customer.domain + ")" : ""} · `,
    `${deal.crm_system} ${deal.opportunity_id} · product line ${deal.product_line === "*" ? "none named (every line)" : deal.product_line}`,
    ` · opened ${deal.opened_at ? new Date(deal.opened_at).toLocaleString() : "?"}`);
}

const RESOLUTIONS = [
  ["acknowledged", "Acknowledge"],
  ["partner_keeps", "Partner keeps the account (direct sales step back)"],
  ["direct_proceeds", "Direct sales proceed alongside"],
];

function resolutionForm(item) {
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { class: "decide", id: "decide" },
    el("fieldset", {}, el("legend", {}, "Resolution"),
       RESOLUTIONS.map(([value, label]) => el("label", {},
         el("input", { type: "radio", name: "resolution", value, required: true }), ` ${label}`))),
    el("label", { for: "reason" }, "Reason (required)"),
    el("textarea", { id: "reason", name: "reason", required: true, maxlength: "2000" }),
    el("div", { class: "actions" },
       el("button", { type: "submit", class: "primary" }, "Resolve"),
       el("button", { type: "button", onclick: () => assignToMe(item.id) }, "Assign to me")),
    error);
  return onSubmit(form, error, item, (data) => api(`/v1/conflicts/${encodeURIComponent(item.id)}/resolution`, {
    method: "POST", body: JSON.stringify({ resolution: data.get("resolution"), reason: data.get("reason") }) }));
}

// Submit a case's form: send it, then show the case (and the queue) as they now are.
function onSubmit(form, error, item, send) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await send(new FormData(form));
      await openCase(item.id, { focus: false }); reload(); loadStats();
    } catch (failure) {
      if (failure instanceof Unauthorized) return guard(failure);
      error.textContent = failure.message;
    }
  });
  return form;
}

// Return the case's registration to its partner for edit: the fields it may change, and why.
function returnForm(item) {
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { class: "decide", id: "return" },
    el("fieldset", {}, el("legend", {}, "Or return it to the partner for edit: fields they may change"),
       state.fields.map((field) => el("label", {}, el("input", { type: "checkbox", name: "fields", value: field }), ` ${field}`))),
    el("label", { for: "comments" }, "Comments for the partner"),
    el("textarea", { id: "comments", name: "comments", required: true, maxlength: "2000" }),
    el("div", { class: "actions" }, el("button", { type: "submit" }, "Return for edit")),
    error);
  return onSubmit(form, error, item, (data) => {
    if (!data.getAll("fields").length) throw new Error("Choose at least one field the partner may change.");
    return api(`/v1/conflicts/${encodeURIComponent(item.id)}/return`, { method: "POST",
      body: JSON.stringify({ comments: data.get("comments"), fields: data.getAll("fields") }) });
  });
}

const TRANSFER_REASONS = [
  ["first_to_register_conflict", "It was registered first"],
  ["customer_request", "The customer asked for it"],
  ["partner_merger", "The partners merged"],
];

// A case whose registration waits behind another partner's live protection on the same
// customer (the evidence files both under one protection key, e.g. FIRST_TO_REGISTER_CONFLICT):
// ops may move the protection to it (POST /v1/protections/transfer), which approves it and
// closes the case. A merely similar customer (another key) holds nothing this one could take.
function transferForm(item) {
  const evidence = item.evidence || {};
  const sameKey = new Set((evidence.matches || []).filter((m) => evidence.protection_key &&
    m.protection_key === evidence.protection_key).map((m) => m.registration_id));
  const subject = item.claims.find((c) => c.role === "under_review");
  const holder = item.claims.find((c) => sameKey.has(c.registration_id) && c.status === "approved" &&
    c.protection_expires_at && new Date(c.protection_expires_at) > Date.now());
  if (!holder || subject?.status !== "pending_review") return null;
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { class: "decide", id: "transfer" },
    el("p", {}, "Or move the protection ", el("strong", {}, holder.partner?.name ?? "?"), " holds (",
       el("code", {}, holder.registration_id), `, until ${holder.protection_expires_at.slice(0, 10)}) to this registration.`),
    el("label", { for: "transfer-reason" }, "Why"),
    el("select", { id: "transfer-reason", name: "reason", required: true },
       TRANSFER_REASONS.map(([value, label]) => el("option", { value }, label))),
    el("label", { for: "transfer-note" }, "Note for sales ops"),
    el("textarea", { id: "transfer-note", name: "note", required: true, maxlength: "2000" }),
    el("div", { class: "actions" }, el("button", { type: "submit" }, "Transfer protection to this registration")),
    error);
  return onSubmit(form, error, item, (data) => api("/v1/protections/transfer", { method: "POST",
    body: JSON.stringify({ from_registration_id: holder.registration_id, to_registration_id: item.registration_id,
                           reason: data.get("reason"), note: data.get("note") }) }));
}

async function assignToMe(id) {
  try {
    await api(`/v1/conflicts/${encodeURIComponent(id)}/assign`, { method: "POST", body: "{}" });
    await openCase(id, { focus: false }); reload();
  } catch (error) { guard(error); }
}

// --- Dashboard --------------------------------------------------------------------------------

function seconds(value) {
  if (value === null || value === undefined) return "—";
  if (value < 120) return `${value.toFixed(1)} s`;
  if (value < 7200) return `${(value / 60).toFixed(0)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

async function loadStats() {
  try {
    const n = await api("/v1/stats?days=30");
    const stat = (label, value) => el("div", { class: "stat" }, el("b", {}, value), el("span", {}, label));
    const base = n.partner_sourced_pipeline_base;
    const pipeline = money(base) + (base.unconverted.length ? ` (without ${base.unconverted.join(", ")})` : "");
    const today = n.registrations_per_day.at(-1);
    $("dashboard").replaceChildren(
      stat("open cases", n.queue.open), stat("overdue", n.queue.overdue),
      stat("oldest case", seconds(n.queue.oldest_age_seconds)), stat("SLA breaches (30 d)", n.sla_breaches),
      stat("approval rate", n.approval_rate === null ? "—" : `${Math.round(n.approval_rate * 100)}%`),
      stat("auto decision p50 / p95", `${seconds(n.time_to_decision.automatic.p50_seconds)} / ${seconds(n.time_to_decision.automatic.p95_seconds)}`),
      stat("manual decision p50 / p95", `${seconds(n.time_to_decision.manual.p50_seconds)} / ${seconds(n.time_to_decision.manual.p95_seconds)}`),
      stat("registrations, last day", today ? `${today.count} (${today.day})` : "0"),
      stat("partner-sourced pipeline", pipeline));
  } catch (error) { guard(error); }
}

// --- Partner figures (from deal_registration, drawn as SVG bar charts) ----------------------

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

// One horizontal bar chart: rows of {label, values: [{value, text, kind}]}, bars scaled to `max`.
function barChart(id, title, rows, max) {
  const rowHeight = 22, labelWidth = 140, width = 560, barArea = width - labelWidth - 170;
  const bars = rows.length ? rows : [{ label: "no partners yet", values: [] }];
  const height = bars.length * rowHeight * Math.max(1, ...bars.map((r) => r.values.length)) + 8;
  const chart = svg("svg", { id, class: "chart", role: "img", "aria-label": title, width, height,
                             viewBox: `0 0 ${width} ${height}` }, svg("title", {}, title));
  let y = 4;
  for (const row of bars) {
    chart.append(svg("text", { x: 0, y: y + 15, class: "label" }, row.label));
    for (const bar of row.values) {
      const length = max > 0 ? Math.max(1, (bar.value / max) * barArea) : 1;
      chart.append(svg("rect", { x: labelWidth, y: y + 3, width: length, height: rowHeight - 6,
                                 class: `bar ${bar.kind}`, "data-label": row.label, "data-kind": bar.kind,
                                 "data-value": bar.value }, svg("title", {}, `${row.label}: ${bar.text}`)));
      chart.append(svg("text", { x: labelWidth + length + 4, y: y + 15, class: "value" }, bar.text));
      y += rowHeight;
    }
  }
  return el("figure", { class: "chart-box" }, el("figcaption", {}, title), chart);
}

const pct = (rate) => (rate === null ? "—" : `${Math.round(rate * 100)}%`);

async function loadPartners() {
  try {
    const { figures, churn } = await api("/console/partners.json");
    const partners = [...figures.partners].sort((a, b) => b.registrations - a.registrations).slice(0, 10);
    const most = Math.max(0, ...partners.map((p) => p.registrations));
    const activity = barChart("chart-activity", "Registrations and wins per partner", partners.map((p) => ({
      label: p.partner_name, values: [
        { value: p.registrations, text: `${p.registrations} registered`, kind: "registered" },
        { value: p.won, text: `${p.won} won (${pct(p.registration_to_won)})`, kind: "won" }] })), most);
    const rates = barChart("chart-rates", "Approval rate and win rate per partner", partners.map((p) => ({
      label: p.partner_name, values: [
        { value: p.approval_rate ?? 0, text: `approved ${pct(p.approval_rate)}`, kind: "approved" },
        { value: p.win_rate ?? 0, text: `won ${pct(p.win_rate)}`, kind: "won" }] })), 1);
    const revenue = figures.tiers.map((t) => ({ tier: t.tier, value: Number(t.sourced_revenue.value),
                                                pipeline: Number(t.protected_pipeline.value) }));
    const top = Math.max(0, ...revenue.flatMap((t) => [t.value, t.pipeline]));
    const inBase = (value) => `${value.toLocaleString("en-US", { maximumFractionDigits: 0 })} ${figures.base_currency}`;
    const tiers = barChart("chart-tiers", `Sourced revenue and protected pipeline by tier (${figures.base_currency})`,
      revenue.map((t) => ({ label: t.tier, values: [
        { value: t.value, text: `${inBase(t.value)} sourced`, kind: "revenue" },
        { value: t.pipeline, text: `${inBase(t.pipeline)} protected`, kind: "pipeline" }] })), top);
    const flagged = churn.filter((signal) => signal.flagged);
    const warnings = el("div", { class: "churn", id: "churn" }, el("h3", {}, "Slowing down"),
      flagged.length ? el("ul", {}, flagged.map((signal) => el("li", {},
        `${signal.partner_name}: ${signal.recent_registrations} in the last 30 days, against ${signal.baseline_per_window} before`)))
        : el("p", { class: "empty" }, "No partner is slowing down."));
    $("partners").replaceChildren(activity, rates, tiers, warnings);
  } catch (error) {
    if (error instanceof Unauthorized) return guard(error);
    $("partners").replaceChildren(el("p", { class: "empty" }, `Partner figures unavailable: ${error.message}`));
  }
}

// --- Keyboard ---------------------------------------------------------------------------------

document.addEventListener("keydown", (event) => {
  if ($("app").hidden || event.ctrlKey || event.metaKey || event.altKey) return;
  const active = document.activeElement;
  const typing = ["TEXTAREA", "SELECT"].includes(active?.tagName) ||
    (active?.tagName === "INPUT" && !["radio", "checkbox"].includes(active.type));
  if (typing) { if (event.key === "Escape") document.activeElement.blur(); return; }
  const index = state.cases.findIndex((c) => c.id === state.selected);
  if (event.key === "j" || event.key === "ArrowDown") { select(Math.min(index + 1, state.cases.length - 1), false); event.preventDefault(); }
  else if (event.key === "k" || event.key === "ArrowUp") { select(Math.max(index - 1, 0), false); event.preventDefault(); }
  else if (event.key === "Enter" && state.selected) { openCase(state.selected); }
  else if (event.key === "a" && state.current?.state === "open") { assignToMe(state.current.id); }
  else if (event.key === "r" && $("reason")) { $("reason").focus(); event.preventDefault(); }
  else if (event.key === "/") { $("filters").querySelector("select, input").focus(); event.preventDefault(); }
});

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in").addEventListener("submit", (event) => { event.preventDefault(); signIn($("key").value.trim()); });
  $("sign-out").addEventListener("click", () => signOut());
  $("filters").addEventListener("change", reload);
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); reload(); });
  $("more").addEventListener("click", more);
  if (state.key) signIn(state.key); else $("sign-in").hidden = false;
});
