// Create: preset cards, then a form generated from the chosen preset's manifest — uploads with previews,
// ranges and choices, quality, engine, seed — with the estimate and the budget left before Generate,
// consent and the ethics checklist for identity presets, and the run followed live.
import { replace, uid } from "../dom.js";
import { budgetPrompt } from "../budget_prompt.js";
import { engineName } from "../names.js";
import { mediaPreview, presetThumbnail } from "../media.js";
import { followJob } from "../run_panel.js";
import { formatDuration } from "../format.js";

const FILE_TYPES = { image: "image/png,image/jpeg,image/webp", video: "video/mp4,video/webm,video/quicktime", audio: "audio/*" };
const OPERATIONS = { image: ["image", "upscale"], video: ["video", "lipsync"], polish: ["upscale"] };
// spec §9.5: every box must be ticked before an identity preset runs
const ETHICS = [
  "I have permission to use this face/identity for generation",
  "I have permission to use any faces/identities in my content",
  "I understand that AI-generated content may be detected as synthetic",
  "I will not use this tool to create misleading or harmful content",
  "I have read and agree to the Terms of Service",
];

function priceRange(preset, costTable) {
  const remote = preset.engines.filter((e) => e !== "local_comfy" && e !== "provider_liveportrait");
  const prices = (costTable || [])
    .filter((row) => remote.includes(row.engine) && (OPERATIONS[preset.category] || []).includes(row.operation))
    .map((row) => Number(row.credits));
  if (remote.length < preset.engines.length) prices.push(0);
  if (!prices.length) return "Free (this machine)";
  const lo = Math.min(...prices);
  const hi = Math.max(...prices);
  if (hi === 0) return "Free (this machine)";
  return lo === hi ? `about ${lo} credits a run` : `${lo}–${hi} credits a run`;
}

function presetCard(ctx, preset, costTable, connected) {
  const { h } = ctx;
  const remote = preset.engines.filter((e) => e.startsWith("provider_") && e !== "provider_liveportrait");
  const runnable = preset.engines.some((e) => e === "local_comfy" || connected.has(e));
  const makes = (preset.outputs || []).map((o) => o.kind).join(" + ") || preset.category;
  const open = (e) => { e.preventDefault(); ctx.navigate("create", { id: preset.id }); };
  return h(
    "article",
    { class: "ainf-card ainf-preset", "data-preset": preset.id },
    preset.has_thumbnail
      ? h("img", { class: "ainf-preset-thumb", src: presetThumbnail(preset.id), alt: "", loading: "lazy" })
      : h("div", { class: "ainf-preset-thumb ainf-preset-thumb-none", "aria-hidden": "true" }, makes),
    h("h3", {}, h("a", { href: `#/create/${preset.id}`, onClick: open }, preset.name)),
    h("p", { class: "ainf-small" }, preset.description),
    h("p", { class: "ainf-row ainf-small" },
      h("span", { class: "ainf-badge" }, `Makes: ${makes}`),
      h("span", { class: "ainf-badge" }, priceRange(preset, costTable)),
      preset.requires_consent ? h("span", { class: "ainf-badge ainf-badge-warn" }, "Needs consent") : null,
      runnable ? null : h("span", { class: "ainf-badge ainf-badge-error" }, `Needs a key: ${remote.map(engineName).join(" or ")}`),
    ),
    h("p", { class: "ainf-small ainf-muted" }, "Engines: ", preset.engines.map(engineName).join(", ")),
  );
}

async function listPresets(container, ctx) {
  const { h } = ctx;
  const [presets, costs, providers, prompt] = await Promise.all([
    ctx.api.get("/presets").catch((err) => err),
    ctx.api.get("/credits/cost-table").catch(() => ({ entries: [] })),
    ctx.api.get("/providers").catch(() => ({ providers: [] })),
    budgetPrompt(ctx),
  ]);
  if (presets instanceof Error) {
    replace(container, ctx.errorBox(presets));
    return;
  }
  const connected = new Set(providers.providers.filter((p) => p.status === "connected").map((p) => p.id));
  replace(container, prompt,
    h("p", {}, "Choose what to make. Each preset is a tested ComfyUI graph; you only fill in its inputs."),
    h("div", { class: "ainf-cards" }, presets.presets.map((p) => presetCard(ctx, p, costs.entries, connected))));
}

function fileField(ctx, input, state, onChange) {
  const { h } = ctx;
  const id = uid("in");
  const preview = h("div", { class: "ainf-preview", "aria-live": "polite" });
  const field = h("input", { id, type: "file", accept: FILE_TYPES[input.type] || "", onChange: async () => {
    const file = field.files[0];
    if (!file) return;
    replace(preview, h("p", { class: "ainf-small" }, `Uploading ${file.name}…`));
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      const saved = await ctx.api.upload("/uploads", form);
      state.inputs[input.name] = saved.subfolder ? `${saved.subfolder}/${saved.name}` : saved.name;
      replace(preview, mediaPreview(h, { filename: saved.name, subfolder: saved.subfolder, type: "input", kind: saved.kind }, `Preview of ${saved.name}`),
        h("p", { class: "ainf-small ainf-muted" }, `Uploaded ${saved.name} (${(saved.size_bytes / 1048576).toFixed(1)} MB)`));
    } catch (err) {
      delete state.inputs[input.name];
      replace(preview, ctx.errorBox(err));
    }
    onChange();
  } });
  return h("div", { class: "ainf-field", "data-input": input.name },
    h("label", { for: id }, `${input.name}${input.required ? " (required)" : ""}`),
    field, input.description ? h("span", { class: "ainf-small ainf-muted" }, input.description) : null, preview);
}

function valueField(ctx, input, state, onChange) {
  const { h } = ctx;
  const id = uid("in");
  const set = (value) => {
    if (value === "" || value === null) delete state.inputs[input.name];
    else state.inputs[input.name] = value;
    onChange();
  };
  let control;
  let range = "";
  if (input.type === "choice") {
    control = h("select", { id, onChange: () => set(control.value) },
      h("option", { value: "" }, input.default ? `Default (${input.default})` : "Default"),
      (input.choices || []).map((c) => h("option", { value: c }, c)));
  } else if (input.type === "float" || input.type === "int") {
    const step = input.type === "int" ? "1" : "any";
    control = h("input", { id, type: "number", step, min: input.minimum ?? undefined, max: input.maximum ?? undefined, placeholder: input.default ?? "default", onInput: () => set(control.value === "" ? "" : Number(control.value)) });
    if (input.minimum !== null || input.maximum !== null) range = ` Range ${input.minimum ?? "…"} to ${input.maximum ?? "…"}.`;
  } else if (input.type === "bool" || input.type === "boolean") {
    control = h("input", { id, type: "checkbox", checked: Boolean(input.default), onChange: () => set(control.checked) });
  } else {
    control = h("textarea", { id, rows: "2", placeholder: input.default ?? "", onInput: () => set(control.value) });
  }
  return h("div", { class: "ainf-field", "data-input": input.name },
    h("label", { for: id }, `${input.name}${input.required ? " (required)" : ""}`),
    control, h("span", { class: "ainf-small ainf-muted" }, `${input.description || ""}${range}`));
}

function selectField(ctx, label, options, onChange, hint) {
  const { h } = ctx;
  const id = uid("sel");
  const control = h("select", { id, onChange: () => onChange(control.value) }, options.map(([value, text]) => h("option", { value }, text)));
  return { control, element: h("div", { class: "ainf-field" }, h("label", { for: id }, label), control, hint ? h("span", { class: "ainf-small ainf-muted" }, hint) : null) };
}

function consentBlock(ctx, onChange) {
  const { h } = ctx;
  const boxes = ETHICS.map((text) => {
    const id = uid("consent");
    const box = h("input", { id, type: "checkbox", onChange });
    return { box, element: h("div", { class: "ainf-check" }, box, h("label", { for: id }, text)) };
  });
  const element = h("fieldset", { class: "ainf-consent" },
    h("legend", {}, "Consent and ethics checklist (required for identity presets)"),
    boxes.map((b) => b.element));
  return { element, allTicked: () => boxes.every((b) => b.box.checked) };
}

async function presetForm(container, ctx, presetId) {
  const { h } = ctx;
  let preset;
  try {
    preset = await ctx.api.get(`/presets/${encodeURIComponent(presetId)}`);
  } catch (err) {
    replace(container, ctx.errorBox(err), h("p", {}, h("a", { href: "#/create", onClick: (e) => { e.preventDefault(); ctx.navigate("create"); } }, "Back to all presets")));
    return null;
  }
  const [providers, characters, prompt] = await Promise.all([
    ctx.api.get("/providers").catch(() => ({ providers: [] })),
    ctx.api.get("/characters").catch(() => ({ characters: [] })),
    budgetPrompt(ctx),
  ]);
  const status = Object.fromEntries(providers.providers.map((p) => [p.id, p.status]));
  const state = { inputs: {}, quality_level: preset.default_quality, engine: "auto", seed: null, character_id: null };
  const estimateBox = h("div", { class: "ainf-estimate", "aria-live": "polite" });
  const runBox = h("div", { class: "ainf-run-box" });
  const generate = h("button", { type: "button", class: "ainf-button ainf-button-primary", disabled: true }, "Generate");
  const consent = preset.requires_consent ? consentBlock(ctx, () => refresh()) : null;
  let estimateTimer = null;
  let stopRun = null;
  let estimateOk = false;

  function request() {
    const body = { inputs: { ...state.inputs }, quality_level: state.quality_level };
    if (state.engine !== "auto") body.engine = state.engine;
    if (state.seed !== null) body.seed = state.seed;
    if (state.character_id) body.character_id = state.character_id;
    if (consent) body.consent_given = consent.allTicked();
    return body;
  }
  const missing = () => preset.inputs.filter((i) => i.required && !(i.name in state.inputs)).map((i) => i.name);

  function refresh() {
    clearTimeout(estimateTimer);
    estimateTimer = setTimeout(estimate, 300);
    updateGenerate();
  }
  function updateGenerate() {
    generate.disabled = !estimateOk || missing().length > 0 || (consent && !consent.allTicked());
  }

  async function estimate() {
    const lacking = missing();
    if (lacking.length) {
      estimateOk = false;
      replace(estimateBox, h("p", { class: "ainf-muted" }, `Add ${lacking.join(", ")} to see the estimate.`));
      updateGenerate();
      return;
    }
    const body = request();
    body.consent_given = true; // the estimate is a price; consent is checked when the run is sent
    try {
      const [est, credits] = await Promise.all([ctx.api.post(`/presets/${preset.id}/estimate`, body), ctx.api.get("/credits")]);
      estimateOk = true;
      const short = Number(est.credits) > Number(credits.available);
      replace(estimateBox, h("dl", { class: "ainf-estimate-list" },
        h("dt", {}, "Cost"), h("dd", { "data-estimate-credits": "" }, ctx.formatCredits(est.credits)),
        h("dt", {}, "Time"), h("dd", {}, `about ${formatDuration(est.estimated_time_seconds)}`),
        h("dt", {}, "Engine"), h("dd", {}, engineName(est.engine)),
        h("dt", {}, "Budget left"), h("dd", {}, ctx.formatCredits(credits.available))),
        short ? h("p", { class: "ainf-warning" }, "This run costs more than the budget left. ",
          h("a", { href: "#/budget", onClick: (e) => { e.preventDefault(); ctx.navigate("budget"); } }, "Raise the budget"), " first.") : null);
    } catch (err) {
      estimateOk = false;
      replace(estimateBox, ctx.errorBox(err));
    }
    updateGenerate();
  }

  generate.addEventListener("click", async () => {
    generate.disabled = true;
    try {
      const started = await ctx.api.post(`/presets/${preset.id}/run`, request());
      if (stopRun) stopRun();
      stopRun = followJob(ctx, runBox, started.job_id);
      ctx.toast(`Started ${preset.name}`, "info");
    } catch (err) {
      replace(runBox, ctx.errorBox(err));
    }
    updateGenerate();
  });

  const engineOptions = [["auto", "Auto (the first connected engine)"], ...preset.engines.map((e) => [e, `${engineName(e)}${status[e] === "connected" || status[e] === "running" ? "" : " (not connected)"}`])];
  const quality = selectField(ctx, "Quality level", Object.entries(preset.quality_levels).map(([k, v]) => [k, `${k} — ${v.description}`]), (v) => { state.quality_level = v; refresh(); });
  quality.control.value = preset.default_quality;
  const engine = selectField(ctx, "Engine", engineOptions, (v) => { state.engine = v; refresh(); });
  const seedId = uid("seed");
  const seed = h("input", { id: seedId, type: "number", min: "0", step: "1", placeholder: "new take", onInput: () => { state.seed = seed.value === "" ? null : Number(seed.value); refresh(); } });
  const charList = characters.characters || [];
  const character = charList.length
    ? selectField(ctx, "Character (optional)", [["", "None"], ...charList.map((c) => [c.character_id, c.name])], (v) => { state.character_id = v || null; refresh(); }).element
    : null;
  const noEngine = preset.engines.every((e) => e !== "local_comfy" && status[e] !== "connected");

  replace(container,
    h("p", {}, h("a", { href: "#/create", onClick: (e) => { e.preventDefault(); ctx.navigate("create"); } }, "← All presets")),
    h("h3", {}, preset.name),
    h("p", {}, preset.description),
    prompt,
    noEngine ? h("div", { class: "ainf-warning", "data-no-engine": "" }, `This preset needs ${preset.engines.filter((e) => e !== "local_comfy").map(engineName).join(" or ")}: `,
      h("a", { href: "#/setup", onClick: (e) => { e.preventDefault(); ctx.navigate("setup"); } }, "connect one in Setup"), ".") : null,
    (preset.safety_notes || []).map((n) => h("p", { class: "ainf-notice" }, n)),
    h("form", { class: "ainf-create-form", onSubmit: (e) => e.preventDefault() },
      h("div", { class: "ainf-create-inputs" },
        preset.inputs.map((i) => (FILE_TYPES[i.type] ? fileField : valueField)(ctx, i, state, refresh))),
      h("div", { class: "ainf-create-options" },
        quality.element, engine.element,
        h("div", { class: "ainf-field" }, h("label", { for: seedId }, "Seed"), seed, h("span", { class: "ainf-small ainf-muted" }, "Empty makes a new take; the same seed repeats one.")),
        character,
        h("h4", {}, "Estimate"), estimateBox,
        consent ? consent.element : null,
        h("div", { class: "ainf-row" }, generate))),
    runBox);
  estimate();
  return () => {
    clearTimeout(estimateTimer);
    if (stopRun) stopRun();
  };
}

// #/create lists the presets; #/create/<preset_id> opens that preset's form
const render = (container, ctx) => (ctx.params.id ? presetForm(container, ctx, ctx.params.id) : listPresets(container, ctx));

export default { id: "create", title: "Create", render };
