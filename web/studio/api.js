// The sidecar's routes under /ainfluencer/v1, answered as parsed JSON or thrown as a StudioError that
// carries the route's own error body: {error, message, remediation[], detail}.

export const API_BASE = "/ainfluencer/v1";
export const UNAVAILABLE = "UNAVAILABLE";
const UNAVAILABLE_MESSAGE = "Not configured / unavailable";

export class StudioError extends Error {
  constructor({ code, message, remediation = [], status = 0, detail = null }) {
    super(message);
    this.name = "StudioError";
    this.code = code;
    this.remediation = remediation;
    this.status = status;
    this.detail = detail;
  }

  /** The text "Copy details" puts on the clipboard: only what the route answered (already redacted). */
  details() {
    const lines = [`${this.code}: ${this.message}`];
    for (const step of this.remediation) lines.push(`- ${step}`);
    if (this.status) lines.push(`HTTP status: ${this.status}`);
    if (this.detail !== null && this.detail !== undefined) lines.push(`detail: ${JSON.stringify(this.detail, null, 1)}`);
    return lines.join("\n");
  }
}

/** A StudioError from an error body a route embedded in its answer (a provider's last failure …). */
export function errorFromBody(body, status = 0) {
  return new StudioError({
    code: body.error || "ERROR",
    message: body.message || "The operation failed.",
    remediation: Array.isArray(body.remediation) ? body.remediation : [],
    status,
    detail: body.detail ?? null,
  });
}

function unavailable(status, detail) {
  return new StudioError({
    code: UNAVAILABLE,
    message: UNAVAILABLE_MESSAGE,
    remediation: ["Check that ComfyUI is running with the AInfluencer pack loaded, then reload this page."],
    status,
    detail,
  });
}

async function send(method, path, body, isForm) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined && isForm) init.body = body;
  else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API_BASE + path, init);
  } catch (err) {
    throw unavailable(0, String(err && err.message ? err.message : err));
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (response.ok) return payload;
  if (payload && typeof payload.error === "string" && typeof payload.message === "string") {
    throw new StudioError({
      code: payload.error,
      message: payload.message,
      remediation: Array.isArray(payload.remediation) ? payload.remediation : [],
      status: response.status,
      detail: payload.detail ?? null,
    });
  }
  // aiohttp's own 404/405 for a route this server does not have, a proxy's HTML error page…
  throw unavailable(response.status, null);
}

/** The API object sections use as ctx.api. */
export function createApi() {
  return {
    get: (path) => send("GET", path),
    post: (path, body = {}) => send("POST", path, body, false),
    del: (path) => send("DELETE", path),
    upload: (path, formData) => send("POST", path, formData, true),
  };
}
