// Budget: set the credit budget (a clear first-use prompt while none was ever set), balance / pending /
// spending by provider, the ledger lines page by page, and the cost table with where each price came from.
import { StudioError } from "../api.js";
import { onSubmit } from "./parts/forms.js";
import { dataTable, engineName, linkedText } from "./parts/tables.js";

const PAGE = 20;
const KIND_NAMES = {
  budget: "Budget set",
  pending: "Held",
  post: "Charged",
  void: "Released",
  single: "Charged",
  refund: "Refunded",
};
const IN_DOUBT = "submit in doubt";
const PER_UNIT = { image: "per image", second: "per second", output_megapixel: "per output megapixel" };

/** A price as the cost table holds it (thousandths of a credit). */
export function price(n) {
  return `${Number(n).toFixed(3).replace(/0$/, "")} cr`;
}

/** "0.10–0.48 credits" for the prices a group of cost-table rows spans. */
function priceRange(values) {
  const low = Math.min(...values);
  const high = Math.max(...values);
  return low === high ? price(low) : `${price(low)} – ${price(high)}`;
}

/** The per-run prices summed up by engine and operation, for the first-use prompt. */
export function priceSummary(entries) {
  const groups = new Map();
  for (const row of entries) {
    if (["local_comfy", "provider_liveportrait", "provider_identity_nodes"].includes(row.engine)) continue;
    const key = `${engineName(row.engine)} ${row.operation}`;
    if (!groups.has(key)) groups.set(key, { label: key, values: [], basis: row.basis });
    groups.get(key).values.push(row.credits);
  }
  return [...groups.values()].map((g) => `${g.label}: ${priceRange(g.values)} (${g.basis || "per run"})`);
}

function summaryCards(ctx, balance) {
  const { h } = ctx;
  const spent = Object.values(balance.spent_by_provider || {}).reduce((a, b) => a + b, 0);
  const card = (label, value, note) => h("div", { class: "ainf-budget-figure" },
    h("span", { class: "ainf-budget-label" }, label), h("strong", {}, value),
    ...(note ? [h("span", { class: "ainf-muted" }, note)] : []));
  return h("div", { class: "ainf-budget-figures" },
    card("Available", ctx.formatCredits(balance.available), "what new runs can hold"),
    card("Pending", ctx.formatCredits(balance.pending), "held for runs in progress"),
    card("Spent", ctx.formatCredits(spent), "charged so far"),
    card("Budget last set", balance.budget === null ? "never" : ctx.formatCredits(balance.budget),
      balance.budget_set_at ? ctx.formatAge(balance.budget_set_at) : "remote runs need one"));
}

function providerTable(ctx, balance) {
  const { h } = ctx;
  const rows = Object.entries(balance.spent_by_provider || {}).map(([engine, credits]) => [
    engineName(engine), ctx.formatCredits(credits)]);
  if (!rows.length) return h("p", { class: "ainf-muted" }, "Nothing was charged yet.");
  return dataTable(h, { caption: "Spent by provider", columns: ["Provider", "Spent"], rows });
}

function budgetForm(ctx, balance, onSet) {
  const { h } = ctx;
  const input = h("input", { type: "number", id: "ainf-budget-amount", min: "0", step: "0.01", required: "",
    inputmode: "decimal", value: String(balance.budget ?? balance.available ?? 0) });
  const result = h("div", { class: "ainf-budget-result" });
  const submit = h("button", { type: "submit", class: "ainf-button ainf-button-primary" }, "Set budget");
  const form = h("form", { class: "ainf-budget-form", "aria-label": "Set the budget" },
    h("div", { class: "ainf-field" }, h("label", { for: input.id }, "Budget (credits, 1 credit = 1 USD)"), input),
    submit,
    h("p", { class: "ainf-muted ainf-small" }, "Sets the credits available to new runs; holds of runs in progress stay. "
      + "From a terminal: ainfluencer credits --budget N"),
    result);
  onSubmit(form, result, async () => {
    const credits = Number(input.value);
    if (input.value.trim() === "" || !Number.isFinite(credits) || credits < 0) {
      input.setAttribute("aria-invalid", "true");
      result.replaceChildren(ctx.errorBox(new StudioError({ code: "VALIDATION_ERROR",
        message: "Enter a number of credits, 0 or more.", remediation: ["Type the budget in credits, for example 5."] })));
      return;
    }
    input.removeAttribute("aria-invalid");
    submit.disabled = true;
    try {
      const answer = await ctx.api.post("/credits/budget", { credits });
      ctx.toast(`Budget set: ${ctx.formatCredits(answer.available)} available.`, "success");
      onSet();
    } catch (err) {
      result.replaceChildren(ctx.errorBox(err));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function firstUsePrompt(ctx, balance, costTable) {
  const { h } = ctx;
  const spent = Object.values(balance.spent_by_provider || {}).reduce((a, b) => a + b, 0);
  const prices = costTable ? priceSummary(costTable.entries) : [];
  return h("div", { class: "ainf-budget-first", role: "note", "aria-labelledby": "ainf-budget-first-title" },
    h("h3", { id: "ainf-budget-first-title" }, "Set a budget before your first remote run"),
    h("p", {}, "No budget was set yet, so remote engines (fal.ai, Kling, Runware, Sync Labs) refuse to start: "
      + "every remote run holds its price from the budget first, and is charged at most that. Runs on this "
      + `machine are free. Spent so far: ${ctx.formatCredits(spent)}.`),
    ...(prices.length ? [h("p", {}, "What remote runs cost:"), h("ul", { class: "ainf-budget-prices" },
      ...prices.map((p) => h("li", {}, p)))] : []));
}

function ledgerRows(ctx, transfers, onRelease) {
  const { h } = ctx;
  return transfers.map((t) => {
    const job = t.job_id
      ? h("button", { type: "button", class: "ainf-link-button", onClick: () => ctx.navigate("jobs", { id: t.job_id }) }, t.job_id)
      : "—";
    const reason = [t.reason || ""];
    if (t.kind === "pending" && (t.reason || "").startsWith(IN_DOUBT)) {
      reason.push(" ", h("button", { type: "button", class: "ainf-button ainf-button-small",
        "aria-label": `Release the hold of ${t.job_id} ${t.step_id}`, onClick: () => onRelease(t) }, "Release"));
    }
    return [ctx.formatAge(t.created_at), KIND_NAMES[t.kind] || t.kind, engineName(t.engine), job, t.step_id || "—",
      price(t.credits), h("span", {}, ...reason)];
  });
}

class LedgerView {
  constructor(ctx, onChange) {
    this.ctx = ctx;
    this.onChange = onChange;
    this.offset = 0;
    const { h } = ctx;
    this.body = h("div", { class: "ainf-budget-ledger-body" });
    this.newer = h("button", { type: "button", class: "ainf-button", onClick: () => this.page(-PAGE) }, "Newer lines");
    this.older = h("button", { type: "button", class: "ainf-button", onClick: () => this.page(PAGE) }, "Older lines");
    this.position = h("span", { class: "ainf-muted", "aria-live": "polite" });
    this.el = h("div", { class: "ainf-budget-ledger" }, this.body,
      h("div", { class: "ainf-pager" }, this.newer, this.position, this.older));
  }

  page(step) {
    this.offset = Math.max(0, this.offset + step);
    this.load();
  }

  async load() {
    const { h } = this.ctx;
    try {
      const { transfers, total } = await this.ctx.api.get(`/credits/ledger?limit=${PAGE}&offset=${this.offset}`);
      this.body.replaceChildren(transfers.length
        ? dataTable(h, { caption: "Ledger lines, newest first", className: "ainf-budget-ledger-table",
          columns: ["When", "What", "Engine", "Job", "Step", "Credits", "Reason"],
          rows: ledgerRows(this.ctx, transfers, (t) => this.release(t)) })
        : h("p", { class: "ainf-muted" }, "No ledger lines yet: they appear when a budget is set or a run holds credits."));
      this.position.textContent = total ? `Lines ${this.offset + 1}–${this.offset + transfers.length} of ${total}` : "";
      this.newer.disabled = this.offset === 0;
      this.older.disabled = this.offset + transfers.length >= total;
    } catch (err) {
      this.body.replaceChildren(this.ctx.errorBox(err));
      this.position.textContent = "";
    }
  }

  async release(t) {
    try {
      await this.ctx.api.post("/credits/holds/release", { job_id: t.job_id, step_id: t.step_id });
      this.ctx.toast(`Released the hold of ${t.job_id}.`, "success");
      this.onChange();
    } catch (err) {
      this.body.prepend(this.ctx.errorBox(err));
    }
  }
}

function statusBadge(h, row) {
  if (row.user_row) return h("span", { class: "ainf-badge ainf-badge-neutral" }, "Your price");
  return row.assumed
    ? h("span", { class: "ainf-badge ainf-badge-warn" }, "Assumed")
    : h("span", { class: "ainf-badge ainf-badge-ok" }, "Published");
}

function costTables(ctx, table) {
  const { h } = ctx;
  const perRun = table.entries.map((row) => [engineName(row.engine), row.operation,
    row.quality === "*" ? "any" : row.quality, price(row.credits), row.basis || "—", statusBadge(h, row),
    linkedText(h, row.source)]);
  const rates = (table.model_prices || []).map((row) => [engineName(row.engine), row.model === "*" ? "any model" : row.model,
    Object.entries(row.rates).map(([tier, rate]) => `${tier ? `${tier}: ` : ""}${price(rate)}`).join(", ")
      + ` ${PER_UNIT[row.per] || row.per}`,
    statusBadge(h, row), row.checked, h("span", {}, linkedText(h, row.source), row.note ? ` — ${row.note}` : "")]);
  return [
    h("p", { class: "ainf-muted" }, "A remote step is priced from the request it sends, at the provider's published "
      + "rate for that model; the per-run rows price what has no model rate. \"Assumed\" means the provider does "
      + "not publish that exact figure, so the highest rate that could apply is held; the charge posted afterwards is "
      + "what the provider reports, never more than the hold. "
      + `Your own prices go in ${table.user_file || "cost_table.json"} and win over both.`),
    h("h4", {}, "Model rates"),
    dataTable(h, { caption: "Model rates with their sources", className: "ainf-budget-rates",
      columns: ["Engine", "Model", "Rate", "Status", "Checked", "Source"], rows: rates }),
    h("details", { class: "ainf-budget-per-run" },
      h("summary", {}, `Per-run prices (${perRun.length} rows: what a run costs when its model has no rate)`),
      dataTable(h, { caption: "Per-run prices with their sources", className: "ainf-budget-costs",
        columns: ["Engine", "Operation", "Quality", "Price", "Basis", "Status", "Source"], rows: perRun })),
  ];
}

export default {
  id: "budget",
  title: "Budget",
  render(container, ctx) {
    const { h } = ctx;
    const top = h("div", { class: "ainf-budget-top" });
    const providers = h("div", { class: "ainf-budget-providers" });
    const costs = h("div", { class: "ainf-budget-costs-body" });
    const ledger = new LedgerView(ctx, () => refresh());
    let costTable = null;
    const refresh = async () => {
      // each part answers on its own: a route that fails leaves the others on the page
      const [balance, table] = await Promise.allSettled([ctx.api.get("/credits"),
        costTable ?? ctx.api.get("/credits/cost-table")]);
      if (table.status === "fulfilled") costTable = table.value;
      costs.replaceChildren(...(costTable ? costTables(ctx, costTable) : [ctx.errorBox(table.reason)]));
      if (balance.status === "rejected") {
        top.replaceChildren(ctx.errorBox(balance.reason));
        providers.replaceChildren();
      } else {
        const b = balance.value;
        const form = budgetForm(ctx, b, () => refresh());
        // on first use the question comes first, with its answer right below it; then the figures
        top.replaceChildren(...(b.budget === null
          ? [firstUsePrompt(ctx, b, costTable), form, summaryCards(ctx, b)]
          : [summaryCards(ctx, b), form]));
        providers.replaceChildren(providerTable(ctx, b));
      }
      await ledger.load();
    };
    container.replaceChildren(h("div", { class: "ainf-budget" }, top,
      h("h3", {}, "Spent by provider"), providers,
      h("h3", {}, "Ledger"), ledger.el,
      h("h3", {}, "Cost table"), costs));
    refresh();
    const stop = ctx.on("ainfluencer.job", (job) => {
      if (["completed", "failed", "cancelled"].includes(job?.status)) refresh();
    });
    return () => stop?.();
  },
};
