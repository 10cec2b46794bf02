// Characters: create one, add reference photos (uploaded, previewed, checked by the sidecar), record
// consent with the ethics checklist (spec §9.5), list and delete. Create picks characters from the same route.
import { StudioError } from "../api.js";
import { cardList } from "./parts/card_list.js";
import { confirmDialog } from "./parts/confirm.js";
import { keepInStep, onSubmit } from "./parts/forms.js";

// The recorded checklist (sidecar/jobs/characters.py ConsentChecklist) in the spec's words, then the part of
// the spec's ethics checklist that is the creator's own undertaking (asked, not stored per character).
export const CONSENT_ITEMS = [
  ["person_consented", "I have permission to use this face/identity for generation"],
  ["is_adult", "The person shown is an adult"],
  ["may_withdraw", "The person knows they can withdraw consent, and I will stop using their likeness if they do"],
  ["no_deception", "I will not use this tool to create misleading or harmful content"],
];
export const ETHICS_ITEMS = [
  ["synthetic", "I understand that AI-generated content may be detected as synthetic"],
];

function plural(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** The /view address of an image in ComfyUI's input folder ("sub/name.png" → subfolder + filename). */
export function inputImageUrl(name) {
  const cut = name.lastIndexOf("/");
  const query = new URLSearchParams({ filename: name.slice(cut + 1), subfolder: cut < 0 ? "" : name.slice(0, cut), type: "input" });
  return `/view?${query}`;
}

function createForm(ctx, onCreated) {
  const { h } = ctx;
  const name = h("input", { type: "text", id: "ainf-character-name", required: "", maxlength: "100", autocomplete: "off" });
  const description = h("textarea", { id: "ainf-character-description", maxlength: "1000", rows: "2" });
  const result = h("div", {});
  const form = h("form", { class: "ainf-characters-create", "aria-labelledby": "ainf-characters-create-title" },
    h("h3", { id: "ainf-characters-create-title" }, "New character"),
    h("div", { class: "ainf-field" }, h("label", { for: name.id }, "Name"), name),
    h("div", { class: "ainf-field" }, h("label", { for: description.id }, "Description (optional)"), description),
    h("button", { type: "submit", class: "ainf-button ainf-button-primary" }, "Create character"),
    result);
  onSubmit(form, result, async () => {
    if (!name.value.trim()) {
      name.setAttribute("aria-invalid", "true");
      result.replaceChildren(ctx.errorBox(new StudioError({ code: "VALIDATION_ERROR",
        message: "Give the character a name.", remediation: ["Type a name of 1 to 100 characters."] })));
      return;
    }
    name.removeAttribute("aria-invalid");
    try {
      const body = { name: name.value.trim() };
      if (description.value.trim()) body.description = description.value.trim();
      const made = await ctx.api.post("/characters", body);
      form.reset();
      ctx.toast(`${made.name} was created.`, "success");
      onCreated(made.id);
    } catch (err) {
      result.replaceChildren(ctx.errorBox(err));
    }
  });
  return form;
}

class ReferencePicker {
  constructor(ctx, character, onAdded) {
    const { h } = ctx;
    Object.assign(this, { ctx, character, onAdded, previewUrl: null });
    this.input = h("input", { type: "file", accept: "image/png,image/jpeg,image/webp", id: `ainf-ref-${character.id}` });
    this.preview = h("div", { class: "ainf-characters-preview" });
    this.add = h("button", { type: "button", class: "ainf-button ainf-button-primary", onClick: () => this.upload() },
      "Add this photo");
    this.result = h("div", {});
    this.add.hidden = true;
    this.input.addEventListener("change", () => this.show());
    this.el = h("div", { class: "ainf-characters-picker" },
      h("label", { for: this.input.id }, `Add a reference photo of ${character.name}`), this.input,
      this.preview, this.add, this.result);
  }

  show() {
    this.dispose();
    const file = this.input.files?.[0];
    this.result.replaceChildren();
    this.add.hidden = !file;
    if (!file) return this.preview.replaceChildren();
    this.previewUrl = URL.createObjectURL(file);
    this.preview.replaceChildren(this.ctx.h("img", { src: this.previewUrl, alt: `Preview of ${file.name}` }));
  }

  async upload() {
    const file = this.input.files?.[0];
    if (!file) return;
    this.add.disabled = true;
    try {
      const form = new FormData();
      form.append("file", file, file.name);
      const saved = await this.ctx.api.upload("/uploads", form);
      const image = saved.subfolder ? `${saved.subfolder}/${saved.name}` : saved.name;
      await this.ctx.api.post(`/characters/${encodeURIComponent(this.character.id)}/references`, { image });
      this.ctx.toast(`Reference photo added to ${this.character.name}.`, "success");
      this.onAdded();
    } catch (err) {
      this.result.replaceChildren(this.ctx.errorBox(err));
    } finally {
      this.add.disabled = false;
    }
  }

  dispose() {
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = null;
  }
}

function consentForm(ctx, character, onRecorded) {
  const { h } = ctx;
  const prefix = `ainf-consent-${character.id}`;
  const who = h("input", { type: "text", id: `${prefix}-who`, required: "", maxlength: "200", autocomplete: "name" });
  const boxes = [...CONSENT_ITEMS, ...ETHICS_ITEMS].map(([key, label]) => {
    const input = h("input", { type: "checkbox", id: `${prefix}-${key}`, "data-key": key });
    return { key, input, row: h("li", {}, input, h("label", { for: input.id }, label)) };
  });
  const submit = h("button", { type: "submit", class: "ainf-button ainf-button-primary" }, "Record consent");
  const result = h("div", {});
  const form = h("form", { class: "ainf-characters-consent" },
    h("div", { class: "ainf-field" }, h("label", { for: who.id }, "Confirmed by (your name)"), who),
    h("fieldset", {}, h("legend", {}, "Ethics & safety checklist (every item is required)"),
      h("ul", { class: "ainf-checklist" }, ...boxes.map((b) => b.row))),
    submit, result);
  keepInStep(form, () => {
    submit.disabled = !who.value.trim() || boxes.some((b) => !b.input.checked);
  });
  onSubmit(form, result, async () => {
    const checklist = Object.fromEntries(boxes.filter((b) => CONSENT_ITEMS.some(([k]) => k === b.key))
      .map((b) => [b.key, b.input.checked]));
    try {
      await ctx.api.post(`/characters/${encodeURIComponent(character.id)}/consent`,
        { confirmed_by: who.value.trim(), checklist });
      ctx.toast(`Consent recorded for ${character.name}.`, "success");
      onRecorded();
    } catch (err) {
      result.replaceChildren(ctx.errorBox(err));
    }
  });
  return h("details", { class: "ainf-characters-consent-box" },
    h("summary", {}, character.consents.length ? "Consent checklist (record it again)" : "Consent checklist"), form);
}

function consentStatus(ctx, character) {
  const { h } = ctx;
  const latest = character.consents[character.consents.length - 1];
  return latest
    ? h("p", { class: "ainf-badge ainf-badge-ok ainf-characters-consented" },
      `Consent recorded by ${latest.confirmed_by}, ${ctx.formatAge(latest.confirmed_at)}`)
    : h("p", { class: "ainf-badge ainf-badge-warn" }, "No consent recorded: identity presets need it");
}

function characterCard(ctx, character, own, reload, root) {
  const { h } = ctx;
  const picker = new ReferencePicker(ctx, character, reload);
  own(picker);
  const refs = character.references.map((r, i) => h("li", {},
    h("img", { src: inputImageUrl(r.image), alt: `Reference photo ${i + 1} of ${character.name}`, loading: "lazy" })));
  const remove = h("button", { type: "button", class: "ainf-button ainf-button-danger",
    "aria-label": `Delete ${character.name}`, onClick: () => deleteCharacter(ctx, character, root, reload) }, "Delete");
  return h("li", { class: "ainf-card ainf-characters-card", "data-character-id": character.id },
    h("div", { class: "ainf-characters-head" }, h("h3", {}, character.name), remove),
    ...(character.description ? [h("p", {}, character.description)] : []),
    h("p", { class: "ainf-muted" }, `Created ${ctx.formatAge(character.created_at)} · ${plural(character.references.length, "reference photo")}`),
    refs.length
      ? h("ul", { class: "ainf-characters-refs", "aria-label": `Reference photos of ${character.name}` }, ...refs)
      : h("p", { class: "ainf-muted" }, "No reference photos yet."),
    picker.el,
    consentStatus(ctx, character),
    consentForm(ctx, character, reload));
}

async function deleteCharacter(ctx, character, root, reload) {
  const { h } = ctx;
  const ok = await confirmDialog(h, root, {
    title: `Delete ${character.name}?`,
    body: [h("p", {}, "The character and its list of reference photos are removed. Its consent records stay, "
      + "as the record of the runs that used them; the photo files stay in ComfyUI's input folder.")],
    confirmLabel: "Delete",
    cancelLabel: "Keep it",
  });
  if (!ok) return;
  try {
    await ctx.api.del(`/characters/${encodeURIComponent(character.id)}`);
    ctx.toast(`${character.name} was deleted.`, "success");
    reload();
  } catch (err) {
    root.prepend(ctx.errorBox(err));
  }
}

export default {
  id: "characters",
  title: "Characters",
  render(container, ctx) {
    const cards = cardList(ctx, {
      label: "Characters",
      className: "ainf-characters-list",
      fetchItems: async () => (await ctx.api.get("/characters?limit=500")).characters,
      summary: (items) => (items.length
        ? `${plural(items.length, "character")}. Identity presets in Create use their reference photos and consent.`
        : "No characters yet: create one, add a reference photo and record consent."),
      renderCard: (character, own) => characterCard(ctx, character, own, () => cards.load(), container),
    });
    container.replaceChildren(createForm(ctx, () => cards.load()), cards.status, cards.list);
    cards.load();
    return cards.dispose;
  },
};
