// The sidecar's websocket events (ainfluencer.job …): through ComfyUI's api inside the editor, through an
// own /ws socket on the full page (ComfyUI broadcasts events sent without a client id to every socket).

/** An event source with on(type, fn) → unsubscribe, and close(). */
export function createEvents(embedded) {
  const comfyApi = embedded ? window.comfyAPI?.api?.api : null;
  if (comfyApi) {
    const owned = new Set();
    return {
      on(type, fn) {
        const listener = (event) => fn(event.detail);
        comfyApi.addEventListener(type, listener);
        const off = () => {
          comfyApi.removeEventListener(type, listener);
          owned.delete(off);
        };
        owned.add(off);
        return off;
      },
      close() {
        for (const off of [...owned]) off();
      },
    };
  }
  return socketEvents();
}

function socketEvents() {
  const listeners = new Map();
  let socket = null;
  let closed = false;
  let retry = 1000;

  function connect() {
    if (closed) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const clientId = `ainfluencer-studio-${Math.random().toString(36).slice(2, 10)}`;
    socket = new WebSocket(`${scheme}://${location.host}/ws?clientId=${clientId}`);
    socket.addEventListener("open", () => (retry = 1000));
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") return; // binary frames are image previews
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      for (const fn of listeners.get(message.type) || []) fn(message.data);
    });
    socket.addEventListener("close", () => {
      if (closed) return;
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    });
  }

  return {
    on(type, fn) {
      if (!socket) connect();
      if (!listeners.has(type)) listeners.set(type, new Set());
      listeners.get(type).add(fn);
      return () => listeners.get(type)?.delete(fn);
    },
    close() {
      closed = true;
      listeners.clear();
      if (socket) socket.close();
    },
  };
}
