// Display names of engines and words for job states, shared by the sections.

export const ENGINE_NAMES = {
  local_comfy: "ComfyUI (this machine)",
  provider_kling: "Kling",
  provider_fal: "fal.ai",
  provider_runware: "Runware",
  provider_synclabs: "Sync Labs",
  provider_liveportrait: "LivePortrait",
  provider_identity_nodes: "Face identity nodes",
};

/** "provider_fal" → "fal.ai" (unknown ids as they are). */
export function engineName(id) {
  return ENGINE_NAMES[id] || id || "—";
}

const STATUS_BADGES = {
  completed: ["ok", "Completed"],
  running: ["info", "Running"],
  queued: ["info", "Queued"],
  failed: ["error", "Failed"],
  cancelled: ["warn", "Cancelled"],
  connected: ["ok", "Connected"],
  running_engine: ["ok", "Running"],
  not_connected: ["warn", "Not connected"],
  error: ["error", "Error"],
};

/** A status badge element for a job or engine state. */
export function statusBadge(h, status) {
  const [kind, text] = STATUS_BADGES[status] || ["info", status || "unknown"];
  return h("span", { class: `ainf-badge ainf-badge-${kind}`, "data-status": status }, text);
}
