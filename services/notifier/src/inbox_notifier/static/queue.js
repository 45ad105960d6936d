// The unified queue (left pane): filters, search, rows sorted by SLA due, live countdowns.

import { $, formatDuration, formatTime, h, parseTime } from "./dom.js";
import { CHANNELS, label, t } from "./i18n.js";

const STATUS_OPTIONS = ["open,pending", "open", "pending", "resolved", ""];
const ME = "@me";

/** The running SLA deadline of a conversation and how it looks now. */
export function slaState(conversation, now, app) {
  const sla = conversation.sla || {};
  if (conversation.status === "resolved") return { cls: "sla-none", text: t("sla.none") };
  if (sla.paused) return { cls: "sla-paused", text: t("sla.paused") };
  const dueText = sla.next_response_due || sla.first_response_due;
  const due = parseTime(dueText);
  if (due === null) return { cls: "sla-none", text: t("sla.none") };
  const left = due - now;
  if (sla.breached || left <= 0) {
    return {
      cls: "sla-breach",
      text: t("sla.over", { time: formatDuration(left) }),
      title: t("sla.breached"),
    };
  }
  // The server fires sla.warning at warn_ratio of the span; until one arrives (or for
  // conversations loaded later) the same rule is applied here.
  const warnAt = parseTime(sla.warn_at);
  const started = parseTime(sla.next_response_due ? conversation.last_message_at : conversation.created_at);
  const span = started === null ? 0 : Math.max(0, due - started);
  const warned =
    app.warnedDue.get(conversation.id) === dueText ||
    (warnAt !== null ? now >= warnAt : span > 0 && left <= span * (1 - app.warnRatio));
  return {
    cls: warned ? "sla-warn" : "sla-ok",
    text: t("sla.left", { time: formatDuration(left) }),
    title: warned ? t("sla.warning") : "",
  };
}

export function channelBadge(channel) {
  return h(
    "span",
    { class: "badge channel", dataset: { channel: channel || "" } },
    label("channel", channel),
  );
}

function dueOf(conversation) {
  if (conversation.status === "resolved" || conversation.sla?.paused) return Infinity;
  const sla = conversation.sla || {};
  return parseTime(sla.next_response_due || sla.first_response_due) ?? Infinity;
}

export class Queue {
  constructor(app) {
    this.app = app;
    this.list = $("#queue-list");
    this.form = $("#filters");
    this.filters = { status: "open,pending", team: "", channel: "", assignee: "", q: "" };
    this.fromServer = new Set(); // ids the server matched for the current filters
    this.order = [];
    this.nextCursor = null;
    this.loading = 0;
    this.renderFilters();
    this.form.addEventListener("submit", (e) => e.preventDefault());
    this.form.addEventListener("change", (e) => {
      if (e.target.name !== "q") this.readFilters();
    });
    let debounce = null;
    $("#search").addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => this.readFilters(), 300);
    });
    $("#search").addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        clearTimeout(debounce);
        this.readFilters();
      }
    });
    this.list.addEventListener("click", (e) => {
      if (e.target.closest("input.select")) return; // picking for a bulk action
      const row = e.target.closest("li[data-id]");
      if (row) this.app.select(row.dataset.id);
    });
    $("#queue-more").addEventListener("click", () => this.more());
  }

  // --- filters ------------------------------------------------------------------------

  renderFilters() {
    const select = (name, options) => {
      const el = this.form.elements[name];
      el.replaceChildren(
        ...options.map(([value, text]) => h("option", { value }, text)),
      );
      el.value = this.filters[name];
    };
    select(
      "status",
      STATUS_OPTIONS.map((v) => [
        v,
        v === "" ? t("filter.all") : v.includes(",") ? t("filter.active") : t(`status.${v}`),
      ]),
    );
    const teams = [...this.app.teams, this.filters.team].filter(Boolean);
    select("team", [["", t("filter.all")], ...[...new Set(teams)].sort().map((v) => [v, label("team", v)])]);
    select("channel", [["", t("filter.all")], ...CHANNELS.map((v) => [v, label("channel", v)])]);
    const others = [...this.app.assignees].filter((a) => a !== this.app.me).sort();
    const picked = this.filters.assignee && this.filters.assignee !== ME ? [this.filters.assignee] : [];
    select("assignee", [
      ["", t("filter.all")],
      [ME, `${t("filter.me")} (${this.app.me})`],
      ...[...new Set([...others, ...picked])].map((v) => [v, v]),
    ]);
  }

  readFilters() {
    const form = this.form.elements;
    this.filters = {
      status: form.status.value,
      team: form.team.value,
      channel: form.channel.value,
      assignee: form.assignee.value,
      q: form.q.value.trim(),
    };
    this.reload();
  }

  query() {
    const { assignee, ...rest } = this.filters;
    return { ...rest, assignee: assignee === ME ? this.app.me : assignee };
  }

  /** Does a conversation (e.g. from a live event) belong in the list as filtered? */
  matches(conversation) {
    const f = this.query();
    if (f.status && !f.status.split(",").includes(conversation.status)) return false;
    if (f.team && conversation.team !== f.team) return false;
    if (f.channel && conversation.channel !== f.channel) return false;
    if (f.assignee && conversation.assignee !== f.assignee) return false;
    if (f.q && !this.fromServer.has(conversation.id)) {
      const c = conversation.customer || {};
      const text = [conversation.subject, conversation.preview, c.name, c.email, `#${conversation.number}`]
        .filter(Boolean)
        .join(" ")
        .toLowerCase();
      if (!text.includes(f.q.toLowerCase())) return false;
    }
    return true;
  }

  // --- loading ------------------------------------------------------------------------

  async reload() {
    const ticket = ++this.loading;
    try {
      const page = await this.app.api.conversations(this.query());
      if (ticket !== this.loading) return; // a newer filter won
      this.fromServer = new Set(page.items.map((c) => c.id));
      for (const conversation of page.items) this.app.upsert(conversation);
      this.nextCursor = page.next_cursor;
      this.renderFilters();
      this.render();
    } catch (err) {
      this.app.showError(err);
    }
  }

  async more() {
    if (!this.nextCursor) return;
    try {
      const page = await this.app.api.conversations(this.query(), this.nextCursor);
      for (const conversation of page.items) {
        this.fromServer.add(conversation.id);
        this.app.upsert(conversation);
      }
      this.nextCursor = page.next_cursor;
      this.render();
    } catch (err) {
      this.app.showError(err);
    }
  }

  // --- rendering ----------------------------------------------------------------------

  visible() {
    return [...this.app.conversations.values()]
      .filter((c) => this.matches(c))
      .sort((a, b) => dueOf(a) - dueOf(b) || (a.number ?? 0) - (b.number ?? 0));
  }

  render() {
    const items = this.visible();
    this.order = items.map((c) => c.id);
    const now = Date.now();
    this.list.replaceChildren(...items.map((c) => this.row(c, now)));
    $("#queue-empty").hidden = items.length > 0;
    $("#queue-more").hidden = !this.nextCursor;
    $("#queue-count").textContent = t("queue.count", { count: items.length });
  }

  row(c, now) {
    const selected = c.id === this.app.selectedId;
    const sla = slaState(c, now, this.app);
    const customer = c.customer?.name || c.customer?.email || c.customer?.id || "";
    return h(
      "li",
      {
        class: `row status-${c.status}${selected ? " selected" : ""}`,
        role: "option",
        "aria-selected": String(selected),
        dataset: { id: c.id, number: c.number ?? "", channel: c.channel },
      },
      h(
        "div",
        { class: "row-top" },
        this.app.desk.rowCheckbox(c.id),
        channelBadge(c.channel),
        h("span", { class: "number" }, c.number != null ? `#${c.number}` : ""),
        h("span", { class: "customer-name" }, customer),
        h("span", { class: `sla ${sla.cls}`, title: sla.title || null }, sla.text),
      ),
      h("div", { class: "subject" }, c.subject || ""),
      h("div", { class: "preview" }, c.preview || ""),
      h(
        "div",
        { class: "row-meta" },
        c.team && h("span", { class: "chip team" }, label("team", c.team)),
        c.priority &&
          h("span", { class: `chip priority priority-${c.priority}` }, label("priority", c.priority)),
        c.status !== "open" &&
          h("span", { class: `chip status status-${c.status}` }, label("status", c.status)),
        h(
          "span",
          { class: `assignee${c.assignee ? "" : " unassigned"}` },
          c.assignee || t("queue.unassigned"),
        ),
        h("span", { class: "time" }, formatTime(c.last_message_at || c.created_at)),
      ),
    );
  }

  tick(now) {
    for (const row of this.list.children) {
      const c = this.app.conversations.get(row.dataset.id);
      const cell = row.querySelector(".sla");
      if (!c || !cell) continue;
      const sla = slaState(c, now, this.app);
      cell.className = `sla ${sla.cls}`;
      cell.textContent = sla.text;
      cell.title = sla.title || "";
    }
  }

  move(delta) {
    if (this.order.length === 0) return;
    const at = this.order.indexOf(this.app.selectedId);
    const next = at === -1 ? (delta > 0 ? 0 : this.order.length - 1) : at + delta;
    if (next < 0 || next >= this.order.length) return;
    this.app.select(this.order[next]);
  }

  reveal(id) {
    const row = this.list.querySelector(`li[data-id="${CSS.escape(id)}"]`);
    row?.scrollIntoView({ block: "nearest" });
  }
}
