// A job while it runs and once it ends: progress with the node's own status text, Cancel, the outputs,
// "Open in graph editor", and for a failure its message, remediation and Copy details.
import { errorFromBody } from "./api.js";
import { replace } from "./dom.js";
import { jobGraph, openInEditor } from "./editor_link.js";
import { mediaPreview } from "./media.js";
import { statusBadge } from "./names.js";

const FINAL = new Set(["completed", "failed", "cancelled"]);

/** "Open in graph editor" for a job: loads the graph ComfyUI ran, or says why it cannot. */
export function openInEditorButton(ctx, job, feedback) {
  const { h } = ctx;
  const button = h("button", { type: "button", class: "ainf-button", onClick: async () => {
    button.disabled = true;
    const graph = await jobGraph(job.prompt_id);
    button.disabled = false;
    if (!graph) {
      replace(feedback, h("p", { class: "ainf-warning" }, "ComfyUI no longer holds this run's graph (its history starts with each restart). Open the preset from Workflow → Browse Templates → ainfluencer instead."));
      return;
    }
    await openInEditor(graph, `${job.preset_id || "job"}-${job.job_id.slice(-6)}`, ctx.embedded);
    ctx.toast("The run's graph is open in the editor", "info");
  } }, "Open in graph editor");
  return button;
}

/** The outputs of a finished job as previews with a download link each. */
export function jobOutputs(ctx, job) {
  const { h } = ctx;
  const files = job.artifacts || [];
  if (!files.length) return h("p", { class: "ainf-muted" }, "No output files.");
  return h("div", { class: "ainf-outputs" }, files.map((a) => h("figure", { class: "ainf-output" },
    mediaPreview(h, { filename: a.filename, subfolder: a.subfolder, type: a.type, kind: a.kind }, `${a.kind} output ${a.filename}`),
    h("figcaption", { class: "ainf-small" }, a.filename, " · ",
      h("a", { href: `/view?${new URLSearchParams({ filename: a.filename, subfolder: a.subfolder, type: a.type })}`, download: a.filename }, "Download")),
  )));
}

/** Follow a job live in `container`; returns a stop function. */
export function followJob(ctx, container, jobId) {
  const { h } = ctx;
  let stopped = false;
  let timer = null;
  const badge = h("span", {});
  const bar = h("progress", { class: "ainf-progress", max: "1", value: "0", "aria-label": "Progress of the run" });
  const text = h("p", { class: "ainf-progress-text", "aria-live": "polite" }, "Queued…");
  const feedback = h("div", {});
  const result = h("div", {});
  const cancel = h("button", { type: "button", class: "ainf-button ainf-button-danger", onClick: async () => {
    cancel.disabled = true;
    try {
      render(await ctx.api.post(`/jobs/${jobId}/cancel`));
    } catch (err) {
      replace(feedback, ctx.errorBox(err));
      cancel.disabled = false;
    }
  } }, "Cancel");
  const jobLink = h("a", { href: `#/jobs/${encodeURIComponent(jobId)}`, onClick: (e) => { e.preventDefault(); ctx.navigate("jobs", { id: jobId }); } }, "Open the job page");
  replace(container, h("div", { class: "ainf-run", "data-job-id": jobId },
    h("div", { class: "ainf-row" }, h("strong", {}, "Run "), badge, jobLink),
    bar, text, h("div", { class: "ainf-row" }, cancel), feedback, result));

  function render(job) {
    replace(badge, statusBadge(h, job.status));
    bar.value = job.status === "completed" ? 1 : Math.max(0, Math.min(1, Number(job.progress) || 0));
    text.textContent = job.status === "queued" ? "Queued…" : job.status === "running" ? job.progress_text || "Running…" : job.status === "completed" ? "Finished, all outputs written." : job.status === "cancelled" ? "Cancelled." : "Failed.";
    cancel.hidden = FINAL.has(job.status);
    if (job.status === "completed") replace(result, jobOutputs(ctx, job), h("div", { class: "ainf-row" }, openInEditorButton(ctx, job, feedback)));
    if (job.status === "failed") replace(result, ctx.errorBox(job.error_detail ? errorFromBody(job.error_detail) : errorFromBody({ error: job.error_code, message: job.error, remediation: job.remediation })));
    return job;
  }

  async function poll() {
    if (stopped) return;
    try {
      const job = render(await ctx.api.get(`/jobs/${encodeURIComponent(jobId)}`));
      if (FINAL.has(job.status)) return;
    } catch (err) {
      replace(feedback, ctx.errorBox(err));
    }
    timer = setTimeout(poll, 1000);
  }
  const off = ctx.on("ainfluencer.job", (event) => {
    if (event && event.job_id === jobId) {
      clearTimeout(timer);
      poll();
    }
  });
  poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
    off();
  };
}
