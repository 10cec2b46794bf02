// Setup (spec §4): provider cards with their keys, engine cards (this ComfyUI and optional local tools),
// the health matrix with Retry per row, and the redacted diagnostics download.
import { errorFromBody } from "../api.js";
import { replace, uid } from "../dom.js";
import { budgetPrompt } from "../budget_prompt.js";
import { engineName, statusBadge } from "../names.js";

const KEY_HINTS = {
  provider_kling: "Kling keys are two parts: paste them as ACCESS_KEY:SECRET_KEY.",
  provider_fal: "From fal.ai → Dashboard → Keys (the whole key, with its colon).",
  provider_runware: "From Runware → API keys.",
  provider_synclabs: "From Sync Labs → Settings → API keys.",
};
const GIB = 1024 ** 3;

function statusLine(h, p) {
  if (p.status === "connected") {
    const balance = p.balance !== null && p.balance !== undefined ? ` — balance ${p.balance}` : "";
    return h("p", { class: "ainf-provider-status" }, statusBadge(h, "connected"), balance);
  }
  if (p.status === "error") {
    return h("p", { class: "ainf-provider-status" }, statusBadge(h, "error"), ` Error: ${p.message || "the last check failed"}`);
  }
  return h("p", { class: "ainf-provider-status" }, statusBadge(h, "not_connected"));
}

function providerCard(ctx, p, refresh) {
  const { h } = ctx;
  const name = engineName(p.id);
  const inputId = uid("key");
  const feedback = h("div", { class: "ainf-card-feedback", "aria-live": "polite" });
  const keyInput = h("input", { id: inputId, type: "password", autocomplete: "off", spellcheck: "false", placeholder: p.key ? `…${p.key}` : "" });
  const fromEnv = p.key_source === "env";

  async function act(button, action) {
    button.disabled = true;
    replace(feedback);
    try {
      const answer = await action();
      if (answer && answer.message) replace(feedback, h("p", { class: "ainf-small" }, answer.message));
      await refresh(feedback.textContent);
    } catch (err) {
      replace(feedback, ctx.errorBox(err));
    } finally {
      button.disabled = false;
    }
  }

  const connect = h("button", { type: "button", class: "ainf-button ainf-button-primary", onClick: () => {
    const key = keyInput.value.trim();
    if (!key) {
      replace(feedback, h("p", { class: "ainf-small" }, `Paste your ${name} API key first.`));
      keyInput.focus();
      return;
    }
    act(connect, async () => {
      const answer = await ctx.api.post(`/providers/${p.id}/connect`, { api_key: key });
      keyInput.value = "";
      return answer;
    });
  } }, p.key ? "Replace key" : "Connect");
  const test = h("button", { type: "button", class: "ainf-button", disabled: !p.key, onClick: () => act(test, () => ctx.api.post(`/providers/${p.id}/test`)) }, "Test");
  const disconnect = h("button", { type: "button", class: "ainf-button ainf-button-danger", disabled: !p.key || fromEnv, onClick: () => act(disconnect, () => ctx.api.post(`/providers/${p.id}/disconnect`)) }, "Disconnect");

  const source = p.key
    ? fromEnv
      ? `Key …${p.key} from the environment (AINFLUENCER_PROVIDER_${p.id.replace("provider_", "").toUpperCase()}_API_KEY): it cannot be removed here; unset the variable and restart ComfyUI.`
      : `Key …${p.key} stored in the local key vault.`
    : "No key stored.";
  return h(
    "article",
    { class: "ainf-card ainf-provider", "data-provider": p.id, "aria-label": `${name} provider` },
    h("h4", {}, name),
    statusLine(h, p),
    p.status === "error" && p.error ? ctx.errorBox(errorFromBody(p.error)) : null,
    h("p", { class: "ainf-small ainf-muted" }, source, " Last check: ", ctx.formatAge(p.last_check), "."),
    h("div", { class: "ainf-field" }, h("label", { for: inputId }, `${name} API key`), keyInput, h("span", { class: "ainf-small ainf-muted" }, KEY_HINTS[p.id] || "")),
    h("div", { class: "ainf-row" }, connect, test, disconnect),
    feedback,
  );
}

function hostCard(ctx, engine, version, health) {
  const { h } = ctx;
  const gpu = engine.gpu || health.gpu || {};
  const vram = gpu.vram_total_bytes ? ` — ${(gpu.vram_free_bytes / GIB).toFixed(1)} of ${(gpu.vram_total_bytes / GIB).toFixed(1)} GiB VRAM free` : "";
  const device = gpu.available ? `GPU: ${gpu.name || "available"}${vram}` : "CPU only (no GPU found): local generation is slow; remote engines are not affected.";
  return h(
    "article",
    { class: "ainf-card ainf-engine", "data-engine": "local_comfy", "aria-label": "This ComfyUI" },
    h("h4", {}, "ComfyUI (this machine)"),
    h("p", {}, statusBadge(h, engine.status === "running" ? "running_engine" : engine.status), ` ComfyUI ${version.comfyui_version || "?"}, AInfluencer ${version.version || "?"}`),
    h("ul", { class: "ainf-facts" },
      h("li", {}, device),
      (health.disk || []).map((d) => h("li", {}, `Disk (${d.label}): ${(d.free_bytes / GIB).toFixed(1)} GiB free of ${(d.total_bytes / GIB).toFixed(1)} GiB — ${d.message}`)),
      health.data_dir ? h("li", {}, `Data folder: ${health.data_dir.message}`) : null,
      engine.queue !== undefined ? h("li", {}, `${engine.queue} job(s) queued or running`) : null,
    ),
    engine.message ? h("p", { class: "ainf-small ainf-muted" }, engine.message) : null,
  );
}

function toolCard(ctx, tool) {
  const { h } = ctx;
  const installed = tool.status === "connected";
  const feedback = h("div", { "aria-live": "polite" });
  const check = h("button", { type: "button", class: "ainf-button", onClick: async () => {
    check.disabled = true;
    try {
      const report = await ctx.api.post(`/providers/${tool.id}/test`);
      replace(feedback, h("p", {}, report.message), report.remediation && report.remediation.length ? h("ol", { class: "ainf-steps" }, report.remediation.map((s) => h("li", {}, s))) : null);
    } catch (err) {
      replace(feedback, ctx.errorBox(err));
    } finally {
      check.disabled = false;
    }
  } }, "Check again");
  return h(
    "article",
    { class: "ainf-card ainf-engine", "data-engine": tool.id, "aria-label": `${engineName(tool.id)} local tool` },
    h("h4", {}, engineName(tool.id)),
    h("p", {}, h("span", { class: `ainf-badge ainf-badge-${installed ? "ok" : "warn"}` }, installed ? "Installed" : "Missing"), " Optional local tool, used by presets that name it."),
    installed ? null : h("div", {}, h("p", { class: "ainf-label" }, "Install it yourself (nothing is installed from here):"), h("p", { class: "ainf-install-steps" }, tool.message || "")),
    h("div", { class: "ainf-row" }, check),
    feedback,
  );
}

function healthMatrix(ctx, engines, reload) {
  const { h } = ctx;
  const feedback = h("div", { "aria-live": "polite" });
  const rows = engines.map((e) => {
    const retry = h("button", { type: "button", class: "ainf-button ainf-button-small", "aria-label": `Retry the check of ${engineName(e.id)}`, onClick: async () => {
      retry.disabled = true;
      replace(feedback);
      try {
        if (e.id !== "local_comfy" && e.status !== "not_connected") await ctx.api.post(`/providers/${e.id}/test`);
        await reload();
      } catch (err) {
        replace(feedback, ctx.errorBox(err));
        retry.disabled = false;
      }
    } }, "Retry");
    const balance = e.id === "local_comfy" || e.kind === "local_tool" ? "Free" : e.balance !== null && e.balance !== undefined ? String(e.balance) : "—";
    const statusKey = e.status === "running" ? "running_engine" : e.status;
    return h("tr", { "data-engine": e.id },
      h("th", { scope: "row" }, engineName(e.id)),
      h("td", {}, statusBadge(h, statusKey), e.status === "error" && e.message ? h("div", { class: "ainf-small" }, e.message) : null),
      h("td", {}, balance),
      h("td", {}, e.last_check ? ctx.formatAge(e.last_check) : "—"),
      h("td", {}, retry),
    );
  });
  return h("div", {},
    h("div", { class: "ainf-table-wrap" }, h("table", { class: "ainf-table ainf-health" },
      h("caption", { class: "ainf-offscreen" }, "Health of every engine"),
      h("thead", {}, h("tr", {}, ["Engine", "Status", "Balance", "Last check", "Action"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows),
    )),
    feedback,
  );
}

async function settle(promise) {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

export default {
  id: "setup",
  title: "Setup",
  async render(container, ctx) {
    const { h } = ctx;
    const status = h("p", { class: "ainf-offscreen", role: "status" });
    const body = h("div", { class: "ainf-setup" });
    replace(container, status, body);

    async function load(message) {
      const [providers, health, version, prompt] = await Promise.all([
        settle(ctx.api.get("/providers")),
        settle(ctx.api.get("/setup/healthcheck")),
        settle(ctx.api.get("/version")),
        budgetPrompt(ctx),
      ]);
      const list = providers.value ? providers.value.providers : [];
      const remote = list.filter((p) => p.kind === "remote");
      const tools = list.filter((p) => p.kind === "local_tool");
      const engines = health.value ? health.value.engines : [];
      const host = engines.find((e) => e.id === "local_comfy") || list.find((p) => p.id === "local_comfy");
      const connected = remote.filter((p) => p.status === "connected");
      replace(
        body,
        prompt,
        h("h3", {}, "Providers"),
        providers.error
          ? ctx.errorBox(providers.error)
          : [
              connected.length ? null : h("div", { class: "ainf-warning", "data-no-engine": "" },
                "No remote engine is connected. Local presets (colour grade, cinematic finish, upscale) run without one; ",
                "to make images or videos from a photo connect fal.ai or Kling, and Sync Labs for talking clips."),
              h("div", { class: "ainf-cards" }, remote.map((p) => providerCard(ctx, p, load))),
            ],
        h("h3", {}, "Engines"),
        h("div", { class: "ainf-cards" },
          host && health.value ? hostCard(ctx, host, version.value || {}, health.value) : ctx.errorBox(health.error || version.error),
          tools.map((t) => toolCard(ctx, t)),
        ),
        h("h3", {}, "Health"),
        health.error ? ctx.errorBox(health.error) : healthMatrix(ctx, engines, () => load("Checked again")),
        h("h3", {}, "Diagnostics"),
        h("p", {}, "A JSON bundle of versions, engine states and recent errors, with keys and personal paths redacted, to attach to a bug report."),
        h("a", { class: "ainf-button", href: "/ainfluencer/v1/setup/diagnostics?download=1", download: "" }, "Export diagnostics"),
      );
      status.textContent = typeof message === "string" && message ? message : "Setup loaded";
    }
    await load();
  },
};
