// The "Content credentials" panel of a job's page: what each output's C2PA manifest says, as read back
// by the sidecar (valid / tampered / none, the signer, the actions and the ingredients).
import { replace } from "./dom.js";

const VERDICTS = { valid: ["ok", "Valid"], tampered: ["error", "Tampered"], none: ["warn", "No credentials"] };

function outputPanel(h, out) {
  const [kind, text] = VERDICTS[out.status] || ["warn", out.status];
  return h("article", { class: "ainf-card ainf-credential", "data-filename": out.filename, "data-verdict": out.status },
    h("h5", { class: "ainf-credential-title" }, out.filename, " ", h("span", { class: `ainf-badge ainf-badge-${kind}` }, text)),
    out.status === "none" ? h("p", {}, "This file carries no content credentials.") : h("dl", { class: "ainf-kv" },
      h("dt", {}, "Signer"), h("dd", {}, `${out.signer || "—"} (${out.trusted ? "trusted" : "untrusted signer: made on this machine, not on the C2PA trust list"})`),
      h("dt", {}, "Made with"), h("dd", {}, out.generator || "—"),
      h("dt", {}, "Actions"), h("dd", {}, h("ul", {}, (out.actions || []).map((a) => h("li", {}, [a.action, a.source_type ? ` (${a.source_type.split("/").pop()})` : "", a.step ? ` — ${a.step}` : ""].join(""))))),
      h("dt", {}, "Ingredients"), h("dd", {}, (out.ingredients || []).length ? h("ul", {}, out.ingredients.map((i) => h("li", {}, `${i.title} (${i.media_type}, ${i.relationship})${i.sha256 ? ` sha256 ${i.sha256.slice(0, 12)}…` : ""}`))) : "none"),
    ),
    (out.problems || []).length ? h("ul", { class: "ainf-warning" }, out.problems.map((p) => h("li", {}, p))) : null,
    h("details", {}, h("summary", {}, "Summary as text"), h("pre", { class: "ainf-log" }, out.summary || "")));
}

/** The credentials of every output of a job, or the route's failure as an error box. */
export async function credentialsPanel(ctx, jobId) {
  const { h } = ctx;
  const panel = h("div", { class: "ainf-credentials", "data-credentials": "" });
  try {
    const answer = await ctx.api.get(`/jobs/${encodeURIComponent(jobId)}/credentials`);
    if (!answer.outputs.length) return replace(panel, h("p", { class: "ainf-muted" }, "No signed media outputs."));
    return replace(panel, answer.outputs.map((out) => outputPanel(h, out)));
  } catch (err) {
    return replace(panel, ctx.errorBox(err));
  }
}
