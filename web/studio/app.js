// The AInfluencer Studio: one app for the editor's sidebar tab and the full page at /ainfluencer/.
// Sections live in ./sections/<id>.js (+ <id>.css) and are loaded when first opened.
//
// Routing on the full page is the hash: #/<section>[/<id>][?key=value…]. A section receives that as
// ctx.params = { id, ...query }; ctx.navigate(section, params) writes it back (embedded: no hash).
import { h, replace } from "./dom.js";
import { createApi, StudioError, UNAVAILABLE } from "./api.js";
import { errorBox, createToaster } from "./feedback.js";
import { createEvents } from "./events.js";
import { formatAge, formatCredits } from "./format.js";
import { applyTheme } from "./theme.js";

export const SECTIONS = [
  { id: "setup", title: "Setup" },
  { id: "create", title: "Create" },
  { id: "jobs", title: "Gallery" },
  { id: "models", title: "Models" },
  { id: "budget", title: "Budget" },
  { id: "characters", title: "Characters" },
];
const SECTION_IDS = new Set(SECTIONS.map((s) => s.id));
const loadedStyles = new Set();

/** "#/jobs/job_1?status=failed" → { section: "jobs", params: { id: "job_1", status: "failed" } }. */
export function parseHash(hash) {
  const [path, query = ""] = String(hash || "").replace(/^#\/?/, "").split("?");
  const [section = "", ...rest] = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = Object.fromEntries(new URLSearchParams(query));
  if (rest.length) params.id = rest.join("/");
  return { section: SECTION_IDS.has(section) ? section : null, params };
}

/** { section: "jobs", params: { id: "job_1" } } → "#/jobs/job_1". */
export function formatHash(section, params = {}) {
  const { id, ...query } = params || {};
  const search = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== ""));
  const tail = id ? `/${encodeURIComponent(id)}` : "";
  const qs = search.toString();
  return `#/${section}${tail}${qs ? `?${qs}` : ""}`;
}

function loadStyle(href) {
  if (loadedStyles.has(href)) return Promise.resolve();
  loadedStyles.add(href);
  return new Promise((resolve) => {
    const link = h("link", { rel: "stylesheet", href });
    link.addEventListener("load", resolve);
    link.addEventListener("error", resolve); // a missing stylesheet must not keep the section from showing
    document.head.append(link);
  });
}

async function loadSection(id) {
  const [module] = await Promise.all([
    import(`./sections/${id}.js`),
    loadStyle(new URL(`./sections/${id}.css`, import.meta.url).href),
  ]);
  return module.default;
}

/** Render the Studio into `root`; returns { navigate, destroy }. */
export async function mountStudio(root, { section, params, embedded = false } = {}) {
  await loadStyle(new URL("./studio.css", import.meta.url).href);
  const events = createEvents(embedded);
  const stopTheme = applyTheme(root, embedded);
  const toast = createToaster(root, embedded);
  const state = { section: null, params: {}, cleanup: null, token: 0 };

  const navButtons = new Map();
  const nav = h(
    "nav",
    { class: "ainf-nav", "aria-label": "AInfluencer Studio sections" },
    h(
      "ul",
      {},
      SECTIONS.map(({ id, title }) => {
        const control = embedded
          ? h("button", { type: "button", class: "ainf-nav-link", onClick: () => navigate(id) }, title)
          : h("a", { class: "ainf-nav-link", href: formatHash(id) }, title);
        navButtons.set(id, control);
        return h("li", {}, control);
      }),
    ),
  );
  const main = h("main", { class: "ainf-main", tabindex: "-1", "aria-live": "polite", "aria-busy": "false" });
  const header = h(
    "header",
    { class: "ainf-header" },
    h("h1", { class: "ainf-title" }, "AInfluencer Studio"),
    embedded
      ? h("a", { class: "ainf-header-link", href: "/ainfluencer/", target: "_blank", rel: "noopener" }, "Open as a page")
      : h("a", { class: "ainf-header-link", href: "/" }, "Graph editor"),
  );
  root.classList.add("ainf-studio");
  root.classList.toggle("ainf-embedded", embedded);
  replace(root, header, nav, main);

  const ctx = {
    api: createApi(),
    h,
    errorBox: (err) => errorBox(err, toast),
    navigate,
    params: {},
    on: (type, fn) => events.on(type, fn),
    toast,
    embedded,
    formatCredits,
    formatAge,
  };

  async function show(id, sectionParams) {
    const token = ++state.token;
    if (state.cleanup) {
      try {
        state.cleanup();
      } catch (err) {
        console.warn("ainfluencer studio: a section's cleanup failed", err);
      }
      state.cleanup = null;
    }
    state.section = id;
    state.params = sectionParams || {};
    for (const [navId, control] of navButtons) {
      if (navId === id) control.setAttribute("aria-current", "page");
      else control.removeAttribute("aria-current");
    }
    main.setAttribute("aria-busy", "true");
    replace(main, h("p", { class: "ainf-muted" }, "Loading…"));
    let mod;
    try {
      mod = await loadSection(id);
    } catch (err) {
      if (token !== state.token) return;
      console.warn(`ainfluencer studio: section ${id} could not be loaded`, err);
      replace(main, errorBox(new StudioError({ code: UNAVAILABLE, message: "Not configured / unavailable", remediation: [`The ${id} section could not be loaded; reload the page.`] }), toast));
      main.setAttribute("aria-busy", "false");
      return;
    }
    if (token !== state.token) return;
    const container = h("section", { class: `ainf-section ainf-section-${id}`, "aria-labelledby": `ainf-heading-${id}` });
    replace(main, h("h2", { class: "ainf-section-title", id: `ainf-heading-${id}` }, mod.title), container);
    ctx.params = state.params;
    try {
      const cleanup = await mod.render(container, ctx);
      if (token === state.token) state.cleanup = typeof cleanup === "function" ? cleanup : null;
      else if (typeof cleanup === "function") cleanup();
    } catch (err) {
      console.warn(`ainfluencer studio: section ${id} failed to render`, err);
      if (token === state.token) replace(container, errorBox(err, toast));
    }
    if (token === state.token) main.setAttribute("aria-busy", "false");
  }

  function navigate(id, sectionParams = {}) {
    const target = SECTION_IDS.has(id) ? id : "setup";
    if (!embedded) {
      const hash = formatHash(target, sectionParams);
      if (location.hash !== hash) {
        location.hash = hash; // the hashchange listener renders it
        return;
      }
    }
    show(target, sectionParams);
  }

  const onHash = () => {
    const parsed = parseHash(location.hash);
    show(parsed.section || "setup", parsed.params);
  };
  if (!embedded) {
    window.addEventListener("hashchange", onHash);
    const parsed = parseHash(location.hash);
    if (parsed.section) show(parsed.section, parsed.params);
    else navigate(section || "setup", params || {});
  } else {
    show(section && SECTION_IDS.has(section) ? section : "setup", params || {});
  }

  return {
    navigate,
    destroy() {
      state.token += 1;
      if (state.cleanup) state.cleanup();
      if (!embedded) window.removeEventListener("hashchange", onHash);
      events.close();
      stopTheme();
      root.replaceChildren();
    },
  };
}
