// Models: the catalog (curated + the user's own entries) with licence and checksum badges, installed
// state, Install with progress and Cancel, and the "Add model source" form with its safety gates.
import { StudioError } from "../api.js";
import { cardList } from "./parts/card_list.js";
import { confirmDialog } from "./parts/confirm.js";
import { keepInStep, onSubmit } from "./parts/forms.js";

// The model types the catalog installs (sidecar/models/catalog.py ModelType), the spec's five first.
export const MODEL_TYPES = [
  "checkpoint", "lora", "embedding", "controlnet", "other", "diffusion_model", "vae", "text_encoder",
  "upscaler", "clip_vision", "ip_adapter", "instantid", "face_restore",
];
// The spec's licence choices (sidecar/models/catalog.py SPEC_LICENSES); the last two have unknown terms.
export const LICENSE_CHOICES = ["MIT", "Apache 2.0", "CC0", "Custom", "Unknown"];
const UNKNOWN_TERMS = new Set(["Custom", "Unknown"]);
const LICENSE_LABELS = { mit: "MIT", "apache-2.0": "Apache 2.0", "cc0-1.0": "CC0", other: "Custom", unknown: "Unknown" };
const PICKLE = /\.(ckpt|pt|pt2|pth|bin|pkl|pickle)$/i;
const SHA256 = /^[0-9a-fA-F]{64}$/;
const FINISHED = new Set(["completed", "failed", "cancelled"]);
const POLL_MS = 400;

// model id -> download id of a download this page started; kept while the user visits other sections
const activeDownloads = new Map();

function megabytes(bytes) {
  if (bytes == null) return "?";
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

function badge(h, text, kind = "neutral", title = "") {
  return h("span", { class: `ainf-badge ainf-badge-${kind}`, ...(title ? { title } : {}) }, text);
}

function entryBadges(h, model) {
  const flags = new Set(model.license_flags || []);
  const out = [badge(h, LICENSE_LABELS[model.license] || model.license, "neutral", "Licence")];
  if (flags.has("non-commercial")) out.push(badge(h, "Non-commercial", "warn"));
  if (flags.has("license-unknown")) out.push(badge(h, "Licence unknown", "warn"));
  out.push(model.sha256 ? badge(h, "sha256 verified", "ok") : badge(h, "No checksum", "warn"));
  if (model.pickle) out.push(badge(h, "Pickle: can run code", "error"));
  if (model.recommended) out.push(badge(h, "Recommended", "ok"));
  if (model.custom) out.push(badge(h, "Your entry", "neutral"));
  out.push(model.installed ? badge(h, "Installed", "ok") : badge(h, "Not installed", "neutral"));
  return out;
}

/** The acknowledgments a catalog entry's download needs (a user's own entry was acknowledged when added). */
export function risksOf(model) {
  if (model.custom) return [];
  const risks = [];
  if ((model.license_flags || []).includes("license-unknown")) risks.push("acknowledge_unknown_license");
  if (!model.sha256) risks.push("acknowledge_missing_checksum");
  if (model.pickle) risks.push("acknowledge_pickle");
  return risks;
}

function errorFromDownload(snapshot) {
  const error = snapshot.error || {};
  return new StudioError({
    code: error.error || "DOWNLOAD_FAILED",
    message: error.message || `The download of ${snapshot.filename} failed.`,
    remediation: error.remediation || [],
    detail: error.detail ?? null,
  });
}

function progressText(snapshot) {
  if (snapshot.state === "queued" || (!snapshot.bytes && !snapshot.total_bytes)) return "Starting…";
  const speed = snapshot.speed_bps ? ` · ${megabytes(snapshot.speed_bps)}/s` : "";
  const total = snapshot.total_bytes ? ` of ${megabytes(snapshot.total_bytes)}` : "";
  return `${megabytes(snapshot.bytes)}${total}${speed}`;
}

class InstallControl {
  constructor(ctx, model, onDone) {
    const { h } = ctx;
    this.ctx = ctx;
    this.model = model;
    this.onDone = onDone;
    this.timer = null;
    this.bar = h("progress", { class: "ainf-progress", max: "1", value: "0", "aria-label": `Download of ${model.name}` });
    this.text = h("span", { class: "ainf-progress-text", "aria-live": "polite" });
    this.cancel = h("button", { type: "button", class: "ainf-button", "aria-label": `Cancel the download of ${model.name}`,
      onClick: () => this.stop() }, "Cancel");
    const size = model.size_mb ? ` (${megabytes(model.size_mb * 1e6)})` : "";
    this.install = h("button", { type: "button", class: "ainf-button ainf-button-primary",
      "aria-label": `Install ${model.name}`, onClick: () => this.start() }, `Install${size}`);
    this.progress = h("div", { class: "ainf-models-progress" }, this.bar, this.text, this.cancel);
    this.message = h("div", { class: "ainf-models-message" });
    this.el = h("div", { class: "ainf-models-install" }, this.install, this.progress, this.message);
    this.showProgress(false);
    const running = activeDownloads.get(model.id);
    if (running) this.follow(running);
  }

  showProgress(on) {
    this.progress.hidden = !on;
    this.install.hidden = on;
  }

  async start() {
    const risks = risksOf(this.model);
    if (risks.length && !(await this.confirmRisks(risks))) return;
    this.message.replaceChildren();
    this.install.disabled = true;
    try {
      const body = Object.fromEntries(risks.map((name) => [name, true]));
      const snapshot = await this.ctx.api.post(`/models/${encodeURIComponent(this.model.id)}/download`, body);
      activeDownloads.set(this.model.id, snapshot.download_id);
      this.follow(snapshot.download_id, snapshot);
    } catch (err) {
      this.message.replaceChildren(this.ctx.errorBox(err));
    } finally {
      this.install.disabled = false;
    }
  }

  confirmRisks(risks) {
    const { h } = this.ctx;
    const words = {
      acknowledge_unknown_license: "Its licence is unknown: check the terms at the source before using the outputs.",
      acknowledge_missing_checksum: "It has no published checksum: the file cannot be verified (download at your risk).",
      acknowledge_pickle: "It is a pickle file: loading it can run code on this machine.",
    };
    return confirmDialog(h, this.el, {
      title: `Install ${this.model.name}?`,
      body: [h("ul", {}, ...risks.map((r) => h("li", {}, words[r])))],
      confirmLabel: "Install anyway",
      ackLabel: "I understand the risks",
    });
  }

  follow(downloadId, first = null) {
    this.downloadId = downloadId;
    this.showProgress(true);
    if (first) this.update(first);
    this.poll();
  }

  async poll() {
    try {
      const snapshot = await this.ctx.api.get(`/downloads/${encodeURIComponent(this.downloadId)}`);
      this.update(snapshot);
      if (FINISHED.has(snapshot.state)) return this.finish(snapshot);
    } catch (err) {
      this.message.replaceChildren(this.ctx.errorBox(err));
    }
    this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  update(snapshot) {
    this.bar.value = snapshot.progress || 0;
    this.text.textContent = progressText(snapshot);
  }

  finish(snapshot) {
    activeDownloads.delete(this.model.id);
    this.showProgress(false);
    if (snapshot.state === "completed") {
      this.ctx.toast(`${this.model.name} is installed.`, "success");
      this.onDone();
    } else if (snapshot.state === "cancelled") {
      this.message.replaceChildren(this.ctx.h("p", { role: "status" }, "Download cancelled; nothing was installed."));
    } else {
      this.message.replaceChildren(this.ctx.errorBox(errorFromDownload(snapshot)));
    }
  }

  async stop() {
    this.cancel.disabled = true;
    try {
      await this.ctx.api.post(`/downloads/${encodeURIComponent(this.downloadId)}/cancel`, {});
    } catch (err) {
      this.message.replaceChildren(this.ctx.errorBox(err));
    } finally {
      this.cancel.disabled = false;
    }
  }

  dispose() {
    clearTimeout(this.timer);
    this.timer = null;
  }
}

function modelCard(ctx, model, own, reload) {
  const { h } = ctx;
  const facts = [
    `${model.type} → models/${model.folder}`,
    model.size_mb ? megabytes(model.size_mb * 1e6) : null,
    model.tier ? `${model.tier} tier` : null,
  ].filter(Boolean).join(" · ");
  const body = [
    h("h3", {}, model.name),
    h("p", { class: "ainf-models-facts" }, facts),
    h("div", { class: "ainf-badges" }, ...entryBadges(ctx.h, model)),
  ];
  if (model.recommended_use) body.push(h("p", {}, model.recommended_use));
  if (model.hardware_notes) body.push(h("p", { class: "ainf-muted" }, model.hardware_notes));
  if (model.warnings?.length) body.push(h("ul", { class: "ainf-models-warnings" }, ...model.warnings.map((w) => h("li", {}, w))));
  body.push(h("p", { class: "ainf-models-source ainf-muted" }, `File ${model.filename} from ${model.url}`));
  if (model.installed) {
    body.push(h("p", { class: "ainf-models-path ainf-muted" }, `Installed at ${model.installed_path}`));
  } else {
    const control = new InstallControl(ctx, model, reload);
    own(control);
    body.push(control.el);
  }
  return h("li", { class: "ainf-card ainf-models-card", "data-model-id": model.id }, ...body);
}

function field(h, label, input, hint = null) {
  input.id ||= `ainf-model-${label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("div", { class: "ainf-field" },
    h("label", { for: input.id }, label), input, ...(hint ? [h("p", { class: "ainf-muted ainf-small" }, hint)] : []));
}

function checkbox(h, id, label) {
  const input = h("input", { type: "checkbox", id });
  return { input, row: h("p", { class: "ainf-check" }, input, h("label", { for: id }, label)) };
}

/** The acknowledgments the form may ask for, each in its own warning box (shown only when it applies). */
function sourceGates(h) {
  const licenseAck = checkbox(h, "ainf-model-ack-license",
    "I acknowledge the licence is unknown to AInfluencer: I will check its terms before using the outputs");
  const riskAck = checkbox(h, "ainf-model-ack-checksum", "I understand the risks");
  const pickleAck = checkbox(h, "ainf-model-ack-pickle", "I trust this publisher: loading a pickle file can run code");
  const riskWarning = h("div", { class: "ainf-warning", role: "note" },
    h("strong", {}, "Download at your risk: "),
    "without a SHA256 checksum the file cannot be verified; a changed or corrupted file would be installed as is.",
    riskAck.row);
  const licenseGate = h("div", { class: "ainf-warning", role: "note" }, licenseAck.row);
  const pickleGate = h("div", { class: "ainf-warning", role: "note" }, pickleAck.row);
  return { licenseAck, riskAck, pickleAck, licenseGate, riskWarning, pickleGate };
}

/** The spec's safety gate when both the licence and the checksum are missing: a confirmation dialog. */
function confirmBothMissing(h, root) {
  return confirmDialog(h, root, {
    title: "No licence and no checksum",
    body: [h("p", {}, "This source has neither known licence terms nor a checksum: AInfluencer cannot tell "
      + "whether you may use its outputs, nor whether the file that arrives is the one the publisher made.")],
    confirmLabel: "Add anyway",
    ackLabel: "I understand the risks",
  });
}

/** The "Add model source" form (spec §4.4): required fields, licence and checksum gates, a dialog when both are missing. */
function addSourceForm(ctx, root, onAdded) {
  const { h } = ctx;
  const inputs = {
    name: h("input", { type: "text", required: "", maxlength: "200", autocomplete: "off" }),
    type: h("select", {}, ...MODEL_TYPES.map((t) => h("option", { value: t }, t))),
    url: h("input", { type: "url", required: "", pattern: "https?://.+", placeholder: "https://…", autocomplete: "off" }),
    filename: h("input", { type: "text", required: "", maxlength: "200", placeholder: "model.safetensors", autocomplete: "off" }),
    license: h("select", { required: "" }, ...LICENSE_CHOICES.map((l) => h("option", { value: l }, l))),
    sha256: h("input", { type: "text", pattern: "[0-9a-fA-F]{64}", maxlength: "64", spellcheck: "false", autocomplete: "off" }),
    tags: h("input", { type: "text", placeholder: "portrait, sdxl", autocomplete: "off" }),
    notes: h("textarea", { maxlength: "1000", rows: "2" }),
  };
  const { licenseAck, riskAck, pickleAck, licenseGate, riskWarning, pickleGate } = sourceGates(h);
  const submit = h("button", { type: "submit", class: "ainf-button ainf-button-primary" }, "Add model source");
  const result = h("div", { class: "ainf-models-add-result" });
  const form = h("form", { class: "ainf-models-add", "aria-labelledby": "ainf-models-add-title", novalidate: "" },
    h("h3", { id: "ainf-models-add-title" }, "Add model source"),
    h("div", { class: "ainf-grid" },
      field(h, "Model name", inputs.name),
      field(h, "Model type", inputs.type),
      field(h, "Download URL", inputs.url, "http:// or https:// only"),
      field(h, "Filename", inputs.filename, "A plain name such as model.safetensors"),
      field(h, "License", inputs.license),
      field(h, "Checksum (SHA256)", inputs.sha256, "Optional but recommended: 64 hexadecimal characters"),
      field(h, "Tags", inputs.tags, "Optional, comma-separated"),
      field(h, "Notes", inputs.notes)),
    licenseGate, riskWarning, pickleGate, submit, result);

  const gates = () => ({
    license: UNKNOWN_TERMS.has(inputs.license.value),
    checksum: inputs.sha256.value.trim() === "",
    pickle: PICKLE.test(inputs.filename.value.trim()),
  });
  const refresh = () => {
    const need = gates();
    licenseGate.hidden = !need.license;
    riskWarning.hidden = !need.checksum;
    pickleGate.hidden = !need.pickle;
    submit.disabled = (need.license && !licenseAck.input.checked) || (need.checksum && !riskAck.input.checked)
      || (need.pickle && !pickleAck.input.checked);
  };
  keepInStep(form, refresh);
  onSubmit(form, result, () => submitSource(ctx, root, { form, inputs, gates, refresh, submit, result }, onAdded));
  return form;
}

/** Check the form here first, ask the dialog where both gates apply, then add the entry through the route. */
async function submitSource(ctx, root, { form, inputs, gates, refresh, submit, result }, onAdded) {
  const { h } = ctx;
  for (const input of Object.values(inputs)) input.removeAttribute("aria-invalid");
  const problems = localProblems(inputs);
  if (problems.length) {
    for (const [name] of problems) inputs[name].setAttribute("aria-invalid", "true");
    result.replaceChildren(ctx.errorBox(new StudioError({
      code: "VALIDATION_ERROR", message: "Some fields need a change before the source can be added.",
      remediation: problems.map(([, text]) => text),
    })));
    return;
  }
  const need = gates();
  if (need.license && need.checksum && !(await confirmBothMissing(h, root))) return;
  submit.disabled = true;
  try {
    const added = await ctx.api.post("/models/custom", requestBody(inputs, need));
    ctx.toast(`${added.model.name} was added to the catalog.`, "success");
    form.reset();
    onAdded(added.id);
  } catch (err) {
    markProblems(inputs, err);
    result.replaceChildren(ctx.errorBox(err));
  } finally {
    refresh();
  }
}

function localProblems(inputs) {
  const problems = [];
  if (!inputs.name.value.trim()) problems.push(["name", "Give the model a name."]);
  if (!/^https?:\/\/\S+$/i.test(inputs.url.value.trim())) problems.push(["url", "The download URL must start with http:// or https://."]);
  if (!inputs.filename.value.trim()) problems.push(["filename", "Give the file name it is saved under."]);
  const sha = inputs.sha256.value.trim();
  if (sha && !SHA256.test(sha)) problems.push(["sha256", "The SHA256 checksum is 64 hexadecimal characters."]);
  return problems;
}

function requestBody(inputs, need) {
  const body = {
    name: inputs.name.value.trim(),
    type: inputs.type.value,
    url: inputs.url.value.trim(),
    filename: inputs.filename.value.trim(),
    license: inputs.license.value,
    tags: inputs.tags.value.split(",").map((t) => t.trim()).filter(Boolean),
    acknowledge_unknown_license: need.license,
    acknowledge_missing_checksum: need.checksum,
    acknowledge_pickle: need.pickle,
  };
  if (!need.checksum) body.sha256 = inputs.sha256.value.trim();
  if (inputs.notes.value.trim()) body.notes = inputs.notes.value.trim();
  return body;
}

function markProblems(inputs, err) {
  for (const problem of err?.detail?.problems || []) {
    const input = inputs[String(problem.field).split(".")[0]];
    if (input) input.setAttribute("aria-invalid", "true");
  }
}

export default {
  id: "models",
  title: "Models",
  render(container, ctx) {
    const { h } = ctx;
    const cards = cardList(ctx, {
      label: "Model catalog",
      className: "ainf-models-list",
      fetchItems: async () => (await ctx.api.get("/models/catalog")).models,
      summary: (models) => `${models.length} models, ${models.filter((m) => m.installed).length} installed.`,
      renderCard: (model, own) => modelCard(ctx, model, own, () => cards.load()),
    });
    const form = addSourceForm(ctx, container, async (id) => {
      await cards.load();
      cards.list.querySelector(`[data-model-id="${CSS.escape(id)}"]`)?.scrollIntoView({ block: "nearest" });
    });
    const jump = h("button", { type: "button", class: "ainf-button", onClick: () => {
      form.scrollIntoView({ block: "start" });
      form.querySelector("input")?.focus();
    } }, "Add your own model source");
    container.replaceChildren(
      h("div", { class: "ainf-models-intro" },
        h("p", { class: "ainf-muted" }, "Curated models and your own sources. Every download is checked against "
          + "its SHA256 before it is installed; non-commercial licences and pickle files are flagged."), jump),
      cards.status, cards.list, form,
    );
    cards.load();
    return cards.dispose;
  },
};
