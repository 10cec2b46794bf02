// Form wiring the sections share: controls kept in step with the answers, and a submit that starts clean.

/** Run `update` now and after every change of the form (enable buttons, show or hide the gates). */
export function keepInStep(form, update) {
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
}

/** Handle the form's submit in the page: the previous result is cleared before `handler` runs. */
export function onSubmit(form, result, handler) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    result.replaceChildren();
    handler();
  });
}
