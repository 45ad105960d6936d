// The open conversation (right pane): header with claim/assign, status and tags; the thread
// (customer messages, replies with delivery status, notes, automatic replies, routing
// reasons, product/order context); the composer; and the customer's history across channels.

import { $, fill, formatTime, h, parseTime } from "./dom.js";
import { label, t } from "./i18n.js";
import { channelBadge, slaState } from "./queue.js";
import { SuggestionStrip } from "./suggestions.js";

const STATUSES = ["open", "pending", "resolved"];
const SAFE_URL = /^https?:\/\//i;

// What a connector may put in a message's context about the product and the order, in the
// order shown; other context keys are bookkeeping of the connector.
const CONTEXT_FIELDS = [
  "product_name",
  "product_id",
  "product_option",
  "order_id",
  "order_ids",
  "product_order_ids",
  "vendor_item_id",
  "category",
  "question_id",
];

function contextEntries(context) {
  const entries = [];
  for (const key of CONTEXT_FIELDS) {
    let value = context?.[key];
    if (Array.isArray(value)) value = value.filter((v) => v !== null && v !== "").join(", ");
    if (value === null || value === undefined || value === "" || typeof value === "object") continue;
    if (key === "order_ids" && String(value) === String(context.order_id)) continue;
    entries.push([label("context", key), String(value)]);
  }
  return entries;
}

export class Thread {
  constructor(app) {
    this.app = app;
    this.el = $("#thread");
    this.customerEl = $("#customer");
    this.detail = null;
    this.customer = null;
    this.loading = 0;
    this.mode = "reply";
    this.drafts = new Map(); // conversation id → unsent text
    this.suggestionStrip = new SuggestionStrip((answer) => this.useSuggestion(answer));
    this.composer = this.buildComposer();
    this.headSlot = h("div", { class: "thread-head-slot" });
    this.messagesEl = h("ol", { class: "messages" });
    this.renderedId = null;
  }

  // --- loading ------------------------------------------------------------------------

  async open(id) {
    if (this.detail) this.drafts.set(this.detail.id, this.textarea.value);
    const ticket = ++this.loading;
    if (this.detail?.id !== id) this.app.desk.onOpen();
    this.detail = null;
    this.customer = null;
    this.renderedId = null;
    this.el.replaceChildren(h("p", { class: "muted center" }, t("thread.loading")));
    this.customerEl.replaceChildren();
    try {
      const detail = await this.app.api.conversation(id);
      if (ticket !== this.loading) return;
      this.app.upsert(detail);
      this.detail = { ...detail, ...this.app.conversations.get(id) };
      this.textarea.value = this.drafts.get(id) || "";
      this.cannedSelect.value = "";
      this.updatePreview();
      this.suggestionStrip.show(detail.suggestions);
      this.render();
      this.scrollToEnd();
      this.loadCustomer();
    } catch (err) {
      if (ticket === this.loading) {
        this.el.replaceChildren(h("p", { class: "muted center" }, this.app.describe(err)));
      }
    }
  }

  async loadCustomer() {
    const id = this.detail?.customer_id;
    if (!id) {
      this.renderCustomer();
      return;
    }
    try {
      const customer = await this.app.api.customer(id);
      if (this.detail?.customer_id === id) this.customer = customer;
    } catch (err) {
      if (err.status !== 404) this.app.showError(err);
      this.customer = null;
    }
    this.renderCustomer();
  }

  /** A live event: update the open conversation and its messages. */
  onEvent(type, body) {
    if (!this.detail || body.conversation_id !== this.detail.id) return;
    const known = this.app.conversations.get(this.detail.id);
    if (known) Object.assign(this.detail, known);
    if (body.message) this.upsertMessage(body.message);
    this.render();
    if (body.message?.direction === "in" && type === "message.created") {
      this.loadCustomer();
      this.refreshSuggestions();
    }
  }

  /** A suggested FAQ answer goes in the reply box; the agent still sends it. */
  useSuggestion(answer) {
    this.setMode("reply");
    this.textarea.value = answer;
    this.updatePreview();
    this.textarea.focus();
  }

  async refreshSuggestions() {
    const id = this.detail?.id;
    try {
      const detail = await this.app.api.conversation(id);
      if (this.detail?.id === id) this.suggestionStrip.show(detail.suggestions);
    } catch {
      // The strip keeps what it showed; the thread itself reports errors.
    }
  }

  applyResult(result) {
    if (!this.detail || result?.conversation?.id !== this.detail.id) return;
    Object.assign(this.detail, this.app.conversations.get(this.detail.id));
    if (result.message) this.upsertMessage(result.message);
    this.render();
  }

  upsertMessage(message) {
    const messages = this.detail.messages;
    const at = messages.findIndex((m) => m.id === message.id);
    if (at >= 0) {
      const known = messages[at].delivery;
      messages[at] = { ...messages[at], ...message };
      // A reply's own answer can come after the event of its delivery: never back to queued.
      if (known && known.status !== "queued" && message.delivery?.status === "queued") {
        messages[at].delivery = known;
      }
    } else messages.push(message);
    messages.sort((a, b) => (parseTime(a.created_at) ?? 0) - (parseTime(b.created_at) ?? 0));
  }

  // --- actions ------------------------------------------------------------------------

  async run(action, onError) {
    try {
      const result = await action();
      this.app.applyResult(result);
      return result;
    } catch (err) {
      if (onError && (await onError(err))) return null;
      this.app.showError(err);
      return null;
    }
  }

  claim() {
    if (this.detail) this.assign(this.app.me);
  }

  async assign(assignee, force = false) {
    const id = this.detail?.id;
    if (!id) return false;
    const result = await this.run(
      () => this.app.api.assign(id, assignee, { force }),
      async (err) => {
        if (err.code !== "assign_conflict") return false;
        // Show who holds it now (the live stream may not have told us yet).
        const fresh = await this.app.api.conversation(id).catch(() => null);
        if (fresh) this.app.applyResult({ conversation: fresh });
        const text = t("error.assign_conflict", { assignee: fresh?.assignee || "?" });
        // Taking over (force) is for admins; an agent is told whom to ask instead.
        if (this.app.role !== "admin") {
          this.app.showError(err, { text: `${text} ${t("error.ask_admin")}` });
          return true;
        }
        this.app.showError(err, {
          text,
          actions: [
            {
              label: t("error.take_over"),
              run: () => this.assign(assignee, true).then((ok) => ok && this.clearInput("assignee")),
            },
          ],
        });
        return true;
      },
    );
    return Boolean(result);
  }

  async setStatus(status) {
    const detail = this.detail;
    if (!detail || detail.status === status) return;
    await this.run(
      () => this.app.api.setStatus(detail.id, status),
      async (err) => {
        if (err.code !== "invalid_transition") return false;
        this.app.showError(err, {
          text: t("error.invalid_transition", {
            from: label("status", detail.status),
            to: label("status", status),
          }),
        });
        return true;
      },
    );
  }

  async editTags(add, remove) {
    const id = this.detail?.id;
    return Boolean(id && (await this.run(() => this.app.api.tags(id, { add, remove }))));
  }

  clearInput(name) {
    const input = this.headSlot.querySelector(`input[name="${name}"]`);
    if (input) input.value = "";
  }

  async send() {
    const id = this.detail?.id;
    const text = this.textarea.value;
    if (!id || !text.trim()) return;
    const isNote = this.mode === "note";
    this.sendButton.disabled = true;
    const result = await this.run(() =>
      isNote ? this.app.api.note(id, text) : this.app.api.reply(id, text, this.app.desk.refs()),
    );
    this.sendButton.disabled = false;
    if (result) {
      if (!isNote) this.app.desk.clearFiles();
      this.textarea.value = "";
      this.drafts.delete(id);
      this.cannedSelect.value = "";
      this.updatePreview();
      this.app.showInfo(t(isNote ? "reply.noted" : "reply.sent"));
      this.scrollToEnd();
    }
  }

  focusComposer() {
    if (!this.detail) return;
    this.setMode("reply");
    this.textarea.focus();
  }

  // --- composer -----------------------------------------------------------------------

  buildComposer() {
    this.textarea = h("textarea", { rows: 4, name: "text", class: "composer-text" });
    this.textarea.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        this.send();
      }
    });
    let debounce = null;
    this.textarea.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => this.updatePreview(), 300);
    });
    this.cannedSelect = h("select", { name: "canned", class: "canned" });
    this.cannedSelect.addEventListener("change", () => {
      const canned = this.app.canned.find((c) => c.id === this.cannedSelect.value);
      if (!canned) return;
      this.setMode("reply");
      this.textarea.value = canned.text;
      this.updatePreview();
      this.textarea.focus();
    });
    this.previewBox = h("div", { class: "preview-box", hidden: true });
    this.sendButton = h("button", { type: "submit", class: "primary send" });
    this.tabs = {
      reply: h("button", { type: "button", class: "tab", onclick: () => this.setMode("reply") }),
      note: h("button", { type: "button", class: "tab", onclick: () => this.setMode("note") }),
    };
    const form = h(
      "form",
      { class: "composer" },
      this.suggestionStrip.el,
      h("div", { class: "composer-bar" }, this.tabs.reply, this.tabs.note, this.cannedSelect),
      this.textarea,
      this.previewBox,
    );
    form.append(h("div", { class: "composer-actions" }, this.app.desk.fileControls(form), this.sendButton));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.send();
    });
    return form;
  }

  setMode(mode) {
    this.mode = mode;
    this.renderComposer();
    this.updatePreview();
  }

  renderComposer() {
    const note = this.mode === "note";
    this.composer.classList.toggle("note-mode", note);
    this.tabs.reply.textContent = t("reply.tab_reply");
    this.tabs.note.textContent = t("reply.tab_note");
    this.tabs.reply.setAttribute("aria-pressed", String(!note));
    this.tabs.note.setAttribute("aria-pressed", String(note));
    this.textarea.placeholder = t(note ? "reply.note_placeholder" : "reply.placeholder");
    this.textarea.setAttribute("aria-label", this.textarea.placeholder);
    this.sendButton.textContent = t(note ? "reply.save_note" : "reply.send");
    this.cannedSelect.setAttribute("aria-label", t("reply.canned"));
    this.renderCanned();
  }

  renderCanned() {
    const value = this.cannedSelect.value;
    this.cannedSelect.replaceChildren(
      h("option", { value: "" }, t("reply.canned_none")),
      ...this.app.canned.map((c) => h("option", { value: c.id }, c.title)),
    );
    this.cannedSelect.value = value;
  }

  /** Placeholders ({{customer.name}}...) rendered by the server for this conversation. */
  async updatePreview() {
    const text = this.textarea.value;
    const id = this.detail?.id;
    if (this.mode !== "reply" || !id || !text.includes("{{")) {
      this.previewBox.hidden = true;
      return;
    }
    const cannedId = this.cannedSelect.value || "draft";
    try {
      const preview = await this.app.api.preview(cannedId, id, text);
      if (this.textarea.value !== text || this.detail?.id !== id) return;
      fill(
        this.previewBox,
        h("div", { class: "preview-label" }, t("reply.preview")),
        h("div", { class: "preview-text" }, preview.text),
        preview.missing.length > 0 &&
          h("div", { class: "preview-missing" }, t("reply.missing", { names: preview.missing.join(", ") })),
      );
      this.previewBox.hidden = false;
    } catch (err) {
      this.previewBox.replaceChildren(h("div", { class: "form-error" }, this.app.describe(err)));
      this.previewBox.hidden = false;
    }
  }

  // --- rendering ----------------------------------------------------------------------

  render() {
    const d = this.detail;
    if (!d) return;
    const now = Date.now();
    const sla = slaState(d, now, this.app);
    const customer = d.customer || {};
    const mine = d.assignee === this.app.me;

    const assignInput = h("input", {
      type: "text",
      name: "assignee",
      list: "agent-names",
      placeholder: t("thread.assign_to"),
      "aria-label": t("thread.assign_to"),
    });
    const assignForm = h(
      "form",
      {
        class: "assign-form",
        onsubmit: (e) => {
          e.preventDefault();
          const name = assignInput.value.trim();
          if (name) this.assign(name).then((ok) => ok && this.clearInput("assignee"));
        },
      },
      assignInput,
      h(
        "datalist",
        { id: "agent-names" },
        [...this.app.assignees].map((a) => h("option", { value: a })),
      ),
      h("button", { type: "submit" }, t("thread.assign")),
    );

    const tagInput = h("input", {
      type: "text",
      name: "tag",
      placeholder: t("thread.add_tag"),
      "aria-label": t("thread.add_tag"),
      maxlength: 50,
    });
    const tagForm = h(
      "form",
      {
        class: "tag-form",
        onsubmit: (e) => {
          e.preventDefault();
          const tag = tagInput.value.trim();
          if (tag) this.editTags([tag], []).then((ok) => ok && this.clearInput("tag"));
        },
      },
      tagInput,
    );

    const head = h(
      "header",
      { class: "thread-head", dataset: { id: d.id } },
      h(
        "div",
        { class: "title-row" },
        channelBadge(d.channel),
        h("span", { class: "number" }, d.number != null ? `#${d.number}` : ""),
        h("h2", { class: "thread-subject" }, d.subject || ""),
        h("span", { class: `sla ${sla.cls}`, title: sla.title || null }, sla.text),
      ),
      h(
        "div",
        { class: "meta-row" },
        h("span", { class: "customer-name" }, customer.name || customer.id || ""),
        customer.email && h("span", { class: "muted" }, customer.email),
        customer.phone && h("span", { class: "muted" }, customer.phone),
        h("span", { class: "muted" }, `${label("channel", d.channel)} · ${d.account}`),
        h("span", { class: "muted" }, formatTime(d.created_at)),
      ),
      h(
        "div",
        { class: "actions-row" },
        h(
          "div",
          { class: "segmented status-buttons", role: "group", "aria-label": t("filter.status") },
          STATUSES.map((s) =>
            h(
              "button",
              {
                type: "button",
                class: `status-${s}`,
                dataset: { status: s },
                "aria-pressed": String(d.status === s),
                onclick: () => this.setStatus(s),
              },
              label("status", s),
            ),
          ),
        ),
        h(
          "div",
          { class: "assignment" },
          h("span", { class: "muted" }, `${t("thread.assignee")}:`),
          h(
            "strong",
            { class: `assignee${d.assignee ? "" : " unassigned"}` },
            d.assignee || t("queue.unassigned"),
          ),
          !mine &&
            h("button", { type: "button", class: "claim", onclick: () => this.claim() }, t("thread.claim")),
          d.assignee &&
            h("button", { type: "button", class: "release link", onclick: () => this.assign(null) }, t("thread.release")),
          assignForm,
        ),
      ),
      h(
        "div",
        { class: "chips-row" },
        d.team && h("span", { class: "chip team", title: t("thread.team") }, label("team", d.team)),
        d.priority &&
          h(
            "span",
            { class: `chip priority priority-${d.priority}`, title: t("thread.priority") },
            label("priority", d.priority),
          ),
        h(
          "span",
          { class: "tags", "aria-label": t("thread.tags") },
          (d.tags || []).map((tag) =>
            h(
              "span",
              { class: "chip tag", dataset: { tag } },
              tag,
              h(
                "button",
                {
                  type: "button",
                  class: "chip-remove",
                  "aria-label": t("thread.remove_tag", { tag }),
                  onclick: () => this.editTags([], [tag]),
                },
                "×",
              ),
            ),
          ),
        ),
        tagForm,
      ),
      this.app.desk.toolbar(d),
      this.app.desk.splitBar(d),
      (d.routing_reasons || []).length > 0 &&
        h(
          "details",
          {
            class: "reasons",
            open: this.reasonsOpen,
            ontoggle: (e) => (this.reasonsOpen = e.target.open),
          },
          h("summary", {}, `${t("thread.reasons")} (${d.routing_reasons.length})`),
          h("ul", {}, d.routing_reasons.map((r) => h("li", {}, r))),
        ),
      (d.linked_conversations || []).length > 0 &&
        h(
          "div",
          { class: "linked" },
          h("span", { class: "muted" }, `${t("thread.linked")}:`),
          d.linked_conversations.map((c) =>
            h(
              "button",
              { type: "button", class: "link", onclick: () => this.app.select(c.id) },
              `#${c.number} ${c.subject || ""}`,
            ),
          ),
        ),
    );

    // Re-rendering must not cost the agent what they were typing or where they had scrolled:
    // the message list and the composer stay in place, only their content changes.
    const same = this.renderedId === d.id && this.headSlot.parentNode === this.el;
    const stick = this.isNearEnd();
    const inputs = same ? this.saveInputs() : null;
    if (!same) this.el.replaceChildren(this.headSlot, this.messagesEl, this.composer);
    this.headSlot.replaceChildren(head);
    this.messagesEl.replaceChildren(...d.messages.map((m) => this.messageItem(m, d)));
    this.renderComposer();
    this.renderedId = d.id;
    if (inputs) this.restoreInputs(inputs);
    if (!same || stick) this.scrollToEnd();
  }

  saveInputs() {
    const head = this.el.querySelector(".thread-head");
    const values = {};
    for (const input of head?.querySelectorAll("input[name]") || []) values[input.name] = input.value;
    const active = document.activeElement;
    const focused = head?.contains(active) && active.name ? active.name : null;
    return { values, focused };
  }

  restoreInputs({ values, focused }) {
    const head = this.el.querySelector(".thread-head");
    for (const [name, value] of Object.entries(values)) {
      const input = head.querySelector(`input[name="${name}"]`);
      if (input) input.value = value;
    }
    if (focused) head.querySelector(`input[name="${focused}"]`)?.focus();
  }

  messageItem(m, d) {
    const kind = m.kind === "message" ? (m.direction === "in" ? "in" : "out") : m.kind;
    const kindLabel = {
      in: t("msg.customer"),
      out: t("msg.reply"),
      note: t("msg.note"),
      auto_reply: t("msg.auto_reply"),
      system: t("msg.system"),
    }[kind];
    const delivery = m.delivery;
    const flags = Object.entries(m.flags || {}).filter(([, on]) => on === true);
    const context = contextEntries(m.context);
    const subject = m.direction === "in" && m.subject && m.subject !== d.subject ? m.subject : null;
    return h(
      "li",
      { class: `msg msg-${kind}`, dataset: { id: m.id, kind } },
      h(
        "div",
        { class: "msg-head" },
        this.app.desk.splitCheckbox(m),
        h("span", { class: "msg-kind" }, kindLabel),
        h("span", { class: "msg-author" }, m.author || ""),
        m.channel && m.channel !== d.channel && channelBadge(m.channel),
        h("time", { class: "muted", datetime: m.created_at || null }, formatTime(m.created_at)),
        delivery &&
          h(
            "span",
            {
              class: `delivery delivery-${delivery.status}`,
              dataset: { status: delivery.status },
              title: delivery.error || null,
            },
            label("delivery", delivery.status),
          ),
      ),
      subject && h("div", { class: "msg-subject" }, subject),
      h("div", { class: "msg-text" }, m.text || m.full_text || ""),
      delivery?.error && h("div", { class: "msg-error" }, delivery.error),
      flags.length > 0 &&
        h("div", { class: "msg-flags" }, flags.map(([f]) => h("span", { class: "chip" }, label("msg.flag", f)))),
      context.length > 0 &&
        h(
          "dl",
          { class: "msg-context", "aria-label": t("thread.context") },
          context.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
        ),
      (m.attachments || []).length > 0 &&
        h(
          "ul",
          { class: "msg-attachments", "aria-label": t("thread.attachments") },
          m.attachments.map((a) => {
            const text = a.size ? `${a.name} (${Math.ceil(a.size / 1024)} KB)` : a.name;
            return h(
              "li",
              {},
              a.url && SAFE_URL.test(a.url)
                ? h("a", { href: a.url, target: "_blank", rel: "noopener noreferrer" }, text)
                : text,
            );
          }),
        ),
    );
  }

  renderCustomer() {
    const c = this.customer;
    const el = this.customerEl;
    if (!c) {
      fill(
        el,
        h("h2", {}, t("customer.title")),
        this.detail ? h("p", { class: "muted" }, t("customer.none")) : null,
      );
      return;
    }
    fill(
      el,
      h("h2", {}, t("customer.title")),
      h("p", { class: "customer-name" }, c.name || c.identities[0]?.id || c.emails[0] || c.id),
      [...c.emails, ...c.phones].map((v) => h("p", { class: "muted" }, v)),
      h("h3", {}, t("customer.identities")),
      h(
        "ul",
        { class: "identities" },
        c.identities.map((i) => h("li", {}, channelBadge(i.channel), h("span", { class: "muted" }, ` ${i.account} · ${i.id}`))),
      ),
      h("h3", {}, t("customer.conversations")),
      h(
        "ul",
        { class: "customer-conversations" },
        c.conversations.map((conv) =>
          h(
            "li",
            {},
            h(
              "button",
              {
                type: "button",
                class: `link${conv.id === this.detail?.id ? " current" : ""}`,
                onclick: () => this.app.select(conv.id),
              },
              channelBadge(conv.channel),
              ` #${conv.number} ${conv.subject || ""}`,
            ),
            h("span", { class: `chip status status-${conv.status}` }, label("status", conv.status)),
          ),
        ),
      ),
      h("h3", {}, t("customer.history")),
      h(
        "ol",
        { class: "history" },
        c.history.slice(-30).map((m) =>
          h(
            "li",
            { dataset: { conversation: m.conversation_id || "" } },
            h("div", { class: "history-head" }, channelBadge(m.channel), h("time", { class: "muted" }, formatTime(m.created_at))),
            h("div", { class: "history-text" }, m.text || ""),
          ),
        ),
      ),
    );
  }

  tick(now) {
    const d = this.detail;
    const cell = this.el.querySelector(".thread-head .sla");
    if (!d || !cell) return;
    const sla = slaState(d, now, this.app);
    cell.className = `sla ${sla.cls}`;
    cell.textContent = sla.text;
    cell.title = sla.title || "";
  }

  isNearEnd() {
    const list = this.messagesEl;
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  scrollToEnd() {
    this.messagesEl.scrollTop = this.messagesEl.scrollHeight;
  }

  rerender() {
    this.render();
    this.renderCustomer();
  }
}
