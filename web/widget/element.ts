/**
 * `<gmcnn-inpaint>`: load a picture, paint over what should go (brush, eraser, boxes; undo, redo;
 * keyboard shortcuts), send it through the SDK with a short-lived browser token, show the result
 * with a before/after slider, download it or keep editing from it. It can also run the model in
 * the page (onnxruntime-web): for small images when `local-inference="prefer"`, or when the API
 * cannot be reached with `local-inference="fallback"`. Attributes:
 *   api              the API's origin (default: this page's)
 *   token            a browser token (POST /v1/tokens), or
 *   token-url        a URL your server answers with {"token": ...} (POSTed to; refreshed before expiry)
 *   src              an image to load at start
 *   local-inference  off (default) | fallback | prefer
 *   local-max-pixels largest image run in the page with "prefer" (default 262144 = 512x512)
 *   preload-model    fetch the in-page model ahead of need (it is cached after the first time)
 *   assets, model-url  where the runtime and the model are (default: beside this script)
 */
import { Gmcnn } from "../../sdk/client.ts";
import { GmcnnError } from "../../sdk/errors.ts";
import { jpegOrientation, swapsAxes } from "../../shared/imaging/exif.ts";
import type { Mask } from "../../shared/imaging/types.ts";
import { type Edit, EditHistory, type MaskPayload, type Tool } from "./edits.ts";
import type { GmcnnEventDetail, GmcnnEventMap } from "./events.ts";
import type { LocalModel, LocalProgress } from "./local.ts";
import { STYLES } from "./styles.ts";

declare const __GMCNN_MODEL_FILE__: string;
declare const __GMCNN_MODEL_BYTES__: number;
/** Where the build put the runtime and the model: beside this script. */
const ASSETS_BASE = new URL(".", import.meta.url).href;

const ICONS = {
  brush:
    '<path d="M9.06 11.9 17.5 3.5a2.1 2.1 0 0 1 3 3l-8.4 8.44"/><path d="M7 14a3 3 0 0 0-3 3c0 1.3-1 2-2 2.5 1 1 2.5 1.5 4 1.5a4 4 0 0 0 4-4 3 3 0 0 0-3-3z"/>',
  eraser:
    '<path d="m7 21-4.3-4.3a1 1 0 0 1 0-1.4l10-10a1 1 0 0 1 1.4 0l5.6 5.6a1 1 0 0 1 0 1.4L11 21"/><path d="M22 21H7"/><path d="m5 11 9 9"/>',
  rect: '<rect x="3" y="5" width="18" height="14" rx="2" stroke-dasharray="4 3"/>',
  undo: '<path d="M9 14 4 9l5-5"/><path d="M4 9h10.5a5.5 5.5 0 0 1 0 11H11"/>',
  redo: '<path d="m15 14 5-5-5-5"/><path d="M20 9H9.5a5.5 5.5 0 0 0 0 11H13"/>',
  clear: '<path d="M3 6h18"/><path d="M8 6V4h8v2"/><path d="M19 6l-1 14H6L5 6"/>',
  open: '<path d="M4 20h16"/><path d="M12 4v12"/><path d="m7 9 5-5 5 5"/>',
  magic:
    '<path d="m21.64 3.64-1.28-1.28a1.2 1.2 0 0 0-1.72 0L2.36 18.64a1.2 1.2 0 0 0 0 1.72l1.28 1.28a1.2 1.2 0 0 0 1.72 0L21.64 5.36a1.2 1.2 0 0 0 0-1.72"/><path d="m14 7 3 3"/><path d="M5 6v4"/><path d="M19 14v4"/><path d="M10 2v2"/><path d="M7 8H3"/><path d="M21 16h-4"/><path d="M11 3H9"/>',
};
const icon = (name: keyof typeof ICONS) => `<svg viewBox="0 0 24 24" aria-hidden="true">${ICONS[name]}</svg>`;

const TEMPLATE = `
<style>${STYLES}</style>
<div class="root" part="root">
  <div class="toolbar" role="toolbar" aria-label="Mask tools">
    <div class="group" role="group" aria-label="Tool">
      <button type="button" data-tool="brush" aria-pressed="true" title="Brush (B)" aria-keyshortcuts="B">${icon("brush")}<span class="label">Brush</span></button>
      <button type="button" data-tool="eraser" aria-pressed="false" title="Eraser (E)" aria-keyshortcuts="E">${icon("eraser")}<span class="label">Eraser</span></button>
      <button type="button" data-tool="rect" aria-pressed="false" title="Box (R)" aria-keyshortcuts="R">${icon("rect")}<span class="label">Box</span></button>
    </div>
    <label class="size" title="Brush size ([ and ])"><span class="label">Size</span>
      <input type="range" name="size" min="4" max="160" step="2" value="36" aria-label="Brush size" aria-keyshortcuts="[ ]" />
    </label>
    <div class="group history">
      <button type="button" data-action="undo" title="Undo (Ctrl+Z)" aria-keyshortcuts="Control+Z" disabled>${icon("undo")}<span class="label">Undo</span></button>
      <button type="button" data-action="redo" title="Redo (Ctrl+Shift+Z)" aria-keyshortcuts="Control+Shift+Z" disabled>${icon("redo")}<span class="label">Redo</span></button>
      <button type="button" data-action="clear" title="Clear the mask" disabled>${icon("clear")}<span class="label">Clear</span></button>
    </div>
    <span class="spacer"></span>
    <label class="file" title="Open an image (O)">${icon("open")}<span class="label">Open</span>
      <input type="file" accept="image/png,image/jpeg,image/webp" aria-label="Open an image" />
    </label>
    <button type="button" class="primary" data-action="submit" title="Remove the marked area (Enter)" aria-keyshortcuts="Enter" disabled>${icon("magic")}Remove</button>
  </div>
  <div class="stage" part="stage">
    <div class="empty"><strong>Drop a photo here</strong>or use Open. Then paint over what should disappear.</div>
    <div class="frame" hidden>
      <img class="base" alt="" draggable="false" />
      <canvas class="paint" tabindex="0" role="img" aria-label="Image: paint over what to remove with the pointer; B brush, E eraser, R box, [ and ] size"></canvas>
      <div class="compare" hidden>
        <img class="after" alt="Result" draggable="false" />
        <span class="tag before">Before</span><span class="tag after">After</span>
        <div class="handle"></div>
        <input type="range" min="0" max="100" value="50" aria-label="Before and after: move to compare" />
      </div>
    </div>
    <div class="busy" hidden><div class="spinner" role="presentation"></div></div>
  </div>
  <div class="footer" part="footer">
    <div class="status" role="status" aria-live="polite"><progress hidden max="1"></progress><span class="msg">Open an image to start.</span></div>
    <a class="download" hidden download="inpainted.png"><button type="button" tabindex="-1">Download</button></a>
    <button type="button" data-action="continue" hidden title="Use the result as the new image">Keep editing</button>
    <button type="button" data-action="back" hidden title="Back to the mask (Escape)">Back</button>
  </div>
</div>`;

type Mode = "off" | "fallback" | "prefer";

export class GmcnnInpaintElement extends HTMLElement {
  static observedAttributes = ["src", "api", "token", "local-inference", "preload-model"];

  private readonly shadow: ShadowRoot;
  private readonly history = new EditHistory();
  private tool: Tool = "brush";
  /** width x height as shown (EXIF-oriented); storedWidth x storedHeight: the file's pixel grid. */
  private image?: {
    blob: Blob;
    url: string;
    width: number;
    height: number;
    orientation: number;
    storedWidth: number;
    storedHeight: number;
  };
  private result?: { blob: Blob; url: string };
  private drawing?: Edit;
  private pointer?: { x: number; y: number };
  private busy = false;
  private sdk?: Gmcnn;
  private local?: LocalModel;
  private token?: { value: string; until: number };
  private readonly layer = document.createElement("canvas");
  private srcLoaded?: string;

  constructor() {
    super();
    this.shadow = this.attachShadow({ mode: "open" });
    this.shadow.innerHTML = TEMPLATE;
    this.wire();
  }

  // ---- public API ---------------------------------------------------------------------------

  /** The marked edits, in order (brush/eraser strokes and boxes, image pixels). */
  get edits(): readonly Edit[] {
    return this.history.edits;
  }
  /** How the mask would travel now: shapes, or a PNG once the eraser was used. */
  get maskPayload(): MaskPayload | undefined {
    const i = this.image;
    return i && this.history.payload(i.storedWidth, i.storedHeight, i.orientation);
  }
  get resultBlob(): Blob | undefined {
    return this.result?.blob;
  }
  get mode(): Mode {
    const m = this.getAttribute("local-inference");
    return m === "fallback" || m === "prefer" ? m : "off";
  }

  /** Loads a File/Blob or a URL. */
  async load(source: Blob | string, how: GmcnnEventDetail["gmcnn:load"]["source"] = typeof source === "string" ? "url" : "file") {
    const blob = typeof source === "string" ? await (await fetch(source)).blob() : source;
    const url = URL.createObjectURL(blob);
    const img = this.$("img.base") as HTMLImageElement;
    await new Promise<void>((resolve, reject) => {
      img.onload = () => resolve();
      img.onerror = () => reject(new Error("this file is not an image the browser can show"));
      img.src = url;
    }).catch((e) => {
      URL.revokeObjectURL(url);
      this.fail(e);
      throw e;
    });
    if (this.image) URL.revokeObjectURL(this.image.url);
    const orientation = jpegOrientation(new Uint8Array(await blob.slice(0, 262144).arrayBuffer()));
    const [width, height] = [img.naturalWidth, img.naturalHeight];
    const [storedWidth, storedHeight] = swapsAxes(orientation) ? [height, width] : [width, height];
    this.image = { blob, url, width, height, orientation, storedWidth, storedHeight };
    this.history.clear();
    this.showResult(undefined);
    (this.$(".frame") as HTMLElement).hidden = false;
    (this.$(".empty") as HTMLElement).hidden = true;
    this.resize();
    this.changed();
    this.say(`${this.image.width} × ${this.image.height} px. Paint over what to remove, then press Remove.`);
    this.emit("gmcnn:load", { width: this.image.width, height: this.image.height, source: how });
  }

  /** Adds edits as if drawn (image pixels): masks from your own code, e.g. a detector's boxes. */
  addEdits(...edits: Edit[]): void {
    if (!this.image || this.busy || this.result) return;
    for (const e of edits) this.history.push(structuredClone(e));
    this.changed();
  }

  undo(): void {
    if (this.busy || this.result) return;
    if (this.history.undo()) this.changed();
  }
  redo(): void {
    if (this.busy || this.result) return;
    if (this.history.redo()) this.changed();
  }
  clear(): void {
    if (this.busy || this.result) return;
    this.history.clear();
    this.changed();
  }
  setTool(t: Tool): void {
    this.tool = t;
    for (const b of Array.from(this.shadow.querySelectorAll<HTMLButtonElement>("[data-tool]")))
      b.setAttribute("aria-pressed", String(b.dataset.tool === t));
    this.render();
  }

  /** Inpaints the marked area: the API, or the page's own model (see `local-inference`). */
  async submit(): Promise<void> {
    if (!this.image || this.busy || this.result || this.history.isEmpty) return;
    const image = this.image;
    // The API takes masks on the stored grid (EXIF orientation undone); the page's model works on
    // the picture as shown (createImageBitmap orients it), like the API's upright result.
    const forApi = this.history.payload(image.storedWidth, image.storedHeight, image.orientation);
    const asShown = this.history.payload(image.width, image.height);
    const maxLocal = Number(this.getAttribute("local-max-pixels")) || 512 * 512;
    const inPage = this.mode === "prefer" && image.width * image.height <= maxLocal;
    this.setBusy(true);
    const t = performance.now();
    try {
      let out: { blob: Blob; where: "api" | "browser"; fallback: boolean; requestId: string | null };
      try {
        out = inPage ? await this.inPage(image.blob, asShown, false) : await this.viaApi(image.blob, forApi);
      } catch (e) {
        if (inPage || this.mode === "off" || !unreachable(e)) throw e;
        this.say("The service can't be reached: running the model in your browser instead…");
        out = await this.inPage(image.blob, asShown, true);
      }
      const durationMs = Math.round(performance.now() - t);
      this.showResult(out.blob);
      this.say(
        `Done in ${(durationMs / 1000).toFixed(1)} s${out.where === "browser" ? " in your browser" : ""}. Drag the slider to compare.`,
      );
      this.emit("gmcnn:result", { ...out, durationMs });
    } catch (e) {
      this.fail(e as Error);
    } finally {
      this.setBusy(false);
    }
  }

  /** Downloads (or reads from the cache) the in-page model; resolves with its backend. */
  async prepareLocalModel(): Promise<string> {
    const model = await this.localModel();
    this.emit("gmcnn:model", { state: "downloading", loaded: 0, total: 0 });
    try {
      const { backend } = await model.prepare();
      this.emit("gmcnn:model", { state: "ready", loaded: 0, total: 0, backend });
      return backend;
    } catch (e) {
      this.emit("gmcnn:model", { state: "failed", loaded: 0, total: 0 });
      throw e;
    }
  }

  // ---- typed events ---------------------------------------------------------------------------

  override addEventListener<K extends keyof GmcnnEventMap>(
    type: K,
    listener: (this: GmcnnInpaintElement, ev: GmcnnEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject,
    options?: boolean | AddEventListenerOptions,
  ) {
    super.addEventListener(type, listener, options);
  }

  private emit<K extends keyof GmcnnEventDetail>(type: K, detail: GmcnnEventDetail[K]): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  connectedCallback(): void {
    this.loadSrc();
    if (this.hasAttribute("preload-model") && this.mode !== "off") this.preload();
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    if (old === value) return;
    if (name === "src" && this.isConnected) this.loadSrc();
    if (name === "api" || name === "token") this.sdk = undefined;
  }

  /** Loads the `src` attribute once per value (an upgrade reports it as a change, then connects). */
  private loadSrc(): void {
    const src = this.getAttribute("src");
    if (!src || src === this.srcLoaded) return;
    this.srcLoaded = src;
    this.load(src, "url").catch(() => undefined);
  }

  private preload(): void {
    const run = () =>
      this.prepareLocalModel()
        .then((backend) => this.say(`In-browser model ready (${backend}).`, true))
        .catch((e) => this.say(`The in-browser model could not be loaded: ${(e as Error).message}`, true));
    if ("requestIdleCallback" in window) requestIdleCallback(run, { timeout: 2000 });
    else setTimeout(run, 500);
  }

  // ---- API and in-page model ------------------------------------------------------------------

  private client(): Gmcnn {
    if (this.sdk) return this.sdk;
    const api = this.getAttribute("api") ?? location.origin;
    const fixed = this.getAttribute("token");
    this.sdk = new Gmcnn({
      baseUrl: new URL(api, location.href).origin,
      token: fixed ?? (() => this.freshToken()),
      // One quick retry, then the fallback (if enabled) rather than a long wait.
      retry: { retries: 1, baseDelayMs: 400, maxDelayMs: 5000 },
    });
    return this.sdk;
  }

  /** A browser token from `token-url`, reused until a minute before it expires. */
  private async freshToken(): Promise<string> {
    if (this.token && Date.now() < this.token.until) return this.token.value;
    const url = this.getAttribute("token-url");
    if (!url) throw new GmcnnError({ type: "about:blank", title: "No token", status: 401, detail: "set token or token-url" });
    const res = await fetch(url, { method: "POST", credentials: "same-origin" });
    if (!res.ok)
      throw new GmcnnError({
        type: "about:blank",
        title: "Token refused",
        status: res.status,
        detail: `${url} answered ${res.status}`,
      });
    const body = (await res.json()) as { token: string; expires_at?: string };
    const expires = body.expires_at ? Date.parse(body.expires_at) : Date.now() + 5 * 60_000;
    this.token = { value: body.token, until: expires - 60_000 };
    return body.token;
  }

  private async viaApi(image: Blob, payload: MaskPayload) {
    this.emit("gmcnn:submit", { mask: payload.kind === "shapes" ? "shapes" : "png", where: "api" });
    this.progress("sending");
    this.say("Removing…");
    const mask = payload.kind === "shapes" ? { shapes: payload.shapes } : await maskPng(payload.mask);
    const r = await this.client().inpaint({ image, mask });
    return { blob: r.blob, where: "api" as const, fallback: false, requestId: r.requestId };
  }

  private async localModel(): Promise<LocalModel> {
    if (this.local) return this.local;
    const { LocalModel } = await import("./local.ts");
    const assets = this.getAttribute("assets") ?? ASSETS_BASE;
    const modelUrl = this.getAttribute("model-url") ?? new URL(__GMCNN_MODEL_FILE__, new URL(assets, location.href)).href;
    this.local = new LocalModel({
      assets: new URL(assets, location.href).href,
      modelUrl,
      onProgress: (p) => this.modelProgress(p),
    });
    return this.local;
  }

  private modelProgress(p: LocalProgress): void {
    const phase = p.file === "model" ? "model-download" : "runtime-download";
    this.emit("gmcnn:progress", { phase, loaded: p.loaded, total: p.total });
    if (p.file !== "model" || p.done) return; // "ready" comes from prepareLocalModel, with the backend
    this.emit("gmcnn:model", { state: "downloading", loaded: p.loaded, total: p.total, cached: p.cached });
    const mb = (n: number) => (n / 1048576).toFixed(1);
    this.say(`Downloading the in-browser model: ${mb(p.loaded)}${p.total ? ` / ${mb(p.total)}` : ""} MB`, true);
    this.bar(p.total ? p.loaded / p.total : undefined);
  }

  private async inPage(image: Blob, payload: MaskPayload, fallback: boolean) {
    this.emit("gmcnn:submit", { mask: payload.kind === "shapes" ? "shapes" : "png", where: "browser" });
    const model = await this.localModel();
    this.progress("inpainting");
    this.say(fallback ? "Running the model in your browser…" : "Removing in your browser…");
    const r = await model.inpaint(image, payload);
    return { blob: r.blob, where: "browser" as const, fallback, requestId: null };
  }

  // ---- view -----------------------------------------------------------------------------------

  private $(sel: string): Element {
    return this.shadow.querySelector(sel) as Element;
  }

  private say(msg: string, quiet = false): void {
    if (quiet && this.busy) return;
    const status = this.$(".status") as HTMLElement;
    status.classList.remove("error");
    (this.$(".msg") as HTMLElement).textContent = msg;
    if (!this.busy) this.bar(undefined);
  }

  private bar(value: number | undefined): void {
    const p = this.$("progress") as HTMLProgressElement;
    p.hidden = value === undefined && !this.busy;
    if (value === undefined) p.removeAttribute("value");
    else p.value = value;
  }

  private progress(phase: GmcnnEventDetail["gmcnn:progress"]["phase"]): void {
    this.emit("gmcnn:progress", { phase });
    this.bar(undefined);
  }

  private fail(e: Error): void {
    const status = this.$(".status") as HTMLElement;
    status.classList.add("error");
    const detail = e instanceof GmcnnError ? (e.detail ?? e.title) : e.message;
    (this.$(".msg") as HTMLElement).textContent = `Sorry: ${detail}`;
    this.emit("gmcnn:error", { error: e });
  }

  private setBusy(on: boolean): void {
    this.busy = on;
    (this.$(".busy") as HTMLElement).hidden = !on;
    (this.$("progress") as HTMLElement).hidden = !on;
    this.setAttribute("aria-busy", String(on));
    this.syncButtons();
  }

  private showResult(blob: Blob | undefined): void {
    if (this.result) URL.revokeObjectURL(this.result.url);
    this.result = blob && { blob, url: URL.createObjectURL(blob) };
    const compare = this.$(".compare") as HTMLElement;
    compare.hidden = !this.result;
    (this.$("canvas.paint") as HTMLElement).hidden = !!this.result;
    const a = this.$("a.download") as HTMLAnchorElement;
    a.hidden = !this.result;
    for (const s of ["continue", "back"]) (this.$(`[data-action="${s}"]`) as HTMLElement).hidden = !this.result;
    if (this.result) {
      (this.$("img.after") as HTMLImageElement).src = this.result.url;
      a.href = this.result.url;
      const slider = this.$(".compare input") as HTMLInputElement;
      slider.value = "50";
      compare.style.setProperty("--split", "50%");
      slider.focus();
    }
    this.syncButtons();
  }

  private changed(): void {
    this.render();
    this.syncButtons();
    this.emit("gmcnn:change", { edits: this.history.edits.length, canUndo: this.history.canUndo, canRedo: this.history.canRedo });
  }

  private syncButtons(): void {
    const editing = !!this.image && !this.busy && !this.result;
    const set = (sel: string, enabled: boolean) => ((this.$(sel) as HTMLButtonElement).disabled = !enabled);
    set('[data-action="undo"]', editing && this.history.canUndo);
    set('[data-action="redo"]', editing && this.history.canRedo);
    set('[data-action="clear"]', editing && this.history.canUndo);
    set('[data-action="submit"]', editing && !this.history.isEmpty);
    for (const b of Array.from(this.shadow.querySelectorAll<HTMLButtonElement>("[data-tool]"))) b.disabled = !editing;
    // A focused button that was just disabled would drop focus to the page, and the shortcuts with it.
    const active = this.shadow.activeElement as HTMLButtonElement | null;
    if (active?.disabled) (this.$(this.result ? ".compare input" : "canvas.paint") as HTMLElement).focus();
  }

  /** Sizes the paint canvas to the displayed image (device pixels) and redraws. */
  private resize(): void {
    const c = this.$("canvas.paint") as HTMLCanvasElement;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.max(1, Math.round(c.clientWidth * dpr));
    c.height = Math.max(1, Math.round(c.clientHeight * dpr));
    this.render();
  }

  private render(): void {
    const c = this.$("canvas.paint") as HTMLCanvasElement;
    const ctx = c.getContext("2d");
    if (!ctx || !this.image) return;
    ctx.clearRect(0, 0, c.width, c.height);
    const sx = c.width / this.image.width;
    const sy = c.height / this.image.height;
    // Strokes go on a layer in one solid colour, then the layer is tinted: overlaps stay even.
    const layer = this.layer;
    layer.width = c.width;
    layer.height = c.height;
    const l = layer.getContext("2d") as CanvasRenderingContext2D;
    l.setTransform(sx, 0, 0, sy, 0, 0);
    l.lineCap = "round";
    l.lineJoin = "round";
    for (const e of [...this.history.edits, ...(this.drawing ? [this.drawing] : [])]) {
      l.globalCompositeOperation = e.tool === "eraser" ? "destination-out" : "source-over";
      l.fillStyle = l.strokeStyle = "#000";
      if (e.tool === "rect") {
        l.fillRect(e.x, e.y, e.width, e.height);
        continue;
      }
      l.lineWidth = e.width;
      l.beginPath();
      l.moveTo(e.points[0][0], e.points[0][1]);
      for (const [x, y] of e.points) l.lineTo(x, y);
      if (e.points.length === 1) l.lineTo(e.points[0][0] + 0.01, e.points[0][1]);
      l.stroke();
    }
    l.setTransform(1, 0, 0, 1, 0, 0);
    l.globalCompositeOperation = "source-in";
    l.fillStyle = getComputedStyle(this).getPropertyValue("--gmcnn-mask-color").trim() || "rgba(255,64,96,.5)";
    l.fillRect(0, 0, layer.width, layer.height);
    ctx.drawImage(layer, 0, 0);
    if (this.pointer && this.tool !== "rect" && !this.drawing?.tool.startsWith("rect")) {
      const r = (this.brushWidth() / 2) * sx;
      ctx.beginPath();
      ctx.arc(this.pointer.x * sx, this.pointer.y * sy, Math.max(1, r), 0, Math.PI * 2);
      ctx.lineWidth = 1.5 * (window.devicePixelRatio || 1);
      ctx.strokeStyle = "#fff";
      ctx.stroke();
      ctx.setLineDash([4, 4]);
      ctx.strokeStyle = "#000";
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  /** The brush size control is in screen pixels; strokes are stored in image pixels. */
  private brushWidth(): number {
    const c = this.$("canvas.paint") as HTMLCanvasElement;
    const size = Number((this.$('input[name="size"]') as HTMLInputElement).value);
    return this.image ? (size * this.image.width) / Math.max(1, c.clientWidth) : size;
  }

  private toImage(ev: PointerEvent): [number, number] {
    const c = this.$("canvas.paint") as HTMLCanvasElement;
    const r = c.getBoundingClientRect();
    const img = this.image as { width: number; height: number };
    const x = ((ev.clientX - r.left) / r.width) * img.width;
    const y = ((ev.clientY - r.top) / r.height) * img.height;
    return [Math.max(0, Math.min(img.width, x)), Math.max(0, Math.min(img.height, y))];
  }

  // ---- input ----------------------------------------------------------------------------------

  private wire(): void {
    const s = this.shadow;
    for (const b of Array.from(s.querySelectorAll<HTMLButtonElement>("[data-tool]")))
      b.addEventListener("click", () => this.setTool(b.dataset.tool as Tool));
    const actions: Record<string, () => void> = {
      undo: () => this.undo(),
      redo: () => this.redo(),
      clear: () => this.clear(),
      submit: () => void this.submit(),
      continue: () => void this.continueFromResult(),
      back: () => this.showResult(undefined),
    };
    for (const b of Array.from(s.querySelectorAll<HTMLButtonElement>("[data-action]")))
      b.addEventListener("click", () => actions[b.dataset.action as string]());
    const file = s.querySelector('input[type="file"]') as HTMLInputElement;
    file.addEventListener("change", () => {
      if (file.files?.[0]) this.load(file.files[0], "file").catch(() => undefined);
      file.value = "";
    });
    (s.querySelector('input[name="size"]') as HTMLInputElement).addEventListener("input", () => this.render());
    const slider = s.querySelector(".compare input") as HTMLInputElement;
    slider.addEventListener("input", () =>
      (s.querySelector(".compare") as HTMLElement).style.setProperty("--split", `${slider.value}%`),
    );

    const stage = s.querySelector(".stage") as HTMLElement;
    stage.addEventListener("dragover", (e) => {
      e.preventDefault();
      stage.classList.add("dragging");
    });
    stage.addEventListener("dragleave", () => stage.classList.remove("dragging"));
    stage.addEventListener("drop", (e) => {
      e.preventDefault();
      stage.classList.remove("dragging");
      const f = e.dataTransfer?.files?.[0];
      const url = e.dataTransfer?.getData("text/uri-list");
      if (f) this.load(f, "file").catch(() => undefined);
      else if (url) this.load(url.split("\n")[0].trim(), "url").catch(() => undefined);
    });

    const canvas = s.querySelector("canvas.paint") as HTMLCanvasElement;
    canvas.addEventListener("pointerdown", (ev) => {
      if (!this.image || this.busy || this.result || ev.button !== 0) return;
      canvas.setPointerCapture(ev.pointerId);
      const p = this.toImage(ev);
      this.drawing =
        this.tool === "rect"
          ? { tool: "rect", x: p[0], y: p[1], width: 0, height: 0 }
          : { tool: this.tool, width: this.brushWidth(), points: [p] };
      (this.drawing as Edit & { origin?: [number, number] }).origin = p;
      this.render();
    });
    canvas.addEventListener("pointermove", (ev) => {
      if (!this.image) return;
      const p = this.toImage(ev);
      this.pointer = { x: p[0], y: p[1] };
      const d = this.drawing;
      if (d?.tool === "rect") {
        const [ox, oy] = (d as Edit & { origin: [number, number] }).origin;
        Object.assign(d, {
          x: Math.min(ox, p[0]),
          y: Math.min(oy, p[1]),
          width: Math.abs(p[0] - ox),
          height: Math.abs(p[1] - oy),
        });
      } else if (d) d.points.push(p);
      this.render();
    });
    const finish = () => {
      const d = this.drawing;
      this.drawing = undefined;
      if (!d) return;
      delete (d as Edit & { origin?: unknown }).origin;
      if (d.tool !== "rect" || (d.width >= 1 && d.height >= 1)) this.history.push(d);
      this.changed();
    };
    canvas.addEventListener("pointerup", finish);
    canvas.addEventListener("pointercancel", finish);
    canvas.addEventListener("pointerleave", () => {
      this.pointer = undefined;
      this.render();
    });
    new ResizeObserver(() => this.resize()).observe(canvas);

    this.addEventListener("keydown", (ev) => this.onKey(ev as KeyboardEvent));
  }

  private onKey(ev: KeyboardEvent): void {
    const target = ev.composedPath()[0] as HTMLElement;
    if (target instanceof HTMLInputElement && target.type !== "range" && target.type !== "file") return;
    const mod = ev.ctrlKey || ev.metaKey;
    const key = ev.key.toLowerCase();
    const shortcuts: Record<string, () => void> = mod
      ? { z: () => (ev.shiftKey ? this.redo() : this.undo()), y: () => this.redo() }
      : {
          b: () => this.setTool("brush"),
          e: () => this.setTool("eraser"),
          r: () => this.setTool("rect"),
          "[": () => this.resizeBrush(-1),
          "]": () => this.resizeBrush(1),
          o: () => (this.$('input[type="file"]') as HTMLInputElement).click(),
          ...(target instanceof HTMLButtonElement ? {} : { enter: () => void this.submit() }),
          ...(this.result ? { escape: () => this.showResult(undefined) } : {}),
        };
    const handled = shortcuts[key] !== undefined;
    shortcuts[key]?.();
    if (handled) ev.preventDefault();
  }

  private resizeBrush(direction: 1 | -1): void {
    const size = this.$('input[name="size"]') as HTMLInputElement;
    size.value = String(Number(size.value) + direction * Number(size.step) * 2);
    this.render();
  }

  private async continueFromResult(): Promise<void> {
    if (!this.result) return;
    await this.load(this.result.blob, "result");
  }
}

/** The API cannot be reached: no answer at all, or its GPU side is down or overloaded. */
export const unreachable = (e: unknown): boolean =>
  e instanceof GmcnnError ? e.status === 0 || e.status === 502 || e.status === 503 || e.status === 504 : e instanceof TypeError;

/** A mask raster as a black-and-white PNG (white = hole), the API's mask format. */
async function maskPng(m: Mask): Promise<Blob> {
  const canvas = new OffscreenCanvas(m.width, m.height);
  const ctx = canvas.getContext("2d") as OffscreenCanvasRenderingContext2D;
  const img = ctx.createImageData(m.width, m.height);
  for (let i = 0; i < m.data.length; i++) {
    const v = m.data[i] ? 255 : 0;
    img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = v;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return canvas.convertToBlob({ type: "image/png" });
}
