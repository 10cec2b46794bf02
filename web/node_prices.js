// AInfluencer frontend extension: a remote node shows, above its title, the credits a run would hold for
// it with its current widget values, and updates when a widget changes. The price comes from the
// sidecar (POST /ainfluencer/v1/nodes/price), which prices it with the same code that reserves a run.
const { app } = window.comfyAPI.app;
const { api } = window.comfyAPI.api;

const REMOTE_CATEGORIES = ["AInfluencer/remote", "AInfluencer/providers"];
const DEBOUNCE_MS = 250;

function isRemote(node) {
  const category = node?.constructor?.nodeData?.category || "";
  return REMOTE_CATEGORIES.some((prefix) => category === prefix || category.startsWith(`${prefix}/`));
}

function widgetInputs(node) {
  const inputs = {};
  for (const widget of node.widgets || []) {
    const value = widget.value;
    if (["string", "number", "boolean"].includes(typeof value)) inputs[widget.name] = value;
  }
  return inputs;
}

// A badge LiteGraph draws above the node (node.badges takes objects with getWidth and draw).
class PriceBadge {
  constructor() {
    this.text = "";
    this.height = 20;
    this.padding = 6;
    this.fontSize = 12;
    this.bgColor = "#1f5f3a";
    this.fgColor = "#ffffff";
  }

  get visible() {
    return this.text.length > 0;
  }

  getWidth(ctx) {
    if (!this.visible) return 0;
    const font = ctx.font;
    ctx.font = `${this.fontSize}px sans-serif`;
    const width = ctx.measureText(this.text).width + this.padding * 2;
    ctx.font = font;
    return width;
  }

  draw(ctx, x, y) {
    if (!this.visible) return;
    const { font, fillStyle, textBaseline, textAlign } = ctx;
    const width = this.getWidth(ctx);
    ctx.fillStyle = this.bgColor;
    ctx.beginPath();
    if (ctx.roundRect) ctx.roundRect(x, y, width, this.height, 5);
    else ctx.rect(x, y, width, this.height);
    ctx.fill();
    ctx.font = `${this.fontSize}px sans-serif`;
    ctx.fillStyle = this.fgColor;
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    ctx.fillText(this.text, x + this.padding, y + this.height / 2);
    Object.assign(ctx, { font, fillStyle, textBaseline, textAlign });
  }
}

function priceText(price) {
  const credits = Number(price.credits).toLocaleString(undefined, { maximumFractionDigits: 3 });
  const where = price.engine_connected ? price.engine_name : `${price.engine_name}, not connected`;
  return `≈ ${credits} credits · ${where}`;
}

async function refreshPrice(node) {
  const body = { node_type: node.type, inputs: widgetInputs(node) };
  let text;
  try {
    const res = await api.fetchApi("/ainfluencer/v1/nodes/price", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await res.json();
    node.ainfluencerPrice = res.ok ? answer : { error: answer.error, message: answer.message };
    text = res.ok ? priceText(answer) : `price: ${answer.message || answer.error}`;
  } catch (err) {
    node.ainfluencerPrice = { error: "UNAVAILABLE", message: String(err) };
    text = "price unavailable";
  }
  node.ainfluencerPriceBadge.text = text;
  node.setDirtyCanvas?.(true, true);
}

function schedulePrice(node) {
  clearTimeout(node.ainfluencerPriceTimer);
  node.ainfluencerPriceTimer = setTimeout(() => refreshPrice(node), DEBOUNCE_MS);
}

function watchWidgets(node) {
  for (const widget of node.widgets || []) {
    const original = widget.callback;
    widget.callback = function (...args) {
      const result = original?.apply(this, args);
      schedulePrice(node);
      return result;
    };
  }
}

app.registerExtension({
  name: "AInfluencer.NodePrices",
  nodeCreated(node) {
    if (!isRemote(node)) return;
    node.ainfluencerPriceBadge = new PriceBadge();
    node.badges = [...(node.badges || []), () => node.ainfluencerPriceBadge];
    watchWidgets(node);
    schedulePrice(node); // after the graph's saved widget values are applied
  },
  loadedGraphNode(node) {
    if (node.ainfluencerPriceBadge) schedulePrice(node);
  },
});
