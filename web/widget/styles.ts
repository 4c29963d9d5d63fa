/** The widget's shadow-DOM styles. Theme it with the custom properties on :host. */
export const STYLES = `
:host {
  --gmcnn-accent: #5b4bff;
  --gmcnn-accent-fg: #fff;
  --gmcnn-bg: #ffffff;
  --gmcnn-fg: #1d1d29;
  --gmcnn-muted: #6b6b80;
  --gmcnn-surface: #f3f3f8;
  --gmcnn-border: #dcdce6;
  --gmcnn-radius: 12px;
  --gmcnn-mask-color: rgba(255, 64, 96, 0.5);
  --gmcnn-font: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  --gmcnn-stage-height: min(70vh, 640px);
  display: block;
  color: var(--gmcnn-fg);
  font: 14px/1.4 var(--gmcnn-font);
  container-type: inline-size;
}
* { box-sizing: border-box; }
.root { background: var(--gmcnn-bg); border: 1px solid var(--gmcnn-border); border-radius: var(--gmcnn-radius); overflow: hidden; }
.toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; padding: 8px; border-bottom: 1px solid var(--gmcnn-border); background: var(--gmcnn-surface); }
.group { display: flex; gap: 4px; align-items: center; }
.spacer { flex: 1; }
button, .file {
  font: inherit; color: inherit; background: var(--gmcnn-bg); border: 1px solid var(--gmcnn-border);
  border-radius: calc(var(--gmcnn-radius) * 0.6); padding: 6px 10px; min-height: 36px; cursor: pointer;
  display: inline-flex; align-items: center; gap: 6px;
}
button:hover:not(:disabled), .file:hover { border-color: var(--gmcnn-accent); }
button:disabled { opacity: 0.45; cursor: default; }
button[aria-pressed="true"] { background: var(--gmcnn-accent); color: var(--gmcnn-accent-fg); border-color: var(--gmcnn-accent); }
button.primary { background: var(--gmcnn-accent); color: var(--gmcnn-accent-fg); border-color: var(--gmcnn-accent); font-weight: 600; padding: 6px 16px; }
:focus-visible { outline: 3px solid color-mix(in srgb, var(--gmcnn-accent) 60%, transparent); outline-offset: 2px; }
.file input { position: absolute; width: 1px; height: 1px; opacity: 0; pointer-events: none; }
.file:focus-within { outline: 3px solid color-mix(in srgb, var(--gmcnn-accent) 60%, transparent); }
.size { display: inline-flex; align-items: center; gap: 6px; color: var(--gmcnn-muted); }
.size input { width: 80px; accent-color: var(--gmcnn-accent); }
svg { width: 18px; height: 18px; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }
.stage { position: relative; display: grid; place-items: center; min-height: 240px; padding: 16px; background:
  repeating-conic-gradient(var(--gmcnn-surface) 0 25%, var(--gmcnn-bg) 0 50%) 0 0 / 24px 24px; outline: none; }
.stage.dragging { box-shadow: inset 0 0 0 3px var(--gmcnn-accent); }
.frame { position: relative; max-width: 100%; max-height: 100%; touch-action: none; }
.stage { overflow: auto; }
.zoomed .stage { place-items: safe center; }
.zoomed .frame { max-width: none; max-height: none; }
.zoomed .frame img.base { width: 100%; max-width: none; max-height: none; }
.stage-wrap { position: relative; }
.zoom { position: absolute; right: 8px; bottom: 8px; padding: 3px; border-radius: calc(var(--gmcnn-radius) * 0.7);
  background: color-mix(in srgb, var(--gmcnn-bg) 85%, transparent); box-shadow: 0 1px 4px rgba(0,0,0,.25); }
.zoom button { min-height: 32px; padding: 4px 8px; }
.zoom-level { min-width: 56px; justify-content: center; font-variant-numeric: tabular-nums; }
.frame img.base { display: block; max-width: 100%; max-height: var(--gmcnn-stage-height); user-select: none; -webkit-user-drag: none; }
canvas.paint { position: absolute; inset: 0; width: 100%; height: 100%; cursor: none; }
.compare { position: absolute; inset: 0; }
.compare img { position: absolute; inset: 0; width: 100%; height: 100%; clip-path: inset(0 0 0 var(--split, 50%)); }
.compare .handle { position: absolute; top: 0; bottom: 0; left: var(--split, 50%); width: 2px; background: #fff; box-shadow: 0 0 0 1px rgba(0,0,0,.3); pointer-events: none; }
.compare .handle::after { content: "⟷"; position: absolute; top: 50%; left: 50%; transform: translate(-50%, -50%); background: #fff; color: #222;
  border-radius: 50%; width: 32px; height: 32px; display: grid; place-items: center; box-shadow: 0 1px 4px rgba(0,0,0,.35); }
.compare input { position: absolute; inset: 0; width: 100%; height: 100%; opacity: 0; cursor: ew-resize; margin: 0; }
.compare .tag { position: absolute; top: 8px; padding: 2px 8px; border-radius: 99px; background: rgba(0,0,0,.55); color: #fff; font-size: 12px; pointer-events: none; }
.compare .tag.before { left: 8px; } .compare .tag.after { right: 8px; }
.empty { text-align: center; color: var(--gmcnn-muted); padding: 24px; }
.empty strong { display: block; color: var(--gmcnn-fg); font-size: 16px; margin-bottom: 4px; }
.busy { position: absolute; inset: 0; display: grid; place-items: center; background: rgba(255,255,255,.35); backdrop-filter: blur(1px); }
.spinner { width: 44px; height: 44px; border-radius: 50%; border: 4px solid rgba(0,0,0,.12); border-top-color: var(--gmcnn-accent); animation: spin 0.9s linear infinite; }
@keyframes spin { to { transform: rotate(360deg); } }
@media (prefers-reduced-motion: reduce) { .spinner { animation: none; } }
.footer { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; padding: 8px; border-top: 1px solid var(--gmcnn-border); min-height: 52px; }
.status { flex: 1; min-width: 12em; color: var(--gmcnn-muted); display: flex; align-items: center; gap: 8px; }
.status.error { color: #b00020; }
progress { width: 140px; height: 8px; accent-color: var(--gmcnn-accent); }
.download { text-decoration: none; }
.offer { display: inline-flex; flex-wrap: wrap; gap: 6px; }
[hidden] { display: none !important; }
.label { }
@container (max-width: 900px) {
  .history .label { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
}
@container (max-width: 560px) {
  .label { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  .size input { width: 72px; }
  .spacer { display: none; }
  button.primary { flex: 1; justify-content: center; }
}
`;
