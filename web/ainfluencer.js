// AInfluencer frontend extension: tells the user when an AInfluencer job finishes or fails.
// It stays a small listener of the job events the sidecar sends.
const { app } = window.comfyAPI.app;
const { api } = window.comfyAPI.api;

const SUMMARY = { completed: "AInfluencer job finished", failed: "AInfluencer job failed", cancelled: "AInfluencer job cancelled" };

app.registerExtension({
  name: "AInfluencer.JobToasts",
  setup() {
    api.addEventListener("ainfluencer.job", async (event) => {
      const { job_id: jobId, status } = event.detail || {};
      if (!SUMMARY[status]) return;
      let detail = jobId;
      if (status === "failed") {
        try {
          const res = await api.fetchApi(`/ainfluencer/v1/jobs/${encodeURIComponent(jobId)}`);
          const job = await res.json();
          if (job.error) detail = `${job.error} ${(job.remediation || []).join(" ")}`;
        } catch (err) {
          detail = `${jobId} (details unavailable: ${err})`;
        }
      }
      app.extensionManager?.toast?.add({
        severity: status === "completed" ? "success" : status === "failed" ? "error" : "info",
        summary: SUMMARY[status],
        detail,
        life: status === "failed" ? 10000 : 4000,
      });
    });
  },
});
