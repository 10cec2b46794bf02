// How the Studio shows failures and short notices: a failure is its message, its remediation steps and a
// "Copy details" button, never a raw status code or stack trace.
import { h } from "./dom.js";
import { StudioError } from "./api.js";

function asStudioError(err) {
  if (err instanceof StudioError) return err;
  return new StudioError({
    code: "CLIENT_ERROR",
    message: "Something went wrong in this page.",
    remediation: ["Reload the page; if it happens again, export the diagnostics from Setup."],
    detail: String(err && err.message ? err.message : err),
  });
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // http://<LAN address> is not a secure context: fall back to a hidden textarea and execCommand
  const area = h("textarea", { "aria-hidden": "true", class: "ainf-offscreen", readonly: true });
  area.value = text;
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

/** An alert box with the failure's message, its remediation steps and a "Copy details" button. */
export function errorBox(err, toast) {
  const error = asStudioError(err);
  const status = h("span", { class: "ainf-copy-status", role: "status" });
  const copy = h(
    "button",
    {
      type: "button",
      class: "ainf-button ainf-button-small",
      onClick: async () => {
        try {
          await copyText(error.details());
          status.textContent = "Copied";
        } catch {
          status.textContent = "Copy failed: select the text above instead";
        }
        if (toast) toast("Details copied to the clipboard", "info");
      },
    },
    "Copy details",
  );
  return h(
    "div",
    { class: "ainf-error", role: "alert", "data-error-code": error.code },
    h("p", { class: "ainf-error-message" }, error.message),
    error.remediation.length ? h("ul", { class: "ainf-remediation" }, error.remediation.map((step) => h("li", {}, step))) : null,
    h("div", { class: "ainf-error-actions" }, copy, status),
  );
}

/** A toast function: ComfyUI's own toasts inside the editor, a polite live region on the full page. */
export function createToaster(root, embedded) {
  const comfyToast = embedded ? window.comfyAPI?.app?.app?.extensionManager?.toast : null;
  let region = null;
  return (text, kind = "info") => {
    if (comfyToast && typeof comfyToast.add === "function") {
      const severity = kind === "error" ? "error" : kind === "success" ? "success" : "info";
      comfyToast.add({ severity, summary: "AInfluencer", detail: text, life: kind === "error" ? 8000 : 4000 });
      return;
    }
    if (!region || !region.isConnected) {
      region = h("div", { class: "ainf-toasts", role: "status", "aria-live": "polite" });
      root.append(region);
    }
    const item = h("div", { class: `ainf-toast ainf-toast-${kind}` }, text);
    region.append(item);
    setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
  };
}
