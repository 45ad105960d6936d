// An admin-only toolbar button that opens a dialog and fills its body each time it opens
// (the routing panel, the FAQ candidates). Agents get no button.

import { h } from "./dom.js";
import { getLang } from "./i18n.js";

// A `say(key, vars)` for a module's own strings, in the console's language ({name} filled in).
export function translator(strings) {
  return (key, vars = {}) => {
    const text = (strings[getLang()] ?? strings.ko)[key];
    return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
  };
}

export async function installAdminDialog(app, { id, bodyClass, title, button, close, load }) {
  let me;
  try {
    me = await app.api.me();
  } catch {
    return;
  }
  if (me.role !== "admin") return;
  const body = h("div", { class: bodyClass });
  const dialog = h(
    "dialog",
    { id, class: id },
    h("h2", {}, title),
    body,
    h("form", { method: "dialog" }, h("button", { class: "primary" }, close)),
  );
  document.body.append(dialog);
  const opener = h(
    "button",
    {
      id: `${id}-button`,
      type: "button",
      onclick: async () => {
        dialog.showModal();
        await load(app, body);
      },
    },
    button,
  );
  document.querySelector("#help-button")?.before(opener);
}
