// Gallery: every job newest first (API, CLI and editor ones) with previews, filters by status and preset,
// live updates from the job events; and a job's page: outputs, redacted inputs, ledger lines, logs,
// consent record, content credentials, the failure with its remediation, Re-run and Cancel.
import { errorFromBody } from "../api.js";
import { replace, uid } from "../dom.js";
import { formatDuration } from "../format.js";
import { mediaPreview } from "../media.js";
import { engineName, statusBadge } from "../names.js";
import { followJob, jobOutputs, openInEditorButton } from "../run_panel.js";
import { credentialsPanel } from "../credentials.js";

const STATES = ["queued", "running", "completed", "failed", "cancelled"];
const RUN_FIELDS = new Set(["quality_level", "seed", "character_id", "consent_id"]);

function duration(job) {
  if (!job.started_at) return "—";
  const end = job.finished_at ? Date.parse(job.finished_at) : Date.now();
  return formatDuration((end - Date.parse(job.started_at)) / 1000);
}

function jobLink(ctx, job, text) {
  return ctx.h("a", { href: `#/jobs/${encodeURIComponent(job.job_id)}`, onClick: (e) => { e.preventDefault(); ctx.navigate("jobs", { id: job.job_id }); } }, text);
}

// the preset's saved output, not an intermediate a remote step kept (…/remote/node2_0.mp4)
function mainOutput(job) {
  const files = job.artifacts || [];
  return files.find((a) => !/(^|\/)remote$/.test(a.subfolder || "")) || files[0];
}

function jobCard(ctx, job, names) {
  const { h } = ctx;
  const first = mainOutput(job);
  const title = names[job.preset_id] || job.preset_id || "Editor graph";
  return h("article", { class: "ainf-card ainf-job", "data-job-id": job.job_id, "data-status": job.status },
    first ? mediaPreview(h, first, `${first.kind} output of ${title}`) : h("div", { class: "ainf-job-thumb-none", "aria-hidden": "true" }, job.status === "failed" ? "No output" : "…"),
    h("h3", {}, jobLink(ctx, job, title)),
    h("p", { class: "ainf-row ainf-small" }, statusBadge(h, job.status), engineName(job.engine_used || job.engine), " · ", ctx.formatCredits(job.credit_cost || 0), " · ", duration(job)),
    h("p", { class: "ainf-small ainf-muted" }, `${ctx.formatAge(job.created_at)} · from ${job.source}`),
    job.status === "failed" && job.error ? h("p", { class: "ainf-small ainf-job-error" }, job.error) : null);
}

async function gallery(container, ctx) {
  const { h } = ctx;
  const filters = { status: ctx.params.status || "", preset: ctx.params.preset || "" };
  const grid = h("div", { class: "ainf-cards ainf-gallery", "aria-live": "polite" });
  const count = h("p", { class: "ainf-small ainf-muted", role: "status" });
  let presets = [];
  try {
    presets = (await ctx.api.get("/presets")).presets;
  } catch {
    presets = [];
  }
  const names = Object.fromEntries(presets.map((p) => [p.id, p.name]));
  const statusId = uid("filter");
  const presetId = uid("filter");
  const statusSel = h("select", { id: statusId, onChange: () => { filters.status = statusSel.value; load(); } },
    h("option", { value: "" }, "All"), STATES.map((s) => h("option", { value: s, selected: s === filters.status }, s)));
  const presetSel = h("select", { id: presetId, onChange: () => { filters.preset = presetSel.value; load(); } },
    h("option", { value: "" }, "All"), presets.map((p) => h("option", { value: p.id, selected: p.id === filters.preset }, p.name)));

  async function load() {
    const q = new URLSearchParams({ limit: "200" });
    if (filters.status) q.set("status", filters.status);
    try {
      const answer = await ctx.api.get(`/jobs?${q}`);
      const jobs = answer.jobs.filter((j) => !filters.preset || j.preset_id === filters.preset);
      count.textContent = `${jobs.length} job(s)`;
      replace(grid, jobs.length ? jobs.map((j) => jobCard(ctx, j, names)) : h("p", { class: "ainf-muted" }, "No jobs yet. ",
        h("a", { href: "#/create", onClick: (e) => { e.preventDefault(); ctx.navigate("create"); } }, "Create one"), "."));
    } catch (err) {
      replace(grid, ctx.errorBox(err));
    }
  }
  replace(container,
    h("div", { class: "ainf-row ainf-filters" },
      h("div", { class: "ainf-field" }, h("label", { for: statusId }, "Status"), statusSel),
      h("div", { class: "ainf-field" }, h("label", { for: presetId }, "Preset"), presetSel)),
    count, grid);
  await load();
  let pending = null;
  const off = ctx.on("ainfluencer.job", () => {
    clearTimeout(pending);
    pending = setTimeout(load, 250); // a burst of events (queued, running, completed) reloads once
  });
  return () => {
    off();
    clearTimeout(pending);
  };
}

function logLine(entry) {
  const { ts, level, message, ...extra } = entry;
  const fields = Object.entries(extra).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  return [ts, level || "info", message || "", ...fields].join(" ");
}

function definitionList(h, entries) {
  return h("dl", { class: "ainf-kv" }, entries.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v === null || v === undefined || v === "" ? "—" : String(v))]));
}

async function ledgerLines(ctx, jobId) {
  const { h } = ctx;
  try {
    const ledger = await ctx.api.get("/credits/ledger?limit=500");
    const rows = ledger.transfers.filter((t) => t.job_id === jobId);
    if (!rows.length) return h("p", { class: "ainf-muted" }, "No ledger lines: nothing was held or charged for this job.");
    return h("div", { class: "ainf-table-wrap" }, h("table", { class: "ainf-table ainf-ledger" },
      h("caption", { class: "ainf-offscreen" }, "Ledger lines of this job"),
      h("thead", {}, h("tr", {}, ["When", "Kind", "Engine", "Credits", "Reason"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((t) => h("tr", { "data-kind": t.kind },
        h("td", {}, ctx.formatAge(t.created_at)), h("td", {}, t.kind), h("td", {}, engineName(t.engine)),
        h("td", { "data-credits": String(t.credits) }, ctx.formatCredits(t.credits)), h("td", {}, t.reason || t.step_id || ""))))));
  } catch (err) {
    return ctx.errorBox(err);
  }
}

async function consentRecord(ctx, jobId) {
  const { h } = ctx;
  try {
    const answer = await ctx.api.get(`/jobs/${encodeURIComponent(jobId)}/consent`);
    if (!answer.consent_given && !answer.records.length) return h("p", { class: "ainf-muted" }, "No consent was needed or given for this run.");
    return h("div", { "data-consent": "" },
      h("p", {}, answer.consent_given ? "Consent was confirmed for this run." : "No consent was given for this run."),
      answer.records.map((r) => definitionList(h, [["Record", r.consent_id], ["Confirmed by", r.confirmed_by], ["From", r.source], ["When", r.confirmed_at], ["Character", r.character_id]])));
  } catch (err) {
    return ctx.errorBox(err);
  }
}

async function jobPage(container, ctx, jobId) {
  const { h } = ctx;
  const back = h("p", {}, h("a", { href: "#/jobs", onClick: (e) => { e.preventDefault(); ctx.navigate("jobs"); } }, "← All jobs"));
  let job;
  try {
    job = await ctx.api.get(`/jobs/${encodeURIComponent(jobId)}`);
  } catch (err) {
    replace(container, back, ctx.errorBox(err));
    return null;
  }
  const feedback = h("div", {});
  const live = h("div", {});
  let stop = null;
  const inputs = Object.entries(job.inputs || {}).filter(([k]) => !RUN_FIELDS.has(k));
  const rerun = job.preset_id ? h("button", { type: "button", class: "ainf-button ainf-button-primary", onClick: async () => {
    rerun.disabled = true;
    const body = { inputs: Object.fromEntries(inputs), quality_level: job.quality_level || undefined, consent_given: job.consent_given };
    if (job.engine_used && job.engine_used !== "auto") body.engine = job.engine_used;
    if (job.inputs.character_id) body.character_id = job.inputs.character_id;
    try {
      const started = await ctx.api.post(`/presets/${job.preset_id}/run`, body);
      ctx.toast("Re-run started", "info");
      ctx.navigate("jobs", { id: started.job_id });
    } catch (err) {
      replace(feedback, ctx.errorBox(err));
      rerun.disabled = false;
    }
  } }, "Re-run with the same inputs") : null;
  const [ledger, consent, logs, credentials] = await Promise.all([
    ledgerLines(ctx, job.job_id),
    consentRecord(ctx, job.job_id),
    ctx.api.get(`/jobs/${encodeURIComponent(job.job_id)}/logs`).catch((err) => err),
    job.status === "completed" ? credentialsPanel(ctx, job.job_id) : null,
  ]);
  const failure = job.status === "failed"
    ? ctx.errorBox(job.error_detail ? errorFromBody(job.error_detail) : errorFromBody({ error: job.error_code, message: job.error, remediation: job.remediation }))
    : null;
  replace(container, back,
    h("h3", {}, job.preset_id || "Editor graph", " ", statusBadge(h, job.status)),
    definitionList(h, [["Job", job.job_id], ["Engine", engineName(job.engine_used || job.engine)], ["Quality", job.quality_level], ["Cost", ctx.formatCredits(job.credit_cost || 0)],
      ["Created", `${job.created_at} (${ctx.formatAge(job.created_at)})`], ["Duration", duration(job)], ["From", job.source]]),
    h("div", { class: "ainf-row" }, rerun, job.status === "completed" ? openInEditorButton(ctx, job, feedback) : null),
    feedback, failure, live,
    job.status === "completed" ? [h("h4", {}, "Outputs"), jobOutputs(ctx, job)] : null,
    credentials ? [h("h4", {}, "Content credentials"), credentials] : null,
    h("h4", {}, "Inputs"), inputs.length ? definitionList(h, inputs) : h("p", { class: "ainf-muted" }, "No inputs recorded."),
    h("h4", {}, "Ledger"), ledger,
    h("h4", {}, "Consent"), consent,
    h("h4", {}, "Log"),
    logs instanceof Error ? ctx.errorBox(logs) : h("pre", { class: "ainf-log", tabindex: "0", "aria-label": "Job log" }, (logs.lines || []).map(logLine).join("\n") || "No log lines."));
  if (job.status === "queued" || job.status === "running") {
    stop = followJob(ctx, live, job.job_id);
    const off = ctx.on("ainfluencer.job", (event) => {
      if (event && event.job_id === job.job_id && ["completed", "failed", "cancelled"].includes(event.status)) ctx.navigate("jobs", { id: job.job_id, at: Date.now() });
    });
    return () => {
      stop();
      off();
    };
  }
  return null;
}

export default {
  id: "jobs",
  title: "Gallery",
  async render(container, ctx) {
    if (ctx.params.id) return jobPage(container, ctx, ctx.params.id);
    return gallery(container, ctx);
  },
};
