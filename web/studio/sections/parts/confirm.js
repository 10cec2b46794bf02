// A modal confirmation as a native <dialog>: focus is trapped and Escape cancels (the browser's own
// behaviour), the title names the dialog for assistive technology, and a risky choice can require a
// ticked "I understand the risks" box before its confirm button works.

let dialogCount = 0;

/** Ask a question in a modal dialog inside `parent`; resolves true when the user confirms. */
export function confirmDialog(h, parent, { title, body = [], confirmLabel, cancelLabel = "Go back", ackLabel = null }) {
  dialogCount += 1;
  const titleId = `ainf-confirm-title-${dialogCount}`;
  const ack = ackLabel ? h("input", { type: "checkbox", id: `${titleId}-ack` }) : null;
  const confirm = h("button", { type: "button", class: "ainf-button ainf-button-danger" }, confirmLabel);
  const cancel = h("button", { type: "button", class: "ainf-button" }, cancelLabel);
  const dialog = h(
    "dialog",
    { class: "ainf-confirm", "aria-labelledby": titleId },
    h("h2", { id: titleId }, title),
    ...body,
    ...(ack ? [h("p", { class: "ainf-confirm-ack" }, ack, h("label", { for: ack.id }, ackLabel))] : []),
    h("div", { class: "ainf-confirm-actions" }, cancel, confirm),
  );
  confirm.disabled = Boolean(ack);
  if (ack) ack.addEventListener("change", () => { confirm.disabled = !ack.checked; });
  parent.append(dialog);
  return new Promise((resolve) => {
    let answer = false;
    confirm.addEventListener("click", () => { answer = true; dialog.close(); });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => { dialog.remove(); resolve(answer); });
    dialog.showModal();
    cancel.focus();
  });
}
