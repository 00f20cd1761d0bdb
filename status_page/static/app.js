// The status page: reads the ui/data JSON routes and builds the DOM with textContent only, so
// text from requesters and the platform (labels, errors) is always shown as text, never markup.
"use strict";

(function () {
  const BASE = new URL(document.currentScript.src).pathname.replace(/\/assets\/app\.js$/, "");
  const DATA = BASE + "/data";
  const params = new URLSearchParams(location.search);
  const POLL_MS = pollMs(params.get("poll"));
  const SLOW_POLL_MS = Math.max(POLL_MS, 30000);
  const TERMINAL = new Set(["Succeeded", "Failed", "NeedsAttention", "Rejected", "Cancelled"]);
  const HISTORY_PAGE = 50;

  const $ = (id) => document.getElementById(id);
  const state = {
    environments: [], names: new Map(), noDataBackups: false,
    history: [], continuation: null, pagedBack: false, filters: {}, detailId: null,
  };

  // ---------------------------------------------------------------------------- small helpers

  // How often running operations are re-read: ?poll=<ms> for a faster page, from 500 ms to a
  // minute. The upper bound matters: setTimeout runs a delay above 2^31-1 ms at once, so an
  // unbounded ?poll=1e10 would re-read back to back.
  function pollMs(text) {
    return Math.min(60000, Math.max(500, Number(text) || 3000));
  }

  // What reorders or hides text (shared/inputs.py: REORDERING, INVISIBLE, DIRECTION_MARKS; a
  // test holds these classes to those): requests cannot carry them, but environment names from
  // the platform and records older than that rule can, and "Fabrikam \u202edorP" would show as
  // "Fabrikam Prod". Shown text leaves them out (direction marks only where no right-to-left
  // letter needs them), so a name reads as it is stored.
  const REORDERING_OR_INVISIBLE =
    /[\u202a-\u202e\u2066-\u2069\u00ad\u180e\u200b\u2060-\u2064\u206a-\u206f\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}]/gu;
  const DIRECTION_MARKS = /[\u200e\u200f\u061c]/g;
  // Letters of the right-to-left scripts (Unicode's R and AL classes, by block).
  const RIGHT_TO_LEFT = /[\u0590-\u05ff\u0600-\u061b\u061d-\u08ff\ufb1d-\ufdff\ufe70-\ufefe\u{10800}-\u{10fff}\u{1e800}-\u{1efff}]/u;

  function shown(value) {
    const text = String(value).replace(REORDERING_OR_INVISIBLE, "");
    return RIGHT_TO_LEFT.test(text) ? text : text.replace(DIRECTION_MARKS, "");
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = shown(value);
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(shown(child)) : child);
    }
    return node;
  }

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
  }

  function took(start, end) {
    if (!start || !end) return "";
    const seconds = Math.max(0, (new Date(end) - new Date(start)) / 1000);
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }

  function badge(status) {
    return el("span", { className: "badge " + String(status || "").replace(/[^A-Za-z]/g, ""),
                        text: status || "?" });
  }

  function envName(id, given) {
    return given || state.names.get(String(id || "").toLowerCase()) || id || "";
  }

  function opLink(id) {
    return el("a", { href: "#op=" + encodeURIComponent(id), className: "id", text: id });
  }

  class HttpProblem extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function getJson(path) {
    const response = await fetch(DATA + path, { headers: { Accept: "application/json" },
                                                credentials: "same-origin" });
    if (!response.ok) {
      let message = response.status + " " + response.statusText;
      try { message = (await response.json()).error.message || message; } catch (e) { /* text */ }
      throw new HttpProblem(response.status, message);
    }
    return response.json();
  }

  function showProblem(error) {
    const box = $("problem");
    if (!error) { box.hidden = true; box.textContent = ""; return; }
    box.textContent = error.status === 401 || error.status === 403
      ? "Not signed in: " + error.message : "Could not refresh: " + error.message;
    box.hidden = false;
  }

  function refreshed() {
    $("refreshed").textContent = "Updated " + new Date().toISOString().slice(11, 19) + " UTC";
  }

  function every(ms, task) {
    const run = async () => {
      try { await task(); showProblem(null); refreshed(); } catch (error) { showProblem(error); }
      setTimeout(run, ms);
    };
    run();
  }

  // ---------------------------------------------------------------------------- environments

  async function loadEnvironments() {
    const data = await getJson("/environments");
    state.environments = data.environments;
    for (const e of data.environments) {
      if (e.environmentName) state.names.set(e.environmentId.toLowerCase(), e.environmentName);
    }
    const points = await Promise.all(data.environments.map(newestDataBackup));
    const rows = data.environments.map((e, i) => environmentRow(e, points[i]));
    $("environments").tBodies[0].replaceChildren(...(rows.length ? rows : [
      el("tr", {}, el("td", { colspan: 6, className: "muted",
        text: "No environment in scope yet: the backup timer lists them on its first round." })),
    ]));
    fillEnvironmentFilter();
  }

  async function newestDataBackup(environment) {
    if (state.noDataBackups) return null;
    try {
      const data = await getJson("/data-backups?environmentId=" +
                                 encodeURIComponent(environment.environmentId));
      return (data.points || [])[0] || null;
    } catch (error) {
      if (error.status === 404) { state.noDataBackups = true; return null; }
      throw error;
    }
  }

  function environmentRow(e, point) {
    const b = e.newestBackup;
    const expiry = b ? b.expiry : "none";
    const flag = { expiring: "expiring soon", expired: "expired" }[expiry];
    const expires = el("td", {}, b ? when(b.backupExpiryDateTime) + " " : "",
      flag ? el("span", { className: "badge " + expiry, text: flag }) : null);
    return el("tr", { className: expiry === "expiring" || expiry === "expired" ? expiry : null,
                      "data-environment-id": e.environmentId },
      el("td", {}, el("strong", { text: envName(e.environmentId, e.environmentName) }),
        el("br"), el("span", { className: "id muted", text: e.environmentId })),
      el("td", { text: e.environmentType || "" }),
      b ? el("td", {}, el("span", { text: b.label || b.backupId || "" }), el("br"), opLink(b.operationId))
        : el("td", { className: "muted", text: "no backup yet" }),
      el("td", { text: b ? when(b.backupPointDateTime) : "" }),
      expires,
      el("td", point ? { text: when(point.pointTime) + (point.expiresAt ? " (expires " + when(point.expiresAt) + ")" : "") }
                     : { className: "muted", text: "no data backups" }));
  }

  function fillEnvironmentFilter() {
    const select = $("f-env");
    const chosen = select.value;
    const options = [...state.names.entries()].sort((a, b) => a[1].localeCompare(b[1]))
      .map(([id, name]) => el("option", { value: id, text: name + " (" + id.slice(0, 8) + "…)" }));
    select.replaceChildren(el("option", { value: "", text: "All environments" }), ...options);
    select.value = chosen;
  }

  // ---------------------------------------------------------------------------- alerts

  const ALERT_TITLES = {
    still_sandbox: "Still a Sandbox", backup_expiring: "Backup about to expire",
    data_backup_overdue: "Data backup overdue",
  };

  async function loadAlerts() {
    const data = await getJson("/alerts");
    const items = data.alerts.map((a) => el("li", { "data-alert": a.type },
      el("strong", { text: (ALERT_TITLES[a.type] || a.type) + ": " + envName(a.environmentId, a.environmentName) }),
      el("div", { text: a.message }),
      a.nextSteps && a.nextSteps.length ? el("ol", {}, ...a.nextSteps.map((s) => el("li", { text: s }))) : null,
      a.operationId ? el("div", {}, "Operation ", opLink(a.operationId)) : null));
    // Cut short, an empty list is not "all clear": say so instead.
    if (data.complete === false) {
      items.push(el("li", { className: "none", "data-alert": "incomplete",
        text: "Not every check could read all of history it needed; more alerts may be due." }));
    }
    $("alerts").replaceChildren(...(items.length ? items
      : [el("li", { className: "none", text: "No open alerts." })]));
  }

  // ---------------------------------------------------------------------------- running now

  function stepList(steps) {
    return el("ol", { className: "steps" }, ...(steps || []).map((s) =>
      el("li", { "data-step": s.name, "data-status": s.status },
        el("span", { text: s.name.replace(/_/g, " ") }), badge(s.status))));
  }

  async function loadRunning() {
    const data = await getJson("/active-operations");
    const cards = data.operations.map((op) => {
      if (op.environmentName) state.names.set(op.environmentId.toLowerCase(), op.environmentName);
      return el("article", { className: "card", "data-operation-id": op.operationId,
                             "data-status": op.status },
        el("div", { className: "card-head" },
          el("h3", { text: op.kind + " of " + envName(op.environmentId, op.environmentName) }),
          badge(op.status)),
        el("div", { className: "muted" }, "Started " + when(op.createdAt) + " · ", opLink(op.operationId)),
        op.label ? el("div", { text: "Label: " + op.label }) : null,
        stepList(op.steps));
    });
    $("running").replaceChildren(...(cards.length ? cards
      : [el("p", { className: "empty", text: "Nothing is running." })]));
  }

  // ---------------------------------------------------------------------------- history

  function readFilters() {
    const toTime = (v) => (v ? new Date(v + "Z").getTime() : null);
    return {
      environmentId: $("f-env").value, kind: $("f-kind").value, status: $("f-status").value,
      from: toTime($("f-from").value), to: toTime($("f-to").value),
    };
  }

  function matches(op, f) {
    const created = new Date(op.createdAt).getTime();
    return (!f.status || op.status === f.status) && (f.from === null || created >= f.from) &&
      (f.to === null || created <= f.to);
  }

  // Each fresh load supersedes the ones still in flight (a poll, a filter change), so their late
  // answers never mix into what is shown.
  let historyLoads = 0;

  // Status and time are filtered here, on the pages loaded, so a load reads on (at most
  // MAX_PAGES_PER_LOAD pages) until it has a page's worth of matches or history ends.
  const MAX_PAGES_PER_LOAD = 10;

  async function loadHistory(more) {
    const f = state.filters;
    if (more) state.pagedBack = true;  // the poll leaves the history alone from now on
    const load = more ? historyLoads : ++historyLoads;
    let continuation = more ? state.continuation : null;
    const loaded = more ? state.history.slice() : [];
    let found = 0;
    for (let pages = 0; pages < MAX_PAGES_PER_LOAD; pages++) {
      const query = new URLSearchParams({ limit: String(HISTORY_PAGE) });
      if (f.environmentId) query.set("environmentId", f.environmentId);
      if (f.kind) query.set("kind", f.kind);
      if (continuation) query.set("continuationToken", continuation);
      const page = await getJson("/operations?" + query);
      if (load !== historyLoads) return;
      loaded.push(...page.operations);
      found += page.operations.filter((op) => matches(op, f)).length;
      // Newest first: once a page reaches before "from", older pages cannot match.
      const last = page.operations[page.operations.length - 1];
      const pastFrom = f.from !== null && last && new Date(last.createdAt).getTime() < f.from;
      continuation = pastFrom ? null : page.continuationToken;
      // A page can come back short, even empty, with a token: the server bounds each read.
      if (!continuation || found >= HISTORY_PAGE) break;
    }
    state.history = loaded;
    state.continuation = continuation;
    state.pagedBack = more || loaded.length > HISTORY_PAGE;
    renderHistory();
  }

  function renderHistory() {
    const f = state.filters;
    const listed = state.history.filter((op) => matches(op, f));
    for (const op of state.history) {
      if (op.environmentName) state.names.set(op.environmentId.toLowerCase(), op.environmentName);
    }
    $("history").tBodies[0].replaceChildren(...(listed.length ? listed.map((op) =>
      el("tr", { "data-operation-id": op.operationId, "data-status": op.status, "data-kind": op.kind,
                 "data-environment-id": op.environmentId },
        el("td", { text: when(op.createdAt) }),
        el("td", { text: op.kind }),
        el("td", { text: envName(op.environmentId, op.environmentName) }),
        el("td", { text: op.label || "" }),
        el("td", {}, badge(op.status)),
        el("td", {}, opLink(op.operationId)))) : [
      el("tr", {}, el("td", { colspan: 6, className: "muted", text: "No operation matches." })),
    ]));
    $("history-count").textContent = listed.length + " shown of " + state.history.length + " loaded" +
      (state.continuation ? "; more are older" : "");
    $("more").hidden = !state.continuation;
    fillEnvironmentFilter();
  }

  // ---------------------------------------------------------------------------- one operation

  let detailTimer = null;

  async function loadDetail(focus) {
    const id = state.detailId;
    if (!id) return;
    clearTimeout(detailTimer);
    const path = "/operations/" + encodeURIComponent(id);
    const [op, advice] = await Promise.all([getJson(path), getJson(path + "/next-steps")]);
    if (state.detailId !== id) return;
    renderDetail(op, advice.nextSteps || []);
    if (focus) $("detail-title").focus();
    if (!TERMINAL.has(op.status)) {
      detailTimer = setTimeout(() => loadDetail(false).catch(showProblem), POLL_MS);
    }
  }

  function renderDetail(op, nextSteps) {
    const section = $("detail");
    section.hidden = false;
    section.dataset.operationId = op.operationId;
    section.dataset.status = op.status;
    $("detail-title").textContent = shown(op.kind + " of " + envName(op.environmentId, op.environmentName));
    const facts = [
      ["Status", badge(op.status)], ["Operation id", op.operationId],
      ["Environment", envName(op.environmentId, op.environmentName) + " (" + op.environmentId + ")"],
      ["Source environment", op.sourceEnvironmentId], ["Label", op.label], ["Backup id", op.backupId],
      ["Restore point", op.restorePointDateTime], ["Requested by", op.requestedBy],
      ["Reason", op.reason], ["Notes", op.notes], ["Request id", op.requestId],
      ["Created", when(op.createdAt)], ["Updated", when(op.updatedAt)], ["Ended", when(op.endedAt)],
      ["Took", took(op.createdAt, op.endedAt)],
    ].filter(([, v]) => v);
    $("detail-facts").replaceChildren(...facts.flatMap(([k, v]) =>
      [el("dt", { text: k }), el("dd", {}, typeof v === "string" ? el("span", { text: v }) : v)]));
    const parts = [];
    if (op.error) {
      parts.push(el("div", { className: "error", id: "detail-error-text" },
        el("h3", { text: "Error" + (op.error.code ? " (" + op.error.code + ")" : "") }),
        el("p", { text: op.error.message || "" }),
        op.error.fields ? el("ul", {}, ...Object.entries(op.error.fields).map(([k, v]) =>
          el("li", { text: k + ": " + v }))) : null));
    }
    if (nextSteps.length) {
      parts.push(el("div", { className: "advice", id: "detail-next-steps" },
        el("h3", { text: "What to do next" }),
        el("ol", {}, ...nextSteps.map((s) => el("li", { text: s })))));
    }
    $("detail-error").replaceChildren(...parts);
    $("detail-steps").tBodies[0].replaceChildren(...(op.steps || []).map((s) =>
      el("tr", { "data-step": s.name, "data-status": s.status },
        el("td", { text: s.name.replace(/_/g, " ") }), el("td", {}, badge(s.status)),
        el("td", { text: when(s.startedAt) }), el("td", { text: when(s.endedAt) }),
        el("td", { text: took(s.startedAt, s.endedAt) }), el("td", { text: s.detail || "" }),
        el("td", { className: "id", text: [s.platformOperationId, ...(s.requestIds || [])].filter(Boolean).join(" ") }))));
  }

  // An address typed or pasted by hand may not be valid percent-encoding (#op=%E0): its id is
  // then taken as written, and the page answers as for any unknown operation.
  function idFromHash(text) {
    try { return decodeURIComponent(text); } catch (error) { return text; }
  }

  function route() {
    const match = /^#op=(.+)$/.exec(location.hash);
    state.detailId = match ? idFromHash(match[1]) : null;
    if (!state.detailId) {
      clearTimeout(detailTimer);
      $("detail").hidden = true;
      return;
    }
    loadDetail(true).catch(showProblem);
  }

  // ---------------------------------------------------------------------------- wiring

  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.filters = readFilters();
    loadHistory(false).catch(showProblem);
  });
  $("filters").addEventListener("reset", () => {
    setTimeout(() => { state.filters = readFilters(); loadHistory(false).catch(showProblem); });
  });
  $("more").addEventListener("click", () => loadHistory(true).catch(showProblem));
  $("detail-close").addEventListener("click", (event) => {
    event.preventDefault();
    history.pushState(null, "", location.pathname + location.search);
    route();
    $("main").focus();
  });
  window.addEventListener("hashchange", route);

  state.filters = readFilters();
  every(SLOW_POLL_MS, () => Promise.all([loadEnvironments(), loadAlerts()]));
  every(POLL_MS, loadRunning);
  // History refreshes with the running operations only while nothing older has been loaded, so
  // a person paging back is not thrown to the top.
  every(POLL_MS, () => (state.pagedBack ? Promise.resolve() : loadHistory(false)));
  route();
})();
