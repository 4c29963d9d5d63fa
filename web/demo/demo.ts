/** The demo page: shows the widget's events and the in-browser model's state. */
import type { GmcnnEventMap } from "../widget/events.ts";

const editor = document.getElementById("editor") as HTMLElement;
const log = document.getElementById("log") as HTMLUListElement;
const model = document.getElementById("model") as HTMLElement;
const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

// Touch devices get touch instructions instead of keyboard shortcuts.
if (matchMedia("(pointer: coarse)").matches || navigator.maxTouchPoints > 0) {
  (document.getElementById("howto-keys") as HTMLElement).hidden = true;
  (document.getElementById("howto-touch") as HTMLElement).hidden = false;
}

function note(text: string): void {
  const li = document.createElement("li");
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  log.prepend(li);
  while (log.children.length > 40) log.lastElementChild?.remove();
}

const on = <K extends keyof GmcnnEventMap>(type: K, f: (e: GmcnnEventMap[K]) => void) =>
  editor.addEventListener(type, (e) => f(e as GmcnnEventMap[K]));

on("gmcnn:load", (e) => note(`load ${e.detail.width}×${e.detail.height} (${e.detail.source})`));
on("gmcnn:submit", (e) => note(`submit: mask as ${e.detail.mask}, ${e.detail.where}`));
on("gmcnn:result", (e) =>
  note(
    `result from ${e.detail.where}${e.detail.fallback ? " (fallback)" : ""}: ${(e.detail.blob.size / 1024).toFixed(0)} KiB, ${e.detail.durationMs} ms`,
  ),
);
on("gmcnn:error", (e) => note(`error: ${e.detail.error.message}`));
on("gmcnn:cancel", (e) => note(`canceled (${e.detail.where}${e.detail.phase ? `, while ${e.detail.phase}` : ""})`));
on("gmcnn:limit", (e) =>
  note(
    `over the limits (${e.detail.over.join(", ")}): ${e.detail.width}×${e.detail.height}, offered ${e.detail.fit.width}×${e.detail.fit.height}`,
  ),
);
on("gmcnn:estimate", (e) => note(`in-page estimate ${(e.detail.estimateMs / 1000).toFixed(1)} s (${e.detail.backend})`));
on("gmcnn:model", (e) => {
  const d = e.detail;
  if (d.state === "ready")
    model.textContent = `In-browser model: ready${d.backend ? ` (${d.backend})` : ""}${d.cached ? ", from the cache" : ""}.`;
  else if (d.state === "failed") model.textContent = "In-browser model: could not be loaded.";
  else if (d.total) model.textContent = `In-browser model: downloading ${mb(d.loaded)} / ${mb(d.total)}…`;
});
