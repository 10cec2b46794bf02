// The AInfluencer Studio as a sidebar tab of the graph editor, and the hand-over of a graph that the
// full-page Studio asked to open in the editor ("Open in graph editor").
import { mountStudio } from "./studio/app.js";
import { takePendingGraph } from "./studio/editor_link.js";

const { app } = window.comfyAPI.app;

async function loadPendingGraph() {
  const pending = takePendingGraph();
  if (!pending) return;
  // the editor restores the previous workflow while it starts; load ours once it is ready, after that
  for (let i = 0; i < 200 && !app.vueAppReady; i += 1) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 300));
  await app.loadGraphData(pending.graph, true, true, pending.name || null);
}

app.registerExtension({
  name: "AInfluencer.Studio",
  setup() {
    let mounted = null;
    app.extensionManager?.registerSidebarTab?.({
      id: "ainfluencer",
      icon: "pi pi-video",
      title: "AInfluencer",
      tooltip: "AInfluencer Studio",
      type: "custom",
      render(el) {
        if (mounted) mounted.then((studio) => studio.destroy());
        mounted = mountStudio(el, { embedded: true });
      },
      destroy() {
        if (mounted) mounted.then((studio) => studio.destroy());
        mounted = null;
      },
    });
    loadPendingGraph().catch((err) => console.warn("ainfluencer: the graph from the Studio could not be opened", err));
  },
});
