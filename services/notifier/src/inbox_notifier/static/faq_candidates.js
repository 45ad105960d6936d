// FAQ candidates (admins): questions customers keep asking that no FAQ entry covers, found in
// the queue by GET /api/faq/candidates. One click turns a candidate into an entry (with the
// agents' most common answer; suggested to agents, not answered by the bot until an admin
// switches auto_answer on).

import { installAdminDialog, translator } from "./admin_dialog.js";
import { h } from "./dom.js";

const STRINGS = {
  ko: {
    button: "FAQ 후보",
    title: "FAQ 후보 — 최근 30일, 항목이 없는 반복 질문",
    count: "{count}건",
    answer: "상담원이 가장 많이 한 답변",
    no_answer: "상담원 답변이 아직 없습니다",
    create: "FAQ 항목으로 만들기",
    created: "FAQ 항목을 만들었습니다",
    empty: "반복되는 새 질문이 없습니다.",
    close: "닫기",
  },
  en: {
    button: "FAQ candidates",
    title: "FAQ candidates — last 30 days, repeated questions with no entry",
    count: "{count} conversations",
    answer: "The agents' most common answer",
    no_answer: "No agent answer yet",
    create: "Make an FAQ entry",
    created: "FAQ entry created",
    empty: "No new repeated questions.",
    close: "Close",
  },
};

const say = translator(STRINGS);

export async function installFaqCandidates(app) {
  await installAdminDialog(app, {
    id: "faq-candidates",
    bodyClass: "faq-candidates-list",
    title: say("title"),
    button: say("button"),
    close: say("close"),
    load,
  });
}

async function load(app, list) {
  let found;
  try {
    found = (await app.api.request("GET", "/api/faq/candidates?days=30")).items;
  } catch (err) {
    app.showError(err);
    return;
  }
  if (!found.length) {
    list.replaceChildren(h("p", { class: "muted" }, say("empty")));
    return;
  }
  list.replaceChildren(...found.map((c) => candidate(app, c)));
}

function candidate(app, c) {
  const status = h("span", { class: "faq-candidate-status", role: "status" });
  const create = h(
    "button",
    {
      type: "button",
      class: "primary faq-candidate-create",
      disabled: !c.answer,
      onclick: async () => {
        create.disabled = true;
        try {
          await app.api.request("POST", "/api/faq", {
            question: c.question,
            examples: c.examples,
            answer: c.answer,
            auto_answer: false,
          });
          status.textContent = say("created");
        } catch (err) {
          create.disabled = false;
          app.showError(err);
        }
      },
    },
    say("create"),
  );
  return h(
    "article",
    { class: "faq-candidate" },
    h(
      "h3",
      {},
      c.question,
      " ",
      h("span", { class: "faq-candidate-count" }, say("count", { count: c.count })),
    ),
    h("ul", {}, ...c.examples.map((e) => h("li", {}, e))),
    h(
      "p",
      { class: "faq-candidate-answer" },
      c.answer ? `${say("answer")}: ${c.answer}` : say("no_answer"),
    ),
    h("div", {}, create, " ", status),
  );
}
