// First use: the budget starts at 0, so a remote run would fail with INSUFFICIENT_FUNDS. Setup and
// Create ask for a budget first and say where to set it.

/** A notice asking for a budget when none is set and nothing is available, else null. */
export async function budgetPrompt(ctx) {
  let credits;
  try {
    credits = await ctx.api.get("/credits");
  } catch {
    return null; // the Budget section shows the failure; here it only adds noise
  }
  if (Number(credits.available) > 0) return null;
  const { h } = ctx;
  return h(
    "div",
    { class: "ainf-notice", role: "note", "data-budget-prompt": "" },
    h("strong", {}, "Set a credit budget before your first remote run. "),
    `Available now: ${ctx.formatCredits(credits.available)}. Remote engines (fal.ai, Kling, Runware, Sync Labs) `,
    "are paid from this budget; local presets are free. ",
    h("a", { href: "#/budget", onClick: (e) => { e.preventDefault(); ctx.navigate("budget"); } }, "Set the budget in Budget"),
    " (or run ",
    h("code", {}, "ainfluencer credits --budget 10"),
    ").",
  );
}
