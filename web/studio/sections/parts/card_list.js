// A list of cards loaded from a route and loaded again after every change; each load first disposes what
// the previous cards own (polling timers, image previews).

/** { list, status, load, dispose }: `load()` fetches the items and renders one card each. */
export function cardList(ctx, { label, className, fetchItems, summary, renderCard }) {
  const { h } = ctx;
  let owned = [];
  const list = h("ul", { class: `ainf-cards ${className}`, "aria-label": label });
  const status = h("div", {});
  const dispose = () => {
    owned.forEach((thing) => thing.dispose());
    owned = [];
  };
  const load = async () => {
    try {
      const items = await fetchItems();
      dispose();
      status.replaceChildren(h("p", { class: "ainf-muted" }, summary(items)));
      list.replaceChildren(...items.map((item) => renderCard(item, (thing) => owned.push(thing))));
    } catch (err) {
      list.replaceChildren();
      status.replaceChildren(ctx.errorBox(err));
    }
  };
  return { list, status, load, dispose };
}
