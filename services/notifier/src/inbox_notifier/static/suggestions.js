// The suggestion strip above the reply box: the FAQ answers the conversation's latest
// customer message matches (the conversation detail's `suggestions`, at most 3). One click
// puts the rendered answer in the reply box; the agent still reads, edits and sends it.

import { h } from "./dom.js";
import { getLang } from "./i18n.js";

const STRINGS = {
  ko: { title: "추천 답변", use: "답장에 넣기: {answer}" },
  en: { title: "Suggested answers", use: "Put in the reply: {answer}" },
};

function say(key, answer = "") {
  const table = STRINGS[getLang()] ?? STRINGS.ko;
  return table[key].replace("{answer}", answer);
}

function shorten(text, max = 60) {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export class SuggestionStrip {
  /** `onPick(answer)` is called with the rendered answer of the clicked suggestion. */
  constructor(onPick) {
    this.onPick = onPick;
    this.el = h("div", { class: "suggestions", hidden: true, "data-testid": "suggestions" });
  }

  show(suggestions) {
    const items = (suggestions || []).slice(0, 3);
    this.el.hidden = items.length === 0;
    if (!items.length) {
      this.el.replaceChildren();
      return;
    }
    this.el.replaceChildren(
      h("span", { class: "suggestions-title" }, say("title")),
      ...items.map((s) =>
        h(
          "button",
          {
            type: "button",
            class: "suggestion",
            title: s.answer,
            "aria-label": say("use", s.answer),
            "data-faq-id": s.faq_id,
            onclick: () => this.onPick(s.answer),
          },
          shorten(s.answer),
        ),
      ),
    );
  }
}
