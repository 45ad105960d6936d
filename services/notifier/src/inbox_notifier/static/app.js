// The reference agent console: sign-in, the live queue, the thread, shortcuts and alerts.
// State lives here; queue.js and thread.js render it. Everything arrives through the agent
// API and the SSE stream, exactly as any other agent UI would use them.

import { Api, EventStream } from "./api.js";
import { Desk } from "./desk.js";
import { $, h } from "./dom.js";
import { installFaqCandidates } from "./faq_candidates.js";
import { installRoutingPanel } from "./routing_panel.js";
import { getLang, label, loadChannels, setLang, t } from "./i18n.js";
import { Queue } from "./queue.js";
import { Thread } from "./thread.js";

const TOKEN_KEY = "inbox.token";
const LANG_KEY = "inbox.lang";
const NOTIFY_KEY = "inbox.notify";
const MAX_ALERTS = 3;

class Console {
  constructor() {
    this.api = null;
    this.me = null;
    this.warnRatio = 0.8;
    this.conversations = new Map(); // id → the newest version seen (REST or SSE)
    this.warnedDue = new Map(); // id → the due time an sla.warning event was about
    this.teams = new Set();
    this.assignees = new Set();
    this.canned = [];
    this.selectedId = null;
    this.notify = localStorage.getItem(NOTIFY_KEY) === "on";
    this.audio = null;
  }

  // --- sign-in ------------------------------------------------------------------------

  async init() {
    setLang(localStorage.getItem(LANG_KEY) || "ko");
    for (const button of document.querySelectorAll(".lang-toggle")) {
      button.addEventListener("click", () => this.toggleLanguage());
    }
    $("#login-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.signIn($("#login-token").value.trim(), { fromForm: true });
    });
    const token = localStorage.getItem(TOKEN_KEY);
    if (token) await this.signIn(token, { fromForm: false });
    else this.showLogin("");
  }

  showLogin(error) {
    $("#app").hidden = true;
    $("#login").hidden = false;
    $("#login-error").textContent = error;
    $("#login-token").focus();
  }

  async signIn(token, { fromForm }) {
    if (!token) return;
    const api = new Api(token);
    let me;
    try {
      me = await api.me();
    } catch (err) {
      if (err.status === 401) localStorage.removeItem(TOKEN_KEY);
      this.showLogin(
        err.status === 401 ? (fromForm ? t("login.invalid") : "") : t("login.unreachable"),
      );
      return;
    }
    localStorage.setItem(TOKEN_KEY, token);
    this.api = api;
    this.me = me.agent;
    // What the role may do decides what is shown; the API enforces it either way (403).
    this.role = me.role === "admin" ? "admin" : "agent";
    document.body.dataset.role = this.role;
    this.warnRatio = me.sla_warn_ratio ?? 0.8;
    $("#login").hidden = true;
    $("#app").hidden = false;
    $("#login-token").value = "";
    await loadChannels(api);
    this.start();
  }

  agentLabel() {
    // The role is shown after the name by the stylesheet (data-role-label).
    $("#agent").dataset.roleLabel = t(`role.${this.role}`);
    return t("header.agent", { agent: this.me });
  }

  logout() {
    this.stream?.stop();
    localStorage.removeItem(TOKEN_KEY);
    location.hash = "";
    location.reload();
  }

  // --- running ------------------------------------------------------------------------

  start() {
    $("#agent").textContent = this.agentLabel();
    $("#agent").dataset.role = this.role;
    $("#agent").title = t(`role.${this.role}`);
    this.assignees.add(this.me);
    this.desk = new Desk(this);
    this.queue = new Queue(this);
    this.thread = new Thread(this);
    $("#logout").addEventListener("click", () => this.logout());
    $("#help-button").addEventListener("click", () => $("#help").showModal());
    $("#notify-toggle").addEventListener("click", () => this.toggleNotify());
    document.addEventListener("keydown", (e) => this.onKey(e));
    document.addEventListener("pointerdown", () => this.audio?.resume?.(), { passive: true });
    this.renderNotifyButton();

    this.stream = new EventStream({
      api: this.api,
      onEvent: (event) => this.onEvent(event),
      onState: (state) => this.setConnection(state),
      // Subscribe first, then load: nothing that happens in between is missed. After a drop
      // the stream resumes by id; only a stream that never saw an event needs a reload.
      onOpen: ({ first, resumed }) => {
        if (first || !resumed) this.queue.reload();
      },
      onUnauthorized: () => this.logout(),
    });
    this.stream.start();
    this.loadCanned();
    installFaqCandidates(this);
    installRoutingPanel(this);
    setInterval(() => this.tick(), 1000);

    // #/c/<id> reopens the conversation that was open before a reload.
    const linked = /^#\/c\/([A-Za-z0-9_-]+)$/.exec(location.hash);
    if (linked) this.select(linked[1]);
  }

  async loadCanned() {
    try {
      this.canned = (await this.api.canned()).items;
      this.thread.renderCanned();
    } catch (err) {
      this.showError(err);
    }
  }

  setConnection(state) {
    const el = $("#conn");
    el.dataset.state = state;
    el.textContent = t(`conn.${state}`);
  }

  tick() {
    const now = Date.now();
    this.queue.tick(now);
    this.thread.tick(now);
  }

  /** Keep the newest version of a conversation; true when it changed what we show. */
  upsert(conversation) {
    if (!conversation?.id) return false;
    const known = this.conversations.get(conversation.id);
    if (known && (known.version ?? 0) > (conversation.version ?? 0)) return false;
    const { messages: _m, linked_conversations: _l, ...summary } = conversation;
    this.conversations.set(conversation.id, { ...known, ...summary });
    if (summary.team) this.teams.add(summary.team);
    if (summary.assignee) this.assignees.add(summary.assignee);
    return true;
  }

  onEvent({ type, body }) {
    const conversation = body.conversation;
    if (type === "sla.warning" && conversation) {
      const sla = conversation.sla || {};
      this.warnedDue.set(conversation.id, sla.next_response_due || sla.first_response_due);
    }
    const known = this.teams.size + this.assignees.size;
    if (conversation) this.upsert(conversation);
    if (known !== this.teams.size + this.assignees.size) this.queue.renderFilters();
    if (type === "conversation.created" && conversation) this.alertNew(conversation);
    this.thread.onEvent(type, body);
    this.queue.render();
  }

  /** After an action: show its result at once (the SSE event confirms it a moment later). */
  applyResult(result) {
    if (result?.conversation) this.upsert(result.conversation);
    this.thread.applyResult(result);
    this.queue.render();
  }

  select(id) {
    if (!id) return;
    this.selectedId = id;
    history.replaceState(null, "", `#/c/${encodeURIComponent(id)}`);
    this.clearAlerts();
    this.queue.render();
    this.queue.reveal(id);
    this.thread.open(id);
  }

  // --- alerts and errors --------------------------------------------------------------

  describe(err) {
    switch (err.code) {
      case "conflict":
        return t("error.changed");
      case "bus_unavailable":
        return t("error.bus_unavailable");
      case "forbidden":
        return t("error.forbidden");
      default:
        return t("error.generic", { message: err.message });
    }
  }

  /** A red banner that stays until dismissed; `actions` are [{label, run}] buttons. */
  showError(err, { text, actions = [] } = {}) {
    const box = $("#alerts");
    const alert = h(
      "div",
      { class: "alert alert-error", role: "alert", dataset: { code: err?.code || "" } },
      h("span", { class: "alert-text" }, text || this.describe(err)),
      actions.map((a) =>
        h("button", { type: "button", onclick: () => (alert.remove(), a.run()) }, a.label),
      ),
      h(
        "button",
        { type: "button", class: "link", onclick: () => alert.remove() },
        t("error.dismiss"),
      ),
    );
    box.append(alert);
    while (box.children.length > MAX_ALERTS) box.firstElementChild.remove();
  }

  showInfo(text) {
    const note = h("div", { class: "alert alert-info", role: "status" }, text);
    $("#alerts").append(note);
    setTimeout(() => note.remove(), 4000);
  }

  clearAlerts() {
    $("#alerts").replaceChildren();
  }

  // --- notifications ------------------------------------------------------------------

  async toggleNotify() {
    this.notify = !this.notify;
    localStorage.setItem(NOTIFY_KEY, this.notify ? "on" : "off");
    if (this.notify) {
      // Created inside the click, so the browser lets it play later.
      this.audio ??= new AudioContext();
      await this.audio.resume?.();
      if ("Notification" in window && Notification.permission === "default") {
        await Notification.requestPermission();
      }
      if ("Notification" in window && Notification.permission === "denied") {
        this.showInfo(t("header.notify_denied"));
      }
    }
    this.renderNotifyButton();
  }

  renderNotifyButton() {
    const button = $("#notify-toggle");
    button.textContent = t(this.notify ? "header.notify_off" : "header.notify_on");
    button.setAttribute("aria-pressed", String(this.notify));
  }

  alertNew(conversation) {
    if (!this.notify) return;
    const title = t("notify.new", {
      number: conversation.number ?? "",
      channel: label("channel", conversation.channel),
    });
    const body = [conversation.customer?.name, conversation.subject].filter(Boolean).join(" · ");
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        const n = new Notification(title, { body, tag: `conversation-${conversation.id}` });
        n.onclick = () => {
          window.focus();
          this.select(conversation.id);
        };
      } catch {
        // Some platforms only allow notifications from a service worker; the sound remains.
      }
    }
    this.beep();
  }

  /** A short two-tone chime, generated (no audio file). */
  beep() {
    try {
      this.audio ??= new AudioContext();
      const ctx = this.audio;
      const start = ctx.currentTime;
      for (const [i, freq] of [880, 1320].entries()) {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        const at = start + i * 0.12;
        osc.type = "sine";
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.15, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.18);
        osc.connect(gain).connect(ctx.destination);
        osc.start(at);
        osc.stop(at + 0.2);
      }
    } catch {
      // No audio device: the notification is enough.
    }
  }

  // --- language and keyboard ----------------------------------------------------------

  toggleLanguage() {
    const next = getLang() === "ko" ? "en" : "ko";
    localStorage.setItem(LANG_KEY, next);
    setLang(next);
    if (this.me) {
      $("#agent").textContent = this.agentLabel();
      this.renderNotifyButton();
      this.setConnection($("#conn").dataset.state);
      this.queue.renderFilters();
      this.queue.render();
      this.thread.rerender();
    }
  }

  onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    const typing = e.target.closest?.("input, textarea, select, [contenteditable]");
    if (e.key === "Escape") {
      if (typing) e.target.blur();
      return;
    }
    if (typing || $("#help").open) return;
    const actions = {
      j: () => this.queue.move(1),
      k: () => this.queue.move(-1),
      r: () => this.thread.focusComposer(),
      e: () => this.thread.setStatus("resolved"),
      c: () => this.thread.claim(),
      "/": () => $("#search").focus(),
      "?": () => $("#help").showModal(),
    };
    const action = actions[e.key];
    if (action) {
      e.preventDefault();
      action();
    }
  }
}

const app = new Console();
window.inboxConsole = app; // for the browser console and debugging
app.init();
