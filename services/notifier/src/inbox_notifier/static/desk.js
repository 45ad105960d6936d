// The agent desk in the console: multi-select in the queue with a bulk bar, team and
// priority pickers, snooze with quick choices (Asia/Seoul), merge (search a conversation),
// split (select messages) and files for replies (drag and drop or pick). Everything goes
// through the agent API; the live stream confirms it like any other change.

import { $, fill, h } from "./dom.js";
import { getLang, label } from "./i18n.js";

export const TEAMS = ["general", "shipping", "returns", "product", "claims", "account", "app"];
export const PRIORITIES = ["urgent", "high", "normal", "low"];
const BULK_ACTIONS = ["reply", "resolve", "assign", "team", "tag"];
const MAX_FILE_BYTES = 10 * 1024 * 1024;
const SEOUL_OFFSET_MS = 9 * 3600_000; // Korea has no daylight saving time

const TEXT = {
  ko: {
    team: "팀",
    priority: "우선순위",
    snooze: "보류",
    "snooze.choose": "보류 (다시 열기)…",
    "snooze.hour": "1시간 후",
    "snooze.tomorrow": "내일 오전 9시",
    "snooze.monday": "월요일 오전 9시",
    "snooze.done": "{when}에 다시 열립니다.",
    "snooze.until": "{when}까지 보류",
    merge: "합치기",
    "merge.title": "다른 문의를 이 문의로 합치기",
    "merge.search": "번호·고객·제목으로 검색",
    "merge.none": "찾은 문의가 없습니다.",
    "merge.into": "이 문의로 합치기",
    "merge.done": "#{number} 문의를 합쳤습니다.",
    split: "나누기",
    "split.pick": "새 문의로 옮길 메시지를 고르세요.",
    "split.go": "선택한 {count}개를 새 문의로",
    "split.cancel": "취소",
    "split.done": "새 문의 #{number}를 만들었습니다.",
    "files.add": "파일 첨부",
    "files.drop": "파일을 여기에 끌어다 놓으세요 (10MB 이하)",
    "files.too_large": "{name}: 10MB를 넘는 파일은 보낼 수 없습니다.",
    "files.remove": "{name} 빼기",
    "bulk.selected": "{count}건 선택",
    "bulk.all": "모두 선택",
    "bulk.apply": "적용",
    "bulk.clear": "선택 해제",
    "bulk.value.reply": "답변 ({{customer.name}} 사용 가능)",
    "bulk.value.assign": "상담원 이름",
    "bulk.value.team": "팀",
    "bulk.value.tag": "태그",
    "bulk.action.reply": "일괄 답변",
    "bulk.action.resolve": "일괄 해결",
    "bulk.action.assign": "일괄 배정",
    "bulk.action.team": "팀 이관",
    "bulk.action.tag": "태그 추가",
    "bulk.done": "{ok}건 처리, {failed}건 실패",
    "bulk.failed": "#{number}: {error}",
    transferred: "{team} 팀으로 이관했습니다.",
  },
  en: {
    team: "Team",
    priority: "Priority",
    snooze: "Snooze",
    "snooze.choose": "Snooze until…",
    "snooze.hour": "In 1 hour",
    "snooze.tomorrow": "Tomorrow 9:00",
    "snooze.monday": "Monday 9:00",
    "snooze.done": "Reopens {when}.",
    "snooze.until": "Snoozed until {when}",
    merge: "Merge",
    "merge.title": "Merge another conversation into this one",
    "merge.search": "Search by number, customer, subject",
    "merge.none": "No conversation found.",
    "merge.into": "Merge into this one",
    "merge.done": "Merged #{number}.",
    split: "Split",
    "split.pick": "Pick the messages for a new conversation.",
    "split.go": "Move {count} to a new conversation",
    "split.cancel": "Cancel",
    "split.done": "Created conversation #{number}.",
    "files.add": "Attach file",
    "files.drop": "Drop files here (10 MB max)",
    "files.too_large": "{name}: files over 10 MB cannot be sent.",
    "files.remove": "Remove {name}",
    "bulk.selected": "{count} selected",
    "bulk.all": "Select all",
    "bulk.apply": "Apply",
    "bulk.clear": "Clear",
    "bulk.value.reply": "Reply ({{customer.name}} works)",
    "bulk.value.assign": "Agent name",
    "bulk.value.team": "Team",
    "bulk.value.tag": "Tag",
    "bulk.action.reply": "Reply to all",
    "bulk.action.resolve": "Resolve all",
    "bulk.action.assign": "Assign all",
    "bulk.action.team": "Transfer team",
    "bulk.action.tag": "Add tag",
    "bulk.done": "{ok} done, {failed} failed",
    "bulk.failed": "#{number}: {error}",
    transferred: "Transferred to {team}.",
  },
};

function tr(key, vars = {}) {
  const text = TEXT[getLang()]?.[key] ?? TEXT.ko[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** The instant of a snooze quick choice: in an hour, or 9:00 in Seoul tomorrow / on Monday. */
export function snoozeUntil(choice, now = Date.now()) {
  if (choice === "hour") return new Date(now + 3600_000);
  const seoul = new Date(now + SEOUL_OFFSET_MS); // its UTC fields are Seoul's wall clock
  let days = 1;
  if (choice === "monday") days = (8 - seoul.getUTCDay()) % 7 || 7;
  const at = Date.UTC(seoul.getUTCFullYear(), seoul.getUTCMonth(), seoul.getUTCDate() + days, 9);
  return new Date(at - SEOUL_OFFSET_MS);
}

function seoulLabel(date) {
  return new Intl.DateTimeFormat(getLang() === "ko" ? "ko-KR" : "en-GB", {
    timeZone: "Asia/Seoul",
    weekday: "short",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  }).format(date);
}

export class Desk {
  constructor(app) {
    this.app = app;
    this.selected = new Set(); // conversation ids picked in the queue
    this.files = []; // uploaded files for the next reply: {ref, name, content_type, size}
    this.splitMode = false;
    this.splitPicked = new Set();
    this.bar = $("#bulk-bar");
    this.fileList = h("ul", { class: "file-chips", "aria-live": "polite" });
    this.fileInput = h("input", { type: "file", multiple: true, hidden: true, class: "file-input" });
    this.fileInput.addEventListener("change", () => {
      this.addFiles([...this.fileInput.files]);
      this.fileInput.value = "";
    });
    this.renderBar();
  }

  // --- the queue: multi-select and the bulk bar -----------------------------------------

  rowCheckbox(id) {
    return h("input", {
      type: "checkbox",
      class: "select",
      "aria-label": tr("bulk.selected", { count: 1 }),
      checked: this.selected.has(id),
      onchange: (e) => this.toggle(id, e.target.checked),
      onclick: (e) => e.stopPropagation(),
    });
  }

  toggle(id, on) {
    if (on) this.selected.add(id);
    else this.selected.delete(id);
    this.renderBar();
  }

  clearSelection() {
    this.selected.clear();
    this.renderBar();
    this.app.queue?.render();
  }

  renderBar() {
    const bar = this.bar;
    if (!bar) return;
    bar.hidden = this.selected.size === 0;
    if (bar.hidden) {
      bar.replaceChildren();
      return;
    }
    const action = h(
      "select",
      { name: "bulk-action", "aria-label": "bulk action" },
      BULK_ACTIONS.map((a) => h("option", { value: a }, tr(`bulk.action.${a}`))),
    );
    const text = h("textarea", { name: "bulk-value", rows: 2 });
    const describe = () => {
      text.hidden = action.value === "resolve";
      text.placeholder = tr(`bulk.value.${action.value}`);
      text.setAttribute("aria-label", text.placeholder);
    };
    action.value = this.barAction || "reply";
    action.addEventListener("change", () => {
      this.barAction = action.value;
      describe();
    });
    describe();
    const apply = h("button", { type: "submit", class: "primary" }, tr("bulk.apply"));
    const form = h(
      "form",
      {
        class: "bulk-form",
        onsubmit: async (e) => {
          e.preventDefault();
          apply.disabled = true;
          await this.applyBulk(action.value, text.value.trim());
          apply.disabled = false;
        },
      },
      h("strong", { class: "bulk-count" }, tr("bulk.selected", { count: this.selected.size })),
      h(
        "button",
        { type: "button", class: "link", onclick: () => this.selectAll() },
        tr("bulk.all"),
      ),
      h("button", { type: "button", class: "link", onclick: () => this.clearSelection() }, tr("bulk.clear")),
      action,
      text,
      apply,
    );
    bar.replaceChildren(form);
  }

  selectAll() {
    for (const id of this.app.queue.order) this.selected.add(id);
    this.renderBar();
    this.app.queue.render();
  }

  async applyBulk(action, value) {
    const ids = [...this.selected];
    if (ids.length === 0 || (action !== "resolve" && !value)) return;
    const fields = {
      reply: { text: value },
      assign: { assignee: value },
      team: { team: value },
      tag: { add: [value] },
      resolve: {},
    }[action];
    let answer;
    try {
      answer = await this.app.api.bulk(ids, action, fields);
    } catch (err) {
      this.app.showError(err);
      return;
    }
    const failed = answer.results.filter((r) => !r.ok);
    this.app.showInfo(tr("bulk.done", { ok: answer.results.length - failed.length, failed: failed.length }));
    for (const r of failed.slice(0, 3)) {
      const number = this.app.conversations.get(r.id)?.number ?? r.id;
      this.app.showError({ code: r.error }, { text: tr("bulk.failed", { number, error: r.message || r.error }) });
    }
    this.selected = new Set(failed.map((r) => r.id)); // what failed stays picked for a retry
    this.renderBar();
    this.app.queue.reload();
  }

  // --- the thread: team, priority, snooze, merge, split ----------------------------------

  toolbar(d) {
    const teams = [...new Set([...TEAMS, ...this.app.teams, d.team].filter(Boolean))];
    const team = h(
      "select",
      { name: "team", "aria-label": tr("team"), onchange: (e) => this.setTeam(d, e.target.value) },
      teams.map((v) => h("option", { value: v }, label("team", v))),
    );
    team.value = d.team || "";
    const priority = h(
      "select",
      {
        name: "priority",
        "aria-label": tr("priority"),
        onchange: (e) => this.setPriority(d, e.target.value),
      },
      PRIORITIES.map((v) => h("option", { value: v }, label("priority", v))),
    );
    priority.value = d.priority || "normal";
    const snooze = h(
      "select",
      { name: "snooze", "aria-label": tr("snooze"), onchange: (e) => this.snooze(d, e.target.value) },
      h("option", { value: "" }, tr("snooze.choose")),
      ["hour", "tomorrow", "monday"].map((v) => h("option", { value: v }, tr(`snooze.${v}`))),
    );
    const merged = d.status === "merged";
    return h(
      "div",
      { class: "desk-row" },
      h("label", {}, h("span", { class: "muted" }, tr("team")), team),
      h("label", {}, h("span", { class: "muted" }, tr("priority")), priority),
      !merged && snooze,
      d.snoozed_until &&
        h("span", { class: "chip snoozed" }, tr("snooze.until", { when: seoulLabel(new Date(d.snoozed_until)) })),
      !merged && h("button", { type: "button", class: "merge", onclick: () => this.openMerge(d) }, tr("merge")),
      !merged &&
        h(
          "button",
          {
            type: "button",
            class: "split",
            "aria-pressed": String(this.splitMode),
            onclick: () => this.toggleSplit(),
          },
          tr("split"),
        ),
    );
  }

  async setTeam(d, team) {
    const result = await this.app.thread.run(() => this.app.api.setTeam(d.id, team));
    if (result) this.app.showInfo(tr("transferred", { team: label("team", team) }));
  }

  async setPriority(d, priority) {
    await this.app.thread.run(() => this.app.api.setPriority(d.id, priority));
  }

  async snooze(d, choice) {
    if (!choice) return;
    const until = snoozeUntil(choice);
    const result = await this.app.thread.run(() => this.app.api.snooze(d.id, until.toISOString()));
    if (result) this.app.showInfo(tr("snooze.done", { when: seoulLabel(until) }));
  }

  openMerge(d) {
    const dialog = $("#merge-dialog");
    const results = h("ul", { class: "merge-results" });
    const search = h("input", {
      type: "search",
      name: "merge-q",
      placeholder: tr("merge.search"),
      "aria-label": tr("merge.search"),
      autocomplete: "off",
    });
    let debounce = null;
    const find = async () => {
      const q = search.value.trim();
      if (!q) {
        results.replaceChildren();
        return;
      }
      let page;
      try {
        page = await this.app.api.conversations({ q, status: "open,pending,resolved" });
      } catch (err) {
        this.app.showError(err);
        return;
      }
      const found = page.items.filter((c) => c.id !== d.id);
      fill(
        results,
        found.length === 0 && h("li", { class: "muted" }, tr("merge.none")),
        found.map((c) =>
          h(
            "li",
            { dataset: { id: c.id } },
            h("span", { class: "number" }, `#${c.number}`),
            h("span", {}, ` ${c.customer?.name || c.customer?.email || ""} · ${c.subject || ""} `),
            h(
              "button",
              { type: "button", class: "primary", onclick: () => this.merge(d, c, dialog) },
              tr("merge.into"),
            ),
          ),
        ),
      );
    };
    search.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(find, 250);
    });
    fill(
      dialog,
      h("h2", {}, tr("merge.title")),
      search,
      results,
      h("form", { method: "dialog" }, h("button", { class: "link" }, tr("split.cancel"))),
    );
    dialog.showModal();
    search.focus();
  }

  async merge(d, other, dialog) {
    const result = await this.app.thread.run(() => this.app.api.merge(d.id, other.id));
    if (!result) return;
    dialog.close();
    this.app.showInfo(tr("merge.done", { number: other.number }));
    this.app.queue.reload();
    this.app.thread.open(d.id); // the moved messages
  }

  toggleSplit() {
    this.splitMode = !this.splitMode;
    this.splitPicked.clear();
    this.app.thread.render();
  }

  splitCheckbox(m) {
    if (!this.splitMode || m.kind !== "message") return null;
    return h("input", {
      type: "checkbox",
      class: "split-pick",
      "aria-label": tr("split"),
      checked: this.splitPicked.has(m.id),
      onchange: (e) => {
        if (e.target.checked) this.splitPicked.add(m.id);
        else this.splitPicked.delete(m.id);
        this.app.thread.render();
      },
    });
  }

  splitBar(d) {
    if (!this.splitMode) return null;
    return h(
      "div",
      { class: "split-bar" },
      h("span", {}, tr("split.pick")),
      h(
        "button",
        {
          type: "button",
          class: "primary split-go",
          disabled: this.splitPicked.size === 0,
          onclick: () => this.split(d),
        },
        tr("split.go", { count: this.splitPicked.size }),
      ),
      h("button", { type: "button", class: "link", onclick: () => this.toggleSplit() }, tr("split.cancel")),
    );
  }

  async split(d) {
    let answer;
    try {
      answer = await this.app.api.split(d.id, [...this.splitPicked]);
    } catch (err) {
      this.app.showError(err);
      return;
    }
    this.splitMode = false;
    this.splitPicked.clear();
    this.app.upsert(answer.original);
    this.app.upsert(answer.conversation);
    this.app.showInfo(tr("split.done", { number: answer.conversation.number }));
    this.app.select(answer.conversation.id);
  }

  onOpen() {
    this.splitMode = false;
    this.splitPicked.clear();
    this.clearFiles();
  }

  // --- files for the reply -------------------------------------------------------------

  /** The composer's file controls; drops anywhere on `form` are uploaded. */
  fileControls(form) {
    for (const type of ["dragenter", "dragover"]) {
      form.addEventListener(type, (e) => {
        if (![...(e.dataTransfer?.types || [])].includes("Files")) return;
        e.preventDefault();
        form.classList.add("dropping");
      });
    }
    form.addEventListener("dragleave", (e) => {
      if (!form.contains(e.relatedTarget)) form.classList.remove("dropping");
    });
    form.addEventListener("drop", (e) => {
      e.preventDefault();
      form.classList.remove("dropping");
      this.addFiles([...(e.dataTransfer?.files || [])]);
    });
    return h(
      "div",
      { class: "files", title: tr("files.drop") },
      this.fileInput,
      h(
        "button",
        { type: "button", class: "attach", onclick: () => this.fileInput.click() },
        tr("files.add"),
      ),
      this.fileList,
    );
  }

  async addFiles(files) {
    for (const file of files) {
      if (file.size > MAX_FILE_BYTES) {
        this.app.showError({ code: "too_large" }, { text: tr("files.too_large", { name: file.name }) });
        continue;
      }
      try {
        this.files.push(await this.app.api.upload(file));
      } catch (err) {
        this.app.showError(err);
      }
      this.renderFiles();
    }
  }

  renderFiles() {
    this.fileList.replaceChildren(
      ...this.files.map((f, i) =>
        h(
          "li",
          { class: "chip file", dataset: { ref: f.ref } },
          `${f.name} (${Math.max(1, Math.ceil(f.size / 1024))} KB)`,
          h(
            "button",
            {
              type: "button",
              class: "chip-remove",
              "aria-label": tr("files.remove", { name: f.name }),
              onclick: () => {
                this.files.splice(i, 1);
                this.renderFiles();
              },
            },
            "×",
          ),
        ),
      ),
    );
  }

  refs() {
    return this.files.map((f) => f.ref);
  }

  clearFiles() {
    this.files = [];
    this.renderFiles();
  }
}
