// The llmproxy admin page. Plain JavaScript, no build step, no outside resources.
//
// The admin password lives in sessionStorage (or localStorage with "remember") and
// goes out only as "Authorization: Bearer" on calls to the page's own /api/*; it is
// never put in a URL. All text reaches the DOM through textContent, never innerHTML,
// so nothing the proxy stores (a cookie, a reason, a setting) can inject markup.
"use strict";
(function () {
  const STORE_KEY = "llmproxy.admin";
  const DEFAULT_MODEL = "claude-sonnet-4-6";
  const DASHBOARD_EVERY_MS = 5000;
  const COOKIES_EVERY_MS = 15000;

  const state = {
    password: null,
    remember: false,
    lang: "en",
    view: null,
    serverOffset: 0, // proxy clock minus this browser's clock, in seconds
    config: null, // last GET /api/config?describe=true answer
    lastResults: null, // last POST /api/cookie answer, redrawn on a language switch
    timers: [],
    revealed: new Set(),
  };

  // --- small helpers ---------------------------------------------------------------

  const $ = (sel) => document.querySelector(sel);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key in node && typeof value !== "string") node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function t(key, vars) {
    const table = window.LLMPROXY_I18N || {};
    let text = (table[state.lang] && table[state.lang][key]) || (table.en && table.en[key]) || key;
    for (const [name, value] of Object.entries(vars || {})) {
      text = text.split("{" + name + "}").join(String(value));
    }
    return text;
  }

  function fieldLabel(name) {
    const f = window.LLMPROXY_FIELDS || {};
    return (f[state.lang] && f[state.lang][name]) || (f.en && f.en[name]) || name;
  }

  function fieldDoc(name, englishDoc) {
    const f = window.LLMPROXY_FIELDS || {};
    if (state.lang === "zh" && f.zh_doc && f.zh_doc[name]) return f.zh_doc[name];
    return englishDoc;
  }

  function serverNow() {
    return Date.now() / 1000 + state.serverOffset;
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const d = Math.floor(seconds / 86400);
    const h = Math.floor((seconds % 86400) / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    if (d) return `${d}d ${h}h ${m}m`;
    if (h) return `${h}h ${m}m ${s}s`;
    if (m) return `${m}m ${s}s`;
    return `${s}s`;
  }

  function localTime(epoch) {
    return new Date(epoch * 1000).toLocaleString(state.lang === "zh" ? "zh-CN" : undefined);
  }

  function toast(text, kind) {
    const box = $("#toast");
    box.textContent = text;
    box.className = "toast " + (kind || "");
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
  }

  async function copyText(text) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
      } else {
        // Plain http on a LAN address is not a secure context: no Clipboard API there.
        const area = el("textarea", { class: "offscreen", readonly: true });
        area.value = text;
        document.body.append(area);
        area.select();
        const ok = document.execCommand("copy");
        area.remove();
        if (!ok) throw new Error("copy refused");
      }
      toast(t("copied"), "ok");
    } catch (e) {
      toast(t("copy_failed"), "bad");
    }
  }

  function confirmDialog(text) {
    const dialog = $("#confirm-dialog");
    $("#confirm-text").textContent = text;
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.returnValue = "";
      dialog.showModal();
    });
  }

  // --- talking to the proxy --------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message, data) { super(message); this.status = status; this.data = data; }
  }

  // Relative paths, so the page works when the proxy is mounted under a prefix.
  async function api(method, path, body, password) {
    const headers = { Authorization: "Bearer " + (password || state.password || "") };
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, t("network_error", { e: e.message }), null);
    }
    const text = await response.text();
    let data = null;
    if (text) { try { data = JSON.parse(text); } catch (e) { data = text; } }
    const stamp = response.headers.get("x-cache-timestamp");
    if (stamp) state.serverOffset = Number(stamp) - Date.now() / 1000;
    if (!response.ok) {
      const message = data && typeof data === "object" && data.error ? String(data.error) : response.status + " " + response.statusText;
      const error = new ApiError(response.status, message, data);
      error.retryAfter = Number(response.headers.get("retry-after") || 0);
      if (!password && (response.status === 401 || response.status === 429)) {
        logout(response.status === 401 ? t("session_ended") : t("login_throttled", { s: error.retryAfter || "?" }));
      }
      throw error;
    }
    return { status: response.status, data, headers: response.headers };
  }

  // --- language, theme --------------------------------------------------------------

  function applyLanguage() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.title = t("app_title");
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
    for (const node of document.querySelectorAll("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
    renderCookieResults();
    if (state.view && state.password) show(state.view, true);
  }

  function initPreferences() {
    const lang = localStorage.getItem("llmproxy.lang");
    state.lang = lang || ((navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en");
    const theme = localStorage.getItem("llmproxy.theme");
    if (theme) document.documentElement.dataset.theme = theme;
    $("#lang-toggle").addEventListener("click", () => {
      state.lang = state.lang === "zh" ? "en" : "zh";
      localStorage.setItem("llmproxy.lang", state.lang);
      applyLanguage();
    });
    $("#theme-toggle").addEventListener("click", () => {
      const current = document.documentElement.dataset.theme ||
        (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
      const next = current === "dark" ? "light" : "dark";
      document.documentElement.dataset.theme = next;
      localStorage.setItem("llmproxy.theme", next);
    });
    applyLanguage();
  }

  // --- login, logout ---------------------------------------------------------------

  function savedPassword() {
    const session = sessionStorage.getItem(STORE_KEY);
    if (session) return { password: session, remember: false };
    const local = localStorage.getItem(STORE_KEY);
    if (local) return { password: local, remember: true };
    return null;
  }

  function storePassword(password, remember) {
    state.password = password;
    state.remember = remember;
    sessionStorage.removeItem(STORE_KEY);
    localStorage.removeItem(STORE_KEY);
    (remember ? localStorage : sessionStorage).setItem(STORE_KEY, password);
  }

  function logout(message) {
    state.password = null;
    state.config = null;
    state.lastResults = null;
    renderCookieResults();
    state.revealed.clear();
    sessionStorage.removeItem(STORE_KEY);
    localStorage.removeItem(STORE_KEY);
    stopTimers();
    $("#tabs").hidden = true;
    $("#logout").hidden = true;
    for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== "view-login";
    state.view = null;
    const box = $("#login-message");
    box.textContent = message || "";
    box.className = "message" + (message ? " bad" : "");
    $("#login-password").value = "";
    $("#login-password").focus();
  }

  async function login(password, remember, quiet) {
    const box = $("#login-message");
    try {
      await api("GET", "api/auth", undefined, password);
    } catch (e) {
      if (quiet) { logout(e.status === 401 ? t("session_ended") : ""); return; }
      box.className = "message bad";
      if (e.status === 401) box.textContent = t("login_wrong");
      else if (e.status === 429) box.textContent = t("login_throttled", { s: e.retryAfter || "?" });
      else box.textContent = t("login_failed", { e: e.message });
      return;
    }
    storePassword(password, remember);
    box.textContent = "";
    $("#login-password").value = "";
    $("#tabs").hidden = false;
    $("#logout").hidden = false;
    route();
  }

  // --- views -------------------------------------------------------------------------

  const VIEWS = ["dashboard", "cookies", "settings", "gemini", "endpoints"];

  function stopTimers() {
    for (const id of state.timers) clearInterval(id);
    state.timers = [];
  }

  function every(ms, fn) {
    state.timers.push(setInterval(() => { if (!document.hidden) fn(); }, ms));
  }

  function route() {
    const name = location.hash.replace("#", "");
    show(VIEWS.includes(name) ? name : "dashboard");
  }

  function show(name, rerender) {
    if (!state.password) return;
    if (state.view === name && !rerender) return;
    stopTimers();
    state.view = name;
    for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== "view-" + name;
    for (const link of document.querySelectorAll("#tabs a")) {
      link.classList.toggle("active", link.dataset.view === name);
      if (link.dataset.view === name) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
    }
    const loaders = { dashboard: loadDashboard, cookies: loadCookies, settings: loadSettings, gemini: loadGemini, endpoints: loadEndpoints };
    loaders[name]().catch(report);
    if (name === "dashboard") every(DASHBOARD_EVERY_MS, () => loadDashboard().catch(report));
    if (name === "gemini") every(1000, tickCountdowns);
    if (name === "cookies") {
      every(1000, tickCountdowns);
      every(COOKIES_EVERY_MS, () => loadCookies().catch(report));
    }
  }

  function report(e) {
    if (e && (e.status === 401 || e.status === 429)) return; // already logged out
    toast(t("error_generic", { e: e && e.message ? e.message : e }), "bad");
  }

  // --- dashboard ---------------------------------------------------------------------

  async function loadDashboard() {
    const { data } = await api("GET", "api/status");
    state.serverOffset = data.now - Date.now() / 1000;
    $("#version").textContent = "v" + data.version;
    $("#dash-version").textContent = `v${data.version} · Python ${data.python}`;
    $("#dash-uptime").textContent = duration(data.uptime_seconds);
    $("#dash-served").textContent = data.requests.served;
    $("#dash-inflight").textContent = data.requests.in_flight;
    $("#dash-valid").textContent = data.cookies.valid;
    $("#dash-exhausted").textContent = data.cookies.exhausted;
    $("#dash-invalid").textContent = data.cookies.invalid;
    $("#dash-next-reset").textContent = data.cookies.next_reset
      ? t("dash_next_reset", { t: duration(data.cookies.next_reset - data.now) }) : "";
    const gemini = $("#dash-gemini");
    gemini.replaceChildren();
    if (data.gemini) {
      for (const [pool, label] of [["keys", "gemini_keys"], ["vertex", "vertex_title"]]) {
        const c = data.gemini[pool];
        if (!c) continue;
        gemini.append(el("div", { class: "pool-line" }, el("span", { class: "muted small", text: t(label) }),
          el("span", { class: "count ok" }, el("b", { text: String(c.valid) }), " ", t("valid")),
          el("span", { class: "count warn" }, el("b", { text: String(c.exhausted) }), " ", t("exhausted")),
          el("span", { class: "count bad" }, el("b", { text: String(c.invalid) }), " ", t("invalid"))));
      }
    } else {
      gemini.append(el("span", { class: "muted", text: t("dash_gemini_none") }));
    }
    const errors = $("#dash-errors");
    errors.replaceChildren();
    const kinds = Object.entries(data.errors || {});
    if (!kinds.length) errors.append(el("li", { class: "muted", text: t("dash_no_errors") }));
    for (const [kind, count] of kinds) errors.append(el("li", {}, el("b", { text: String(count) }), " ", kind));
    const config = $("#dash-config");
    config.replaceChildren();
    const c = data.config;
    config.append(el("li", { text: c.path ? t("dash_config_file", { p: c.path }) : t("dash_memory_only") }));
    if (c.no_fs) config.append(el("li", { class: "warn-text", text: t("dash_no_fs") }));
    else if (c.path) config.append(el("li", { text: c.unsaved_changes ? t("dash_unsaved") : t("dash_saved") }));
    if (c.restart_pending && c.restart_pending.length) {
      config.append(el("li", { class: "warn-text", text: t("dash_restart_pending", { keys: c.restart_pending.join(", ") }) }));
    }
    const body = $("#dash-routes tbody");
    body.replaceChildren();
    const routes = Object.entries(data.routes || {});
    if (!routes.length) body.append(el("tr", {}, el("td", { colspan: "6", class: "muted", text: t("dash_no_routes") })));
    for (const [name, r] of routes) {
      body.append(el("tr", {},
        el("td", { class: "mono", text: name }), el("td", { text: String(r.count) }),
        el("td", { text: r.mean_ms + " ms" }), el("td", { text: r.p50_ms + " ms" }),
        el("td", { text: r.p99_ms + " ms" }), el("td", { text: r.max_ms + " ms" })));
    }
    $("#dash-updated").textContent = t("updated_at", { t: new Date().toLocaleTimeString() });
  }

  // --- cookies -----------------------------------------------------------------------

  async function addCookies(event) {
    event.preventDefault();
    const input = $("#cookie-input");
    const lines = input.value.split("\n");
    const list = $("#cookie-results");
    const summary = $("#cookie-summary");
    list.replaceChildren();
    summary.textContent = "";
    if (!input.value.trim()) return;
    const button = $("#cookie-add");
    button.disabled = true;
    let data;
    try {
      ({ data } = await api("POST", "api/cookie", { cookies: lines }));
    } catch (e) {
      if (!e.data || !e.data.results) { summary.textContent = e.message; summary.className = "message bad"; return; }
      data = e.data;
    } finally {
      button.disabled = false;
    }
    state.lastResults = data;
    renderCookieResults();
    if (!data.invalid) input.value = "";
    await loadCookies();
  }

  // Kept apart from addCookies so a language switch can redraw the last answer.
  function renderCookieResults() {
    const data = state.lastResults;
    const list = $("#cookie-results");
    const summary = $("#cookie-summary");
    list.replaceChildren();
    summary.textContent = "";
    if (!data) return;
    for (const r of data.results) {
      const label = r.status === "added" ? t("res_added")
        : r.status === "already_known" ? t("res_already_known", { state: t(r.state) }) : t("res_invalid");
      const kind = r.status === "added" ? "ok" : r.status === "already_known" ? "warn" : "bad";
      list.append(el("li", { class: "result " + kind, "data-status": r.status },
        el("span", { class: "line", text: t("res_line", { n: r.line }) }),
        el("b", { text: label }),
        r.cookie ? el("span", { class: "mono", text: r.cookie }) : null,
        r.status === "invalid" ? el("span", { class: "muted", text: r.message }) : null));
    }
    summary.textContent = t("res_summary", { added: data.added, known: data.already_known, invalid: data.invalid });
    summary.className = "message " + (data.invalid ? "warn" : "ok");
  }

  async function loadCookies() {
    const { data } = await api("GET", "api/cookies");
    for (const name of ["valid", "exhausted", "invalid"]) {
      const entries = data[name] || [];
      $("#count-" + name).textContent = entries.length;
      const list = $("#list-" + name);
      list.replaceChildren(...(entries.length ? entries.map((c) => cookieRow(c, name)) : [el("li", { class: "muted empty", text: t("cookies_empty") })]));
    }
    tickCountdowns();
  }

  function cookieRow(c, listName) {
    const shown = state.revealed.has(c.cookie);
    const text = el("code", { class: "cookie-text", text: shown ? c.cookie : c.masked });
    const reveal = el("button", { type: "button", class: "small-btn", text: shown ? t("hide") : t("reveal") });
    reveal.addEventListener("click", () => {
      const now = !state.revealed.has(c.cookie);
      if (now) state.revealed.add(c.cookie); else state.revealed.delete(c.cookie);
      text.textContent = now ? c.cookie : c.masked;
      reveal.textContent = now ? t("hide") : t("reveal");
    });
    const copy = el("button", { type: "button", class: "small-btn", text: t("copy"), onclick: () => copyText(c.cookie) });
    const del = el("button", { type: "button", class: "small-btn danger", text: t("delete"), "data-action": "delete" });
    del.addEventListener("click", async () => {
      if (!(await confirmDialog(t("confirm_delete", { c: c.masked })))) return;
      try {
        await api("DELETE", "api/cookie", { cookie: c.cookie });
        state.revealed.delete(c.cookie);
        toast(t("deleted", { c: c.masked }), "ok");
      } catch (e) { report(e); }
      await loadCookies().catch(report);
    });
    const facts = [];
    if (c.account && c.account !== "unknown") facts.push(el("span", { class: "badge", text: c.account }));
    if (c.has_token) facts.push(el("span", { class: "badge", text: t("has_token") }));
    if (c.in_flight) facts.push(el("span", { class: "badge ok", text: `${t("in_flight")} ${c.in_flight}` }));
    if (c.denied_routes && c.denied_routes.length) facts.push(el("span", { class: "badge warn", text: t("denied", { r: c.denied_routes.join(", ") }) }));
    if (listName === "exhausted" && c.reset_time) {
      facts.push(el("span", { class: "countdown", "data-until": String(c.reset_time) }));
    }
    const reason = listName !== "valid" && c.reason_text ? el("div", { class: "reason" }, el("span", { class: "muted", text: t("reason") + ": " }), c.reason_text) : null;
    return el("li", { class: "cookie", "data-cookie": c.masked },
      el("div", { class: "cookie-head" }, text, el("span", { class: "actions" }, reveal, copy, del)),
      facts.length ? el("div", { class: "facts" }, facts) : null,
      reason,
      listName === "invalid" ? null : usageDetails(c));
  }

  function usageDetails(c) {
    const windows = [
      ["session_usage", "win_session", "session_resets_at"],
      ["weekly_usage", "win_weekly", "seven_day_resets_at"],
      ["weekly_sonnet_usage", "win_weekly_sonnet", "seven_day_sonnet_resets_at"],
      ["weekly_opus_usage", "win_weekly_opus", null],
      ["lifetime_usage", "win_lifetime", null],
    ];
    const rows = [];
    for (const [key, label, resetKey] of windows) {
      const bucket = c[key] || {};
      const input = bucket.total_input_tokens || 0;
      const output = bucket.total_output_tokens || 0;
      const resets = resetKey && c[resetKey] ? Date.parse(c[resetKey]) / 1000 : null;
      if (!input && !output && !resets) continue;
      rows.push(el("tr", {}, el("td", { text: t(label) }),
        el("td", { text: `${input.toLocaleString()} ${t("input")}` }),
        el("td", { text: `${output.toLocaleString()} ${t("output")}` }),
        el("td", {}, resets ? el("span", { class: "countdown plain-countdown", "data-until": String(resets), "data-format": "window" }) : "")));
    }
    return el("details", { class: "usage" }, el("summary", { text: t("usage") }),
      rows.length ? el("table", { class: "table compact" }, el("tbody", {}, rows)) : el("p", { class: "muted small", text: t("usage_none") }));
  }

  function tickCountdowns() {
    const now = serverNow();
    for (const node of document.querySelectorAll(".countdown[data-until]")) {
      const until = Number(node.dataset.until);
      const left = until - now;
      if (node.dataset.format === "window") {
        node.textContent = t("window_resets", { t: left > 0 ? duration(left) : localTime(until) });
      } else {
        node.textContent = (left > 0 ? t("back_in", { t: duration(left) }) : t("back_now")) + " (" + localTime(until) + ")";
      }
    }
  }

  // --- settings ----------------------------------------------------------------------

  async function loadSettings() {
    const { data } = await api("GET", "api/config?describe=true");
    state.config = data;
    renderSettings();
  }

  function renderSettings() {
    const data = state.config;
    const box = $("#settings-groups");
    box.replaceChildren();
    const byGroup = new Map();
    for (const group of [...data.groups, "other"]) byGroup.set(group, []);
    for (const field of data.fields) {
      if (!byGroup.has(field.group)) byGroup.set(field.group, []);
      byGroup.get(field.group).push(field);
    }
    for (const [group, fields] of byGroup) {
      if (!fields.length) continue;
      box.append(el("fieldset", { class: "card group", "data-group": group },
        el("legend", { text: t("group_" + group) }),
        fields.map((f) => fieldRow(f, data.config[f.name], data.restart_pending.includes(f.name)))));
    }
    const pending = $("#settings-pending");
    pending.hidden = !data.restart_pending.length;
    pending.textContent = t("dash_restart_pending", { keys: data.restart_pending.join(", ") });
    markDirty();
  }

  function fieldRow(field, value, pending) {
    const id = "field-" + field.name;
    let input;
    if (field.kind === "bool") {
      input = el("input", { type: "checkbox", id, class: "switch" });
      input.checked = Boolean(value);
    } else if (field.kind === "int") {
      input = el("input", { type: "number", id, step: "1", inputmode: "numeric" });
      input.value = value === null || value === undefined ? "" : String(value);
    } else if (field.kind === "list") {
      input = el("textarea", { id, rows: "3", spellcheck: "false", placeholder: t("models_hint") });
      input.value = (value || []).join("\n");
    } else if (field.name === "custom_prompt" || field.name === "custom_system") {
      input = el("textarea", { id, rows: "3" });
      input.value = value || "";
    } else if (field.name === "password" || field.name === "admin_password") {
      input = el("input", { type: "password", id, autocomplete: "new-password", spellcheck: "false" });
      input.value = field.write_only ? "" : (value || "");
      if (field.write_only) input.placeholder = t("keep_password");
    } else {
      input = el("input", { type: "text", id, spellcheck: "false", autocomplete: "off" });
      input.value = value === null || value === undefined ? "" : String(value);
      if (field.default !== null && field.default !== undefined && field.default !== "") input.placeholder = String(field.default);
    }
    input.dataset.name = field.name;
    input.dataset.kind = field.kind;
    input.addEventListener("input", markDirty);
    input.addEventListener("change", markDirty);
    const extras = [];
    if (input.type === "password") {
      const toggle = el("button", { type: "button", class: "small-btn", text: t("show") });
      toggle.addEventListener("click", () => { input.type = input.type === "password" ? "text" : "password"; });
      extras.push(toggle);
    }
    const badges = [];
    if (field.restart) badges.push(el("span", { class: "badge warn", text: t("restart_badge") }));
    if (pending) badges.push(el("span", { class: "badge bad", text: t("restart_pending_badge") }));
    const label = el("label", { for: id }, el("span", { class: "field-label", text: fieldLabel(field.name) }), " ",
      el("code", { class: "key", text: field.name }), " ", badges);
    return el("div", { class: "field " + (field.kind === "bool" ? "field-bool" : ""), "data-field": field.name },
      label,
      el("div", { class: "field-input" }, input, extras),
      el("p", { class: "help", text: fieldDoc(field.name, field.doc) }),
      el("p", { class: "field-error", hidden: true }));
  }

  function readField(input) {
    const kind = input.dataset.kind;
    if (kind === "bool") return input.checked;
    if (kind === "int") return input.value.trim() === "" ? null : Number(input.value);
    if (kind === "list") return input.value.split("\n").map((s) => s.trim()).filter(Boolean);
    if (kind === "optstr") return input.value === "" ? null : input.value;
    return input.value;
  }

  // Only what the user changed is sent, so a save never overwrites someone else's edit.
  function settingsPatch() {
    const patch = {};
    for (const input of document.querySelectorAll("#settings-groups [data-name]")) {
      const name = input.dataset.name;
      const value = readField(input);
      const field = state.config.fields.find((f) => f.name === name);
      if (field.write_only) {
        if (value) patch[name] = value;
        continue;
      }
      if (JSON.stringify(value) !== JSON.stringify(state.config.config[name] ?? (field.kind === "list" ? [] : null))) {
        patch[name] = value;
      }
    }
    return patch;
  }

  function markDirty() {
    if (!state.config) return;
    const dirty = Object.keys(settingsPatch());
    for (const row of document.querySelectorAll("#settings-groups .field")) {
      row.classList.toggle("dirty", dirty.includes(row.dataset.field));
    }
    const message = $("#settings-message");
    if (dirty.length) { message.textContent = t("settings_unsaved") + ": " + dirty.join(", "); message.className = "message warn"; }
  }

  async function saveSettings(event) {
    event.preventDefault();
    const message = $("#settings-message");
    for (const node of document.querySelectorAll(".field-error")) node.hidden = true;
    for (const node of document.querySelectorAll(".field.error")) node.classList.remove("error");
    const patch = settingsPatch();
    if (!Object.keys(patch).length) { message.textContent = t("settings_nothing"); message.className = "message"; return; }
    let data;
    try {
      ({ data } = await api("POST", "api/config", patch));
    } catch (e) {
      message.textContent = e.message;
      message.className = "message bad";
      const key = String(e.message).split(":")[0];
      const row = document.querySelector(`.field[data-field="${CSS.escape(key)}"]`);
      if (row) {
        row.classList.add("error");
        const box = row.querySelector(".field-error");
        box.textContent = e.message;
        box.hidden = false;
        row.scrollIntoView({ block: "center" });
      }
      return;
    }
    // The page that changed the admin password keeps working with the new one;
    // every other browser's stored password stops matching on its next call.
    if (patch.admin_password && data.changed.includes("admin_password")) {
      storePassword(patch.admin_password, state.remember);
      toast(t("settings_password_changed"), "ok");
    }
    const parts = [data.changed.length ? t("settings_saved", { keys: data.changed.join(", ") }) : t("settings_nothing")];
    if (data.restart_required.length) parts.push(t("settings_restart", { keys: data.restart_required.join(", ") }));
    const ignored = Object.keys(data.ignored || {});
    if (ignored.length) parts.push(t("settings_ignored", { keys: ignored.join(", ") }));
    if (data.changed.length && !data.saved) parts.push(t("settings_not_written"));
    await loadSettings();
    message.textContent = parts.join(" ");
    message.className = "message ok";
  }

  // --- Gemini ------------------------------------------------------------------------

  async function loadGemini() {
    let keys;
    try {
      ({ data: keys } = await api("GET", "api/keys"));
    } catch (e) {
      if (e.status === 501 || e.status === 404) {
        $("#gemini-unavailable").hidden = false;
        $("#gemini-body").hidden = true;
        return;
      }
      throw e;
    }
    $("#gemini-unavailable").hidden = true;
    $("#gemini-body").hidden = false;
    const list = $("#gemini-list");
    const entries = ["valid", "cooling", "invalid"].flatMap((group) => (keys && keys[group]) || []);
    list.replaceChildren(...(entries.length ? entries.map(keyRow) : [el("li", { class: "muted empty", text: t("gemini_none") })]));
    let creds = [];
    try { ({ data: creds } = await api("GET", "api/vertex/credentials")); } catch (e) { if (e.status !== 501) throw e; }
    const vlist = $("#vertex-list");
    creds = Array.isArray(creds) ? creds : [];
    vlist.replaceChildren(...(creds.length ? creds.map(vertexRow) : [el("li", { class: "muted empty", text: t("vertex_none") })]));
    tickCountdowns();
  }

  function keyRow(k) {
    const del = el("button", { type: "button", class: "small-btn danger", text: t("delete") });
    del.addEventListener("click", async () => {
      if (!(await confirmDialog(t("confirm_delete_key", { c: k.key })))) return;
      try { await api("DELETE", "api/key", { id: k.id }); toast(t("deleted", { c: k.key }), "ok"); } catch (e) { report(e); }
      await loadGemini().catch(report);
    });
    const facts = [el("span", { class: "badge " + (k.status === "valid" ? "ok" : k.status === "cooling" ? "warn" : "bad"), text: `${t("status")}: ${k.status}` })];
    if (k.count_403) facts.push(el("span", { class: "badge warn", text: `${t("count_403")}: ${k.count_403}` }));
    if (k.reset_time) facts.push(el("span", { class: "countdown", "data-until": String(k.reset_time) }));
    return el("li", { class: "cookie" },
      el("div", { class: "cookie-head" }, el("code", { class: "cookie-text", text: k.key }), el("span", { class: "actions" }, del)),
      el("div", { class: "facts" }, facts),
      k.reason ? el("div", { class: "reason" }, el("span", { class: "muted", text: t("reason") + ": " }), String(k.reason)) : null);
  }

  function vertexRow(v) {
    const del = el("button", { type: "button", class: "small-btn danger", text: t("delete") });
    del.addEventListener("click", async () => {
      if (!(await confirmDialog(t("confirm_delete_key", { c: v.client_email })))) return;
      try { await api("DELETE", "api/vertex/credential", { client_email: v.client_email }); } catch (e) { report(e); }
      await loadGemini().catch(report);
    });
    const facts = [el("span", { class: "badge", text: v.project_id || "" })];
    if (v.status) facts.push(el("span", { class: "badge " + (v.status === "valid" ? "ok" : v.status === "cooling" ? "warn" : "bad"), text: `${t("status")}: ${v.status}` }));
    if (v.reset_time) facts.push(el("span", { class: "countdown", "data-until": String(v.reset_time) }));
    facts.push(el("span", { class: "muted small", text: v.private_key_id || "" }));
    return el("li", { class: "cookie" },
      el("div", { class: "cookie-head" }, el("code", { class: "cookie-text", text: v.client_email }), el("span", { class: "actions" }, del)),
      el("div", { class: "facts" }, facts),
      v.reason ? el("div", { class: "reason" }, el("span", { class: "muted", text: t("reason") + ": " }), String(v.reason)) : null);
  }

  function describeResult(data) {
    if (data && Array.isArray(data.results)) {
      return data.results.map((r) => `${r.key || (r.line ? t("res_line", { n: r.line }) : "")}: ${r.result || r.status}${r.message && r.message !== r.result ? " – " + r.message : ""}`).join("; ");
    }
    if (data && typeof data === "object" && data.client_email) return `${data.client_email} (${data.project_id})`;
    if (data && typeof data === "object" && data.message) return String(data.message);
    return t("done");
  }

  async function addGeminiKeys(event) {
    event.preventDefault();
    const input = $("#gemini-input");
    const message = $("#gemini-message");
    const keys = input.value.split("\n").map((s) => s.trim()).filter(Boolean);
    if (!keys.length) return;
    try {
      const { data } = await api("POST", "api/key", { keys });
      message.textContent = describeResult(data);
      message.className = "message ok";
      input.value = "";
    } catch (e) {
      message.textContent = e.data ? describeResult(e.data) + " " + e.message : e.message;
      message.className = "message bad";
    }
    await loadGemini().catch(report);
  }

  async function addVertex(event) {
    event.preventDefault();
    const input = $("#vertex-input");
    const message = $("#vertex-message");
    let credential;
    try { credential = JSON.parse(input.value); } catch (e) {
      message.textContent = t("vertex_bad_json", { e: e.message });
      message.className = "message bad";
      return;
    }
    try {
      const { data } = await api("POST", "api/vertex/credential", { credential });
      message.textContent = describeResult(data);
      message.className = "message ok";
      input.value = "";
    } catch (e) {
      message.textContent = e.message;
      message.className = "message bad";
    }
    await loadGemini().catch(report);
  }

  // --- endpoints ---------------------------------------------------------------------

  async function loadEndpoints() {
    const { data } = await api("GET", "api/config?describe=true");
    state.config = data;
    renderEndpoints();
  }

  function renderEndpoints() {
    const base = new URL(".", location.href).href.replace(/\/$/, "");
    const password = state.config.config.password || "";
    const models = state.config.config.models || [];
    const model = models[0] || DEFAULT_MODEL;
    const showPassword = $("#show-api-password").checked;
    const urls = {
      claude: base + "/v1",
      code: base + "/code/v1",
      gemini: base + "/v1",
      geminiOpenai: base + "/gemini",
    };
    const list = $("#endpoint-list");
    list.replaceChildren(
      endpointItem(t("ep_claude"), urls.claude),
      endpointItem(t("ep_code"), urls.code),
      endpointItem(t("ep_gemini"), urls.gemini),
      endpointItem(t("ep_gemini_openai"), urls.geminiOpenai),
      endpointItem(t("api_password"), password, !showPassword));
    const shown = showPassword ? password : "•".repeat(12);
    const snippets = (pw) => [
      ["snippet_sillytavern", t("snippet_sillytavern_text", { claude: urls.claude, password: pw, model })],
      ["snippet_claude_code", `export ANTHROPIC_BASE_URL=${base}/code\nexport ANTHROPIC_AUTH_TOKEN=${pw}\nclaude`],
      ["snippet_continue", `models:\n  - name: Claude via llmproxy\n    provider: anthropic\n    model: ${model}\n    apiBase: ${urls.code}/\n    apiKey: ${pw}`],
      ["snippet_cursor", t("snippet_cursor_text", { claude: urls.claude, password: pw, model })],
      ["snippet_openai", `from openai import OpenAI\n\nclient = OpenAI(base_url="${urls.claude}", api_key="${pw}")\nreply = client.chat.completions.create(\n    model="${model}",\n    messages=[{"role": "user", "content": "Hello"}],\n)\nprint(reply.choices[0].message.content)`],
      ["snippet_anthropic", `import anthropic\n\n# "${base}" for claude.ai cookies, "${base}/code" for Claude Code\nclient = anthropic.Anthropic(base_url="${base}/code", api_key="${pw}")\nmessage = client.messages.create(\n    model="${model}",\n    max_tokens=1024,\n    messages=[{"role": "user", "content": "Hello"}],\n)\nprint(message.content[0].text)`],
      ["snippet_genai", `from google import genai\n\nclient = genai.Client(api_key="${pw}", http_options={"base_url": "${urls.gemini}", "api_version": "v1beta"})\nreply = client.models.generate_content(model="gemini-2.5-pro", contents="Hello")\nprint(reply.text)`],
      ["snippet_curl", `curl ${urls.code}/messages \\\n  -H "x-api-key: ${pw}" \\\n  -H "content-type: application/json" \\\n  -d '{"model": "${model}", "max_tokens": 256, "messages": [{"role": "user", "content": "Hello"}]}'`],
    ];
    const real = snippets(password);
    const box = $("#snippets");
    box.replaceChildren(...snippets(shown).map(([key, text], i) =>
      el("div", { class: "card snippet", "data-snippet": key },
        el("div", { class: "row between" }, el("h2", { text: t(key) }),
          el("button", { type: "button", class: "small-btn", text: t("copy"), onclick: () => copyText(real[i][1]) })),
        el("pre", {}, el("code", { text })))));
  }

  function endpointItem(label, value, hide) {
    return el("li", {}, el("span", { class: "muted", text: label }),
      el("code", { class: "mono", text: hide ? "•".repeat(12) : value }),
      el("button", { type: "button", class: "small-btn", text: t("copy"), onclick: () => copyText(value) }));
  }

  // --- start -------------------------------------------------------------------------

  function start() {
    initPreferences();
    $("#login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      login($("#login-password").value, $("#login-remember").checked, false);
    });
    $("#logout").addEventListener("click", () => logout(""));
    $("#cookie-form").addEventListener("submit", addCookies);
    $("#cookies-refresh").addEventListener("click", () => loadCookies().catch(report));
    $("#settings-form").addEventListener("submit", saveSettings);
    $("#settings-reset").addEventListener("click", () => { renderSettings(); $("#settings-message").textContent = ""; });
    $("#gemini-form").addEventListener("submit", addGeminiKeys);
    $("#vertex-form").addEventListener("submit", addVertex);
    $("#show-api-password").addEventListener("change", () => { if (state.config) renderEndpoints(); });
    window.addEventListener("hashchange", route);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && state.view) show(state.view, true);
    });
    const saved = savedPassword();
    if (saved) {
      state.remember = saved.remember;
      $("#login-remember").checked = saved.remember;
      login(saved.password, saved.remember, true);
    } else {
      logout("");
    }
  }

  start();
})();
