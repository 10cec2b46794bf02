// Output and input files shown through ComfyUI's own /view route: images, videos with sound, audio.
const PACK_FOLDER = new URL(import.meta.url).pathname.split("/")[2] || "ainfluencer";

/** ComfyUI's /view URL of a file in its input, output or temp folder. */
export function viewUrl({ filename, subfolder = "", type = "output" }) {
  const q = new URLSearchParams({ filename, subfolder, type });
  return `/view?${q.toString()}`;
}

/** The template browser's thumbnail of a preset (a .jpg beside its graph, served by ComfyUI). */
export function presetThumbnail(presetId) {
  return `/api/workflow_templates/${encodeURIComponent(PACK_FOLDER)}/${encodeURIComponent(presetId)}.jpg`;
}

const KIND_BY_EXT = { png: "image", jpg: "image", jpeg: "image", webp: "image", gif: "image", mp4: "video", webm: "video", mov: "video", mkv: "video", wav: "audio", mp3: "audio", m4a: "audio", flac: "audio", ogg: "audio" };

/** "image" / "video" / "audio" / "file" from an artifact's kind or its file name. */
export function mediaKind(kind, filename) {
  if (kind === "image" || kind === "video" || kind === "audio") return kind;
  const ext = String(filename || "").split(".").pop().toLowerCase();
  return KIND_BY_EXT[ext] || "file";
}

/** A preview element for a file: <img>, <video controls> (with its sound), <audio controls>, or a link. */
export function mediaPreview(h, file, label) {
  const src = viewUrl(file);
  const kind = mediaKind(file.kind, file.filename);
  if (kind === "image") return h("img", { class: "ainf-media", src, alt: label || file.filename, loading: "lazy" });
  if (kind === "video") return h("video", { class: "ainf-media", src, controls: true, preload: "metadata", playsinline: true, "aria-label": label || file.filename });
  if (kind === "audio") return h("audio", { class: "ainf-audio", src, controls: true, preload: "metadata", "aria-label": label || file.filename });
  return h("a", { href: src, download: file.filename }, label || file.filename);
}
