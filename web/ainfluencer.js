// AInfluencer frontend extension: tells the user when an AInfluencer job finishes or fails, names what it
// wrote (or why it failed) and links to the job's page in the Studio. It stays a small listener of the
// job events the sidecar sends.
const { app } = window.comfyAPI.app;
const { api } = window.comfyAPI.api;

const SUMMARY = { completed: "AInfluencer job finished", failed: "AInfluencer job failed", cancelled: "AInfluencer job cancelled" };
const SEVERITY = { completed: "success", failed: "error", cancelled: "info" };
const LINK_TEXT = "Open in the Studio";

export function studioJobUrl(jobId) {
  return `/ainfluencer/#/jobs/${encodeURIComponent(jobId)}`;
}

async function describe(jobId, status) {
  try {
    const res = await api.fetchApi(`/ainfluencer/v1/jobs/${encodeURIComponent(jobId)}`);
    const job = await res.json();
    if (status === "failed" && job.error) return `${job.error} ${(job.remediation || []).join(" ")}`;
    const names = (job.artifacts || []).map((a) => a.filename);
    if (status === "completed" && names.length) return `Wrote ${names.join(", ")}.`;
    return `Job ${jobId}.`;
  } catch (err) {
    return `Job ${jobId} (details unavailable: ${err}).`;
  }
}

// ComfyUI's toasts show their detail as plain text; the job's URL in it becomes a link once it is drawn.
function linkUrlsIn(url) {
  for (const detail of document.querySelectorAll(".p-toast-detail")) {
    if (detail.dataset.ainfluencerLinked || !detail.textContent.includes(url)) continue;
    const [before, after] = detail.textContent.split(url);
    const link = Object.assign(document.createElement("a"), { href: url, target: "_blank", rel: "noopener" });
    link.textContent = url;
    link.style.textDecoration = "underline";
    detail.replaceChildren(before, link, after);
    detail.dataset.ainfluencerLinked = "1";
    return true;
  }
  return false;
}

function linkWhenShown(url, tries = 20) {
  if (linkUrlsIn(url) || tries <= 0) return;
  requestAnimationFrame(() => setTimeout(() => linkWhenShown(url, tries - 1), 50));
}

app.registerExtension({
  name: "AInfluencer.JobToasts",
  setup() {
    api.addEventListener("ainfluencer.job", async (event) => {
      const { job_id: jobId, status } = event.detail || {};
      if (!SUMMARY[status]) return;
      const url = studioJobUrl(jobId);
      app.extensionManager?.toast?.add({
        severity: SEVERITY[status],
        summary: SUMMARY[status],
        detail: `${await describe(jobId, status)} ${LINK_TEXT}: ${url}`,
        life: status === "failed" ? 15000 : 8000,
      });
      linkWhenShown(url);
    });
  },
});
