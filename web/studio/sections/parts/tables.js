// Building blocks of the Budget section's tables: engine names, scrollable tables whose cells carry their
// column name (so a narrow container can stack them), text with its web addresses as links.

export const ENGINE_NAMES = {
  local_comfy: "This machine (ComfyUI)",
  provider_liveportrait: "LivePortrait (this machine)",
  provider_identity_nodes: "Face identity nodes (this machine)",
  provider_fal: "fal.ai",
  provider_kling: "Kling",
  provider_runware: "Runware",
  provider_synclabs: "Sync Labs",
};

/** A readable engine name ("provider_fal" → "fal.ai"). */
export function engineName(id) {
  return ENGINE_NAMES[id] || id || "—";
}

/** A table in a focusable, labelled scroll region (narrow sidebar), with a caption for screen readers. */
export function dataTable(h, { caption, columns, rows, className = "" }) {
  const table = h("table", { class: `ainf-table ${className}` },
    h("caption", { class: "ainf-offscreen" }, caption),
    h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, ...rows.map((cells) => h("tr", {},
      ...cells.map((cell, i) => h("td", { "data-label": columns[i] }, cell))))));
  return h("div", { class: "ainf-table-wrap", role: "region", "aria-label": caption, tabindex: "0" }, table);
}

/** Text whose http(s) addresses become links that open in a new tab. */
export function linkedText(h, text) {
  const parts = String(text || "").split(/(https?:\/\/[^\s)]+)/);
  return h("span", {}, ...parts.filter(Boolean).map((part) => (/^https?:\/\//.test(part)
    ? h("a", { href: part, target: "_blank", rel: "noopener noreferrer" }, part)
    : part)));
}
