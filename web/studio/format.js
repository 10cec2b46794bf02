// Numbers and times as a creator reads them.

/** 12.5 → "12.50 credits"; 1 → "1 credit". */
export function formatCredits(n) {
  const value = Number(n);
  if (!Number.isFinite(value)) return "— credits";
  const text = Number.isInteger(value) ? String(value) : value.toFixed(2);
  return `${text} ${value === 1 ? "credit" : "credits"}`;
}

/** An ISO time (or epoch seconds) → "just now", "5 min ago", "3 h ago", "2 d ago"; empty → "never". */
export function formatAge(isoTime, now = Date.now()) {
  if (isoTime === null || isoTime === undefined || isoTime === "") return "never";
  const then = typeof isoTime === "number" ? isoTime * 1000 : Date.parse(isoTime);
  if (!Number.isFinite(then)) return "unknown";
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 10) return "just now";
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** Seconds → "42 s", "3 min 5 s", "1 h 2 min". */
export function formatDuration(seconds) {
  const s = Math.round(Number(seconds));
  if (!Number.isFinite(s) || s < 0) return "—";
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
