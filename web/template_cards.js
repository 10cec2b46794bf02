// AInfluencer frontend extension: the template browser's card of each preset shows its human title, one
// line on what it makes, and badges for what it needs (a provider key, a model, a node pack).
//
// The bundled frontend (comfyui-frontend-package 1.32.9) builds a custom-node template as
// {name, title: name, description: name} from the file name alone (workflowTemplates store,
// `enhancedTemplates`); it reads no index.json and applies no i18n keys to custom-node templates, and
// draws `tags` as badges on the card. So once the store has loaded, the pack's entries get their title,
// description and tags from GET /ainfluencer/v1/templates (the presets' own manifests).
const { app } = window.comfyAPI.app;
const { api } = window.comfyAPI.api;

// "/extensions/<pack folder>/template_cards.js": the folder name is the templates' module name
const MODULE = decodeURIComponent(new URL(import.meta.url).pathname.split("/").slice(-2)[0]);
const STORE_ID = "workflowTemplates";

let cardsById = null;

async function loadCards() {
  if (cardsById) return cardsById;
  const res = await api.fetchApi("/ainfluencer/v1/templates");
  if (!res.ok) throw new Error(`templates answered ${res.status}`);
  const { templates } = await res.json();
  cardsById = Object.fromEntries(templates.map((card) => [card.id, card]));
  return cardsById;
}

function badge(need) {
  const what = need.kind === "model" ? `Model: ${need.label}` : need.label;
  return need.optional ? `${what} (optional)` : what;
}

function decorate(template, card) {
  const tags = card.needs.length ? card.needs.map(badge) : ["Runs locally"];
  Object.assign(template, {
    title: card.title,
    description: card.summary,
    tags,
    searchableText: [card.title, card.summary, card.id, MODULE, ...tags].join(" "),
  });
}

export function decorateStore(store, cards) {
  let decorated = 0;
  for (const template of store.enhancedTemplates || []) {
    if (template.sourceModule === MODULE && cards[template.name]) {
      decorate(template, cards[template.name]);
      decorated += 1;
    }
  }
  for (const group of store.groupedTemplates || []) {
    for (const module of group.modules || []) {
      for (const template of module.templates || []) {
        const fromUs = module.moduleName === MODULE || template.sourceModule === MODULE;
        if (fromUs && cards[template.name]) decorate(template, cards[template.name]);
      }
    }
  }
  return decorated;
}

function wrapLoad(store) {
  if (store.ainfluencerCards) return;
  store.ainfluencerCards = true;
  const load = store.loadWorkflowTemplates;
  store.loadWorkflowTemplates = async (...args) => {
    const [result, cards] = await Promise.all([load(...args), loadCards().catch(() => null)]);
    if (cards) decorateStore(store, cards);
    return result;
  };
  if (store.isLoaded) loadCards().then((cards) => decorateStore(store, cards)).catch(() => {});
}

app.registerExtension({
  name: "AInfluencer.TemplateCards",
  init() {
    const pinia = document.querySelector("#vue-app")?.__vue_app__?.config?.globalProperties?.$pinia;
    if (!pinia) return; // another frontend: cards keep the file names
    pinia.use(({ store }) => {
      if (store.$id === STORE_ID) wrapLoad(store);
    });
    const existing = pinia._s?.get(STORE_ID);
    if (existing) wrapLoad(existing);
  },
});
