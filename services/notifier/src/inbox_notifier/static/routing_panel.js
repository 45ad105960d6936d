// Routing (admins): the routing model in use and the corrections agents made per category
// (GET /api/routing), so an admin sees what the router is being taught before retraining.

import { installAdminDialog, translator } from "./admin_dialog.js";
import { h } from "./dom.js";
import { categoryLabel } from "./i18n.js";

const STRINGS = {
  ko: {
    button: "라우팅",
    title: "라우팅 모델과 상담원 수정",
    model: "모델 버전 {version} · 수정 {corrections}건 반영",
    shipped: "모델 버전 0 (기본 학습 데이터만)",
    heldout: "평가 세트 정확도 {accuracy}% ({correct}/{total})",
    category: "문의 유형",
    count: "수정",
    total: "합계",
    empty: "아직 상담원 수정이 없습니다.",
    close: "닫기",
  },
  en: {
    button: "Routing",
    title: "Routing model and agents' corrections",
    model: "Model version {version} · learned from {corrections} corrections",
    shipped: "Model version 0 (shipped training set only)",
    heldout: "Held-out accuracy {accuracy}% ({correct}/{total})",
    category: "Category",
    count: "Corrections",
    total: "Total",
    empty: "No corrections by agents yet.",
    close: "Close",
  },
};

const say = translator(STRINGS);


export async function installRoutingPanel(app) {
  await installAdminDialog(app, {
    id: "routing-panel",
    bodyClass: "routing-panel-body",
    title: say("title"),
    button: say("button"),
    close: say("close"),
    load,
  });
}

async function load(app, body) {
  let state;
  try {
    state = await app.api.request("GET", "/api/routing");
  } catch (err) {
    app.showError(err);
    return;
  }
  const { model, corrections } = state;
  const parts = [
    h(
      "p",
      { class: "routing-model" },
      model.version
        ? say("model", { version: model.version, corrections: model.corrections })
        : say("shipped"),
    ),
  ];
  if (model.heldout) {
    const accuracy = (model.heldout.accuracy * 100).toFixed(1);
    const figure = say("heldout", { ...model.heldout, accuracy });
    parts.push(h("p", { class: "muted routing-heldout" }, figure));
  }
  const rows = Object.entries(corrections.by_category).sort((a, b) => b[1] - a[1]);
  if (!rows.length) {
    parts.push(h("p", { class: "muted routing-corrections-empty" }, say("empty")));
  } else {
    parts.push(
      h(
        "table",
        { class: "routing-corrections" },
        h("thead", {}, h("tr", {}, h("th", {}, say("category")), h("th", {}, say("count")))),
        h(
          "tbody",
          {},
          ...rows.map(([category, n]) =>
            h(
              "tr",
              { "data-category": category },
              h("td", {}, categoryLabel(category)),
              h("td", { class: "count" }, String(n)),
            ),
          ),
        ),
        h(
          "tfoot",
          {},
          h(
            "tr",
            {},
            h("th", {}, say("total")),
            h("td", { class: "count" }, String(corrections.total)),
          ),
        ),
      ),
    );
  }
  body.replaceChildren(...parts);
}
