// "Open in graph editor": inside the editor the graph is loaded into the canvas at once; from the full
// page it is handed over through sessionStorage (same tab, same origin) and the editor's sidebar
// extension loads it when the editor has started.
const KEY = "ainfluencer.studio.pendingGraph";

/** Load `graph` (a UI workflow) in the editor, or navigate there with it. */
export async function openInEditor(graph, name, embedded) {
  const app = window.comfyAPI?.app?.app;
  if (embedded && app) {
    await app.loadGraphData(graph, true, true, name || null);
    return;
  }
  sessionStorage.setItem(KEY, JSON.stringify({ graph, name }));
  location.href = "/";
}

/** The graph the full page handed over (removed once taken), or null. */
export function takePendingGraph() {
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return null;
  sessionStorage.removeItem(KEY);
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}

/** The bound UI graph ComfyUI ran for a job (kept in its history with the prompt), or null. */
export async function jobGraph(promptId) {
  if (!promptId) return null;
  try {
    const response = await fetch(`/history/${encodeURIComponent(promptId)}`);
    if (!response.ok) return null;
    const history = await response.json();
    const extra = history?.[promptId]?.prompt?.[3];
    return extra?.extra_pnginfo?.workflow || null;
  } catch {
    return null;
  }
}
