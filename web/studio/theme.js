// Light or dark, following ComfyUI: inside the editor the active colour palette (its CSS variables on
// <html>), on the full page the system's preference. The Studio's own colours key off data-theme.

function luminance(color) {
  const m = String(color).match(/rgba?\(\s*(\d+)[ ,]+(\d+)[ ,]+(\d+)/);
  if (!m) return null;
  const [r, g, b] = m.slice(1, 4).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function editorIsLight() {
  const probe = document.createElement("span");
  probe.style.color = "var(--comfy-menu-bg, rgb(53, 53, 53))";
  document.body.append(probe);
  const value = getComputedStyle(probe).color;
  probe.remove();
  const lum = luminance(value);
  return lum !== null && lum > 0.4;
}

/** Keep root's data-theme in step with ComfyUI's palette (embedded) or prefers-color-scheme; returns a stop function. */
export function applyTheme(root, embedded) {
  if (embedded) {
    const update = () => root.setAttribute("data-theme", editorIsLight() ? "light" : "dark");
    update();
    const observer = new MutationObserver(update);
    observer.observe(document.documentElement, { attributes: true, attributeFilter: ["style", "class"] });
    observer.observe(document.body, { attributes: true, attributeFilter: ["class"] });
    return () => observer.disconnect();
  }
  const query = window.matchMedia("(prefers-color-scheme: light)");
  const update = () => {
    const theme = query.matches ? "light" : "dark";
    root.setAttribute("data-theme", theme);
    document.documentElement.setAttribute("data-theme", theme);
  };
  update();
  query.addEventListener("change", update);
  return () => query.removeEventListener("change", update);
}
