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
 *   server-mode      auto (default) | jobs | request: jobs give server stages (queued, running)
 *   local-confirm-seconds  in-page runs estimated longer than this ask first (default 20)
 *   keyboard         auto (default) | document | element: where the shortcuts listen
 *   max-upload-bytes, max-megapixels, max-side  the API's limits, if the deployment changed them
 */
import { Gmcnn } from "../../sdk/client.ts";
import { GmcnnError } from "../../sdk/errors.ts";
import { jpegOrientation, swapsAxes } from "../../shared/imaging/exif.ts";
import type { Mask } from "../../shared/imaging/types.ts";
import { type Edit, EditHistory, type MaskPayload, type Tool } from "./edits.ts";
import type { GmcnnEventDetail, GmcnnEventMap, ProgressPhase } from "./events.ts";
import { checkLimits, limitsFrom } from "./limits.ts";
import type { Backend, LocalProgress, LocalStep } from "./local.ts";
import { LocalRunner, modelCached } from "./local-runner.ts";
import { STYLES } from "./styles.ts";

declare const __GMCNN_MODEL_FILE__: string;
declare const __GMCNN_MODEL_BYTES__: number;
declare const __GMCNN_RUNTIME_BYTES__: number;
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
  zoomIn: '<circle cx="11" cy="11" r="7"/><path d="m21 21-4.3-4.3"/><path d="M11 8v6"/><path d="M8 11h6"/>',
  zoomOut: '<circle cx="11" cy="11" r="7"/><path d="m21 21-4.3-4.3"/><path d="M8 11h6"/>',
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
  <div class="stage-wrap">
  <div class="stage" part="stage">
    <div class="empty"><strong>Drop a photo here</strong><span class="hint">or use Open. Then paint over what should disappear.</span></div>
    <div class="frame" hidden>
      <img class="base" alt="" draggable="false" />
      <canvas class="paint" tabindex="0" role="img" aria-label="Image: paint over what to remove with the pointer; B brush, E eraser, R box, [ and ] size, + and - zoom"></canvas>
      <div class="compare" hidden>
        <img class="after" alt="Result" draggable="false" />
        <span class="tag before">Before</span><span class="tag after">After</span>
        <div class="handle"></div>
        <input type="range" min="0" max="100" value="50" aria-label="Before and after: move to compare" />
      </div>
    </div>
    <div class="busy" hidden><div class="spinner" role="presentation"></div></div>
  </div>
    <div class="group zoom" hidden role="group" aria-label="Zoom">
      <button type="button" data-action="zoom-out" title="Zoom out (-)" aria-label="Zoom out" aria-keyshortcuts="-" disabled>${icon("zoomOut")}</button>
      <button type="button" data-action="zoom-fit" class="zoom-level" title="Fit the picture (0)" aria-label="Zoom: fit the picture" aria-keyshortcuts="0" disabled>100%</button>
      <button type="button" data-action="zoom-in" title="Zoom in (+)" aria-label="Zoom in" aria-keyshortcuts="+" disabled>${icon("zoomIn")}</button>
    </div>
  </div>
  <div class="footer" part="footer">
    <div class="status" role="status" aria-live="polite"><progress hidden max="1" aria-label="Progress"></progress><span class="msg">Open an image to start.</span></div>
    <span class="offer" hidden></span>
    <button type="button" data-action="cancel" hidden title="Cancel (Escape)" aria-keyshortcuts="Escape">Cancel</button>
    <button type="button" data-action="local" hidden title="Run the model in this browser: no upload">Run in my browser</button>
    <a class="download" hidden download="inpainted.png"><button type="button" tabindex="-1">Download</button></a>
    <button type="button" data-action="continue" hidden title="Use the result as the new image">Keep editing</button>
    <button type="button" data-action="back" hidden title="Back to the mask (Escape)">Back</button>
  </div>
</div>`;

type Mode = "off" | "fallback" | "prefer";
type Where = "api" | "browser";
type Out = { blob: Blob; where: Where; fallback: boolean; requestId: string | null; jobId?: string };

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
const secs = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`);
const aborted = (e: unknown) => (e as { name?: string })?.name === "AbortError";
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });
const SPEED_KEY = "gmcnn-inpaint:api-ms-per-mp";
const isTouch = () => matchMedia("(pointer: coarse)").matches || navigator.maxTouchPoints > 0;
/** Targets outside the widget whose keys are theirs (typing, following a link, pressing a button). */
const interactive = (t: EventTarget | undefined) =>
  t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON|A|SUMMARY)$/.test(t.tagName));

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
  private local?: LocalRunner;
  private backendInfo?: Backend;
  private localSpeed?: { msPerPixel: number; overheadMs: number; sampleMs: number; side: number };
  private token?: { value: string; until: number; scopes?: string[] };
  private readonly layer = document.createElement("canvas");
  private srcLoaded?: string;
  /** The run in progress: its abort, where it runs, the job it created. */
  private run?: { ac: AbortController; where: Where; jobId?: string; phase?: ProgressPhase };
  /** The stage shown with a ticking elapsed time / ETA while busy. */
  private stage?: { label: string; start: number; etaMs?: number; floor?: number };
  private ticker?: ReturnType<typeof setInterval>;
  /** An error or an offer stays on screen until the person acts. */
  private sticky = false;
  private zoom = 1;
  private fitWidth = 0;
  private readonly touches = new Map<number, { x: number; y: number }>();
  private pinch?: { dist: number; zoom: number; mid: { x: number; y: number } };
  private readonly keyListener = (ev: KeyboardEvent) => this.onKey(ev);
  private keyTarget?: EventTarget;

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
  /** The loaded picture as shown (width, height) and its file size. */
  get picture(): { width: number; height: number; bytes: number } | undefined {
    return this.image && { width: this.image.width, height: this.image.height, bytes: this.image.blob.size };
  }
  get mode(): Mode {
    const m = this.getAttribute("local-inference");
    return m === "fallback" || m === "prefer" ? m : "off";
  }
  /** Whether a removal is running (and Cancel would stop it). */
  get running(): boolean {
    return this.busy;
  }
  /** The in-page runtime as it runs (after a first in-page run or prepareLocalModel). */
  get localBackend(): Backend | undefined {
    return this.backendInfo;
  }
  /** Bytes "run in my browser" downloads the first time (model + runtime). */
  get localDownloadBytes(): number {
    return __GMCNN_MODEL_BYTES__ + __GMCNN_RUNTIME_BYTES__;
  }

  /**
   * Loads a File/Blob or a URL. The picture is decoded before anything changes: a file the browser
   * cannot show, or one over the API's limits, leaves the current picture and its marks as they were.
   */
  async load(source: Blob | string, how: GmcnnEventDetail["gmcnn:load"]["source"] = typeof source === "string" ? "url" : "file") {
    let blob: Blob;
    try {
      if (typeof source === "string") {
        const res = await fetch(source);
        if (!res.ok) throw new Error(`the picture could not be fetched (HTTP ${res.status})`);
        blob = await res.blob();
      } else blob = source;
    } catch (e) {
      const err = new Error(
        e instanceof TypeError ? "the picture could not be fetched: check the address and your connection" : (e as Error).message,
      );
      this.fail(err, this.image ? "Your picture and marks are as they were." : "");
      throw err;
    }
    const url = URL.createObjectURL(blob);
    const probe = new Image();
    probe.src = url;
    try {
      await probe.decode();
    } catch {
      URL.revokeObjectURL(url);
      const name = blob instanceof File ? `“${blob.name}”` : "This file";
      const e = new Error(`${name} is not a picture this browser can open (use PNG, JPEG or WebP)`);
      this.fail(e, this.image ? "Your picture and marks are as they were." : "");
      throw e;
    }
    const [width, height] = [probe.naturalWidth, probe.naturalHeight];
    const check = checkLimits(
      blob.size,
      width,
      height,
      limitsFrom((n) => this.getAttribute(n)),
    );
    if (check.over.length) {
      URL.revokeObjectURL(url);
      this.emit("gmcnn:limit", { width, height, bytes: blob.size, over: check.over, fit: check.fit });
      this.offerDownscale(probe, blob, check.message, check.fit, how);
      return;
    }
    await this.adopt(blob, url, width, height, how);
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
  get currentTool(): Tool {
    return this.tool;
  }

  /** Zoom for painting: 1 fits the picture in the widget; up to 8. */
  setZoom(z: number): void {
    const frame = this.$(".frame") as HTMLElement;
    const img = this.$("img.base") as HTMLImageElement;
    if (this.zoom === 1) this.fitWidth = img.clientWidth || this.fitWidth;
    this.zoom = Math.max(1, Math.min(8, Math.round(z * 100) / 100));
    const zoomed = this.zoom > 1 && this.fitWidth > 0;
    const stage = this.$(".stage") as HTMLElement;
    // The stage keeps its fitted height and scrolls (or pans with two fingers) over the zoomed picture.
    if (zoomed && !stage.style.height) stage.style.height = `${stage.offsetHeight}px`;
    if (!zoomed) stage.style.height = "";
    (this.$(".root") as HTMLElement).classList.toggle("zoomed", zoomed);
    frame.style.width = zoomed ? `${Math.round(this.fitWidth * this.zoom)}px` : "";
    (this.$(".zoom-level") as HTMLElement).textContent = `${Math.round(this.zoom * 100)}%`;
    this.syncButtons();
  }
  get zoomLevel(): number {
    return this.zoom;
  }

  /**
   * Inpaints the marked area: the API, or the page's own model (see `local-inference`;
   * `where: "browser"` asks for the page's model, as the "Run in my browser" button does).
   */
  async submit(o: { where?: Where } = {}): Promise<void> {
    if (!this.image || this.busy || this.result || this.history.isEmpty) return;
    const image = this.image;
    // The API takes masks on the stored grid (EXIF orientation undone); the page's model works on
    // the picture as shown (createImageBitmap orients it), like the API's upright result.
    const forApi = this.history.payload(image.storedWidth, image.storedHeight, image.orientation);
    const asShown = this.history.payload(image.width, image.height);
    const maxLocal = Number(this.getAttribute("local-max-pixels")) || 512 * 512;
    const inPage =
      o.where === "browser" || (o.where !== "api" && this.mode === "prefer" && image.width * image.height <= maxLocal);
    const ac = new AbortController();
    this.run = { ac, where: inPage ? "browser" : "api" };
    this.setBusy(true);
    const t = performance.now();
    try {
      let out: Out;
      try {
        out = inPage ? await this.inPage(image, asShown, false, ac.signal) : await this.viaApi(image, forApi, ac.signal);
      } catch (e) {
        if (inPage || this.mode === "off" || !unreachable(e) || ac.signal.aborted) throw e;
        this.run.where = "browser";
        out = await this.inPage(image, asShown, true, ac.signal);
      }
      if (out.where === "browser" && this.run.where === "api") this.run.where = "browser";
      const durationMs = Math.round(performance.now() - t);
      if (out.where === "api") this.learnSpeed(durationMs, image.width * image.height);
      this.setBusy(false);
      this.showResult(out.blob);
      this.say(
        `Done in ${secs(durationMs)}${out.where === "browser" ? " in your browser" : ""}. Drag the slider to compare; Back returns to your marks.`,
      );
      this.emit("gmcnn:result", { ...out, durationMs });
    } catch (e) {
      const run = this.run;
      this.setBusy(false);
      if (ac.signal.aborted || aborted(e)) {
        this.say("Canceled. Your picture and marks are as they were.");
        this.emit("gmcnn:cancel", { where: run?.where ?? "api", phase: run?.phase, jobId: run?.jobId });
      } else this.fail(e as Error);
    } finally {
      if (this.run?.ac === ac) this.run = undefined;
      if (this.busy) this.setBusy(false);
    }
  }

  /**
   * Stops the removal in progress: aborts the request (and cancels the job it created) or
   * terminates the in-page model's worker. The picture and the marks stay as they were.
   */
  cancel(): void {
    const run = this.run;
    if (!run || run.ac.signal.aborted) return;
    run.ac.abort(new DOMException("Canceled", "AbortError"));
    if (run.where === "browser") this.local?.terminate();
    if (run.jobId)
      this.client()
        .jobs.cancel(run.jobId)
        .catch(() => undefined);
  }

  /** Downloads (or reads from the cache) the in-page model; resolves with its backend. */
  async prepareLocalModel(): Promise<string> {
    const model = this.localModel();
    this.emit("gmcnn:model", { state: "downloading", loaded: 0, total: 0 });
    try {
      const b = await model.prepare();
      this.backendInfo = b;
      this.emit("gmcnn:model", { state: "ready", loaded: 0, total: 0, backend: b.backend });
      return b.backend;
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
    // The page's main editor (the only one, or keyboard="document") hears shortcuts anywhere on
    // the page that is not typing or a control of its own; otherwise only with focus inside.
    const kb = this.getAttribute("keyboard");
    const alone = document.querySelectorAll("gmcnn-inpaint").length <= 1;
    this.keyTarget = kb === "document" || (kb !== "element" && alone) ? document : this;
    this.keyTarget.addEventListener("keydown", this.keyListener as EventListener);
    if (isTouch()) {
      (this.$(".empty .hint") as HTMLElement).textContent =
        "or tap Open. Then paint with your finger over what should disappear; pinch or use + to zoom.";
    }
    this.syncButtons();
  }

  disconnectedCallback(): void {
    this.keyTarget?.removeEventListener("keydown", this.keyListener as EventListener);
    this.keyTarget = undefined;
    this.cancel();
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    if (old === value) return;
    if (name === "src" && this.isConnected) this.loadSrc();
    if (name === "api" || name === "token") this.sdk = undefined;
    if (name === "local-inference") this.syncButtons();
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

  // ---- loading ---------------------------------------------------------------------------------

  private async adopt(
    blob: Blob,
    url: string,
    width: number,
    height: number,
    how: GmcnnEventDetail["gmcnn:load"]["source"],
    note = "",
  ) {
    const img = this.$("img.base") as HTMLImageElement;
    if (this.image) URL.revokeObjectURL(this.image.url);
    const orientation = jpegOrientation(new Uint8Array(await blob.slice(0, 262144).arrayBuffer()));
    const [storedWidth, storedHeight] = swapsAxes(orientation) ? [height, width] : [width, height];
    this.image = { blob, url, width, height, orientation, storedWidth, storedHeight };
    img.src = url;
    await img.decode().catch(() => undefined);
    this.history.clear();
    this.showResult(undefined);
    (this.$(".frame") as HTMLElement).hidden = false;
    (this.$(".empty") as HTMLElement).hidden = true;
    (this.$(".zoom") as HTMLElement).hidden = false;
    this.setZoom(1);
    this.resize();
    this.changed();
    const how2 = isTouch() ? "Paint with your finger over what to remove (pinch or + to zoom)" : "Paint over what to remove";
    this.say(`${note}${width} × ${height} px. ${how2}, then press Remove.`);
    this.emit("gmcnn:load", { width, height, source: how });
  }

  /** Over the API's limits: keep what is on screen and offer to downscale in the page. */
  private offerDownscale(
    probe: HTMLImageElement,
    blob: Blob,
    message: string,
    fit: { width: number; height: number },
    how: GmcnnEventDetail["gmcnn:load"]["source"],
  ) {
    const keep = this.image ? " Your current picture and marks are as they were." : "";
    const fits = fit.width !== probe.naturalWidth || fit.height !== probe.naturalHeight;
    const label = fits ? `Downscale to ${fit.width} × ${fit.height}` : "Make the file smaller";
    this.offer(
      `${message} It can be downscaled here in your browser (nothing is sent until you press Remove).${keep}`,
      [
        {
          label,
          run: async () => {
            this.say("Downscaling in your browser…");
            try {
              const out = await shrink(probe, blob, fit, limitsFrom((n) => this.getAttribute(n)).maxUploadBytes);
              const url = URL.createObjectURL(out.blob);
              const note = `Downscaled in your browser from ${probe.naturalWidth} × ${probe.naturalHeight} (${mb(blob.size)}) to fit the service's limits: `;
              await this.adopt(out.blob, url, out.width, out.height, how, note);
            } catch (e) {
              this.fail(e as Error);
            }
          },
        },
        { label: this.image ? "Keep the current picture" : "Dismiss", run: () => this.say(this.hint()) },
      ],
      true,
    );
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
    if (!url)
      throw new GmcnnError({
        type: "about:blank",
        title: "No token",
        status: 401,
        detail: "the widget has no token or token-url",
      });
    const res = await fetch(url, { method: "POST", credentials: "same-origin" }).catch((e) => {
      throw new GmcnnError(
        { type: "urn:gmcnn:widget:token-network", title: "Token", status: 0, detail: String(e) },
        { cause: e },
      );
    });
    if (!res.ok)
      throw new GmcnnError({
        type: "urn:gmcnn:widget:token-refused",
        title: "Token refused",
        status: res.status,
        detail: `this site's token route answered HTTP ${res.status}`,
      });
    const body = (await res.json()) as { token: string; expires_at?: string; scopes?: string[] };
    const expires = body.expires_at ? Date.parse(body.expires_at) : Date.now() + 5 * 60_000;
    this.token = { value: body.token, until: expires - 60_000, scopes: body.scopes };
    return body.token;
  }

  /** Jobs (server stages, cancel on the server) when the token may create them; else one request. */
  private async useJobs(): Promise<boolean> {
    const m = this.getAttribute("server-mode");
    if (m === "jobs") return true;
    if (m === "request" || this.getAttribute("token")) return false;
    if (!this.getAttribute("token-url")) return false;
    await this.freshToken();
    return !!this.token?.scopes?.includes("jobs");
  }

  /** Measured server speed (ms per megapixel, this browser's past runs), for the ETA. */
  private apiMsPerMp(): number | undefined {
    try {
      const v = Number(localStorage.getItem(SPEED_KEY));
      return v > 0 ? v : undefined;
    } catch {
      return undefined;
    }
  }
  private learnSpeed(ms: number, pixels: number): void {
    const x = ms / Math.max(0.05, pixels / 1e6);
    const old = this.apiMsPerMp();
    try {
      localStorage.setItem(SPEED_KEY, String(Math.round(old ? 0.5 * old + 0.5 * x : x)));
    } catch {
      // storage may be off: the next ETA is simply unknown
    }
  }

  private async viaApi(image: NonNullable<typeof this.image>, payload: MaskPayload, signal: AbortSignal): Promise<Out> {
    this.emit("gmcnn:submit", { mask: payload.kind === "shapes" ? "shapes" : "png", where: "api" });
    const per = this.apiMsPerMp();
    const etaMs = per ? (per * image.width * image.height) / 1e6 : undefined;
    this.phase("sending", "Sending to the server…", { etaMs });
    const mask = payload.kind === "shapes" ? { shapes: payload.shapes } : await maskPng(payload.mask);
    const sdk = this.client();
    if (!(await this.useJobs())) {
      this.phase("running", "Removing on the server…", { etaMs, keepClock: true });
      const r = await sdk.inpaint({ image: image.blob, mask }, { signal });
      return { blob: r.blob, where: "api", fallback: false, requestId: r.requestId };
    }
    let job = await sdk.jobs.create({ image: image.blob, mask }, { signal });
    if (this.run) this.run.jobId = job.id;
    let wait = 250;
    while (job.status === "queued" || job.status === "processing") {
      if (job.status === "queued") this.phase("queued", "Waiting in the server's queue…", { etaMs, keepClock: true });
      else this.phase("running", "Removing on the server…", { etaMs, keepClock: true });
      await sleep(wait, signal);
      wait = Math.min(1500, Math.round(wait * 1.3));
      job = await sdk.jobs.get(job.id, { signal });
    }
    if (job.status === "canceled") throw new DOMException("Canceled", "AbortError");
    if (job.status !== "succeeded") {
      const e = job.error ?? { type: "about:blank", title: "The job failed", status: 500 };
      throw new GmcnnError({ ...e, detail: e.detail ?? e.title });
    }
    this.phase("receiving", "Receiving the result…", { etaMs, keepClock: true });
    const blob = await sdk.jobs.result(job, { signal });
    return { blob, where: "api", fallback: false, requestId: null, jobId: job.id };
  }

  private localModel(): LocalRunner {
    if (this.local) return this.local;
    const assets = new URL(this.getAttribute("assets") ?? ASSETS_BASE, location.href).href;
    const modelUrl = this.getAttribute("model-url") ?? new URL(__GMCNN_MODEL_FILE__, assets).href;
    this.local = new LocalRunner({
      workerUrl: new URL("local-worker.js", ASSETS_BASE).href,
      assets,
      modelUrl,
      modelBytes: __GMCNN_MODEL_BYTES__,
      onProgress: (p) => this.modelProgress(p),
    });
    return this.local;
  }

  private modelUrls(): string[] {
    const assets = new URL(this.getAttribute("assets") ?? ASSETS_BASE, location.href).href.replace(/\/$/, "");
    const model = this.getAttribute("model-url") ?? new URL(__GMCNN_MODEL_FILE__, `${assets}/`).href;
    return [model, `${assets}/ort/ort-wasm-simd-threaded.wasm.gz`];
  }

  private download = { model: { loaded: 0, total: 0 }, runtime: { loaded: 0, total: 0 } };

  private modelProgress(p: LocalProgress): void {
    const phase = p.file === "model" ? "model-download" : "runtime-download";
    this.emit("gmcnn:progress", { phase, loaded: p.loaded, total: p.total });
    this.download[p.file] = { loaded: p.loaded, total: p.total };
    if (p.file === "model" && !p.done)
      this.emit("gmcnn:model", { state: "downloading", loaded: p.loaded, total: p.total, cached: p.cached });
    if (p.cached) return;
    const loaded = this.download.model.loaded + this.download.runtime.loaded;
    const total = Math.max(this.localDownloadBytes, this.download.model.total + this.download.runtime.total);
    if (this.busy) {
      if (this.run) this.run.phase = phase;
      this.stage = undefined;
      this.status(`Downloading the in-browser model (once; then it is cached): ${mb(loaded)} / ${mb(total)}`);
      this.bar(loaded / total);
    } else this.say(`Downloading the in-browser model: ${mb(loaded)} / ${mb(total)}`, true);
  }

  /**
   * The page's model: download (with progress, once), a tiny timed run for an honest estimate,
   * the offer of the server when that estimate is long, then the run with per-region progress.
   */
  private async inPage(
    image: NonNullable<typeof this.image>,
    payload: MaskPayload,
    fallback: boolean,
    signal: AbortSignal,
  ): Promise<Out> {
    const model = this.localModel();
    if (fallback) this.phase("model-download", "The service can't be reached: getting the model ready in your browser…");
    else this.phase("model-download", "Getting the model ready in your browser…");
    const b = await this.withAbort(model.prepare(), signal);
    if (!this.backendInfo) this.emit("gmcnn:model", { state: "ready", loaded: 0, total: 0, backend: b.backend });
    this.backendInfo = b;
    if (!this.localSpeed) {
      this.phase("estimating", `Measuring this device's speed (${b.backend})…`);
      this.localSpeed = await this.withAbort(model.speed(), signal);
    }
    const plan = await this.withAbort(model.plan(image.width, image.height, payload), signal);
    const estimateMs = Math.round(this.localSpeed.overheadMs * plan.regions + this.localSpeed.msPerPixel * plan.pixels);
    const note = b.crossOriginIsolated ? "" : " (this page is not cross-origin isolated, so one thread)";
    this.emit("gmcnn:estimate", {
      where: "browser",
      estimateMs,
      pixels: plan.pixels,
      regions: plan.regions,
      sampleMs: Math.round(this.localSpeed.sampleMs),
      sampleSide: this.localSpeed.side,
      ...b,
    });
    // Ask first above local-confirm-seconds (20 s), or, when it is not set and the server answered
    // this browser before, when the page would take over 3x the server's measured time.
    const set = Number(this.getAttribute("local-confirm-seconds"));
    const per = this.apiMsPerMp();
    const serverMs = per ? (per * image.width * image.height) / 1e6 : undefined;
    const slow =
      set > 0 ? estimateMs > set * 1000 : estimateMs > 20_000 || (!fallback && !!serverMs && estimateMs > 3 * serverMs);
    const est = `about ${secs(estimateMs)} in your browser (${b.backend}${note}; measured on a ${this.localSpeed.side}×${this.localSpeed.side} test run)`;
    if (slow) {
      const server = serverMs ? `; the server took about ${secs(serverMs)} here before` : "";
      const choice = await this.ask(
        `This will take ${est}${server}.`,
        [
          { label: `Run in my browser (~${secs(estimateMs)})`, value: "browser" },
          { label: fallback ? "Try the server again" : "Use the server", value: "api" },
        ],
        signal,
      );
      if (choice === "api") {
        const forApi = this.history.payload(image.storedWidth, image.storedHeight, image.orientation);
        if (this.run) this.run.where = "api";
        return this.viaApi(image, forApi, signal);
      }
    }
    this.emit("gmcnn:submit", { mask: payload.kind === "shapes" ? "shapes" : "png", where: "browser" });
    const label = `${fallback ? "The service can't be reached: removing" : "Removing"} in your browser (${b.backend})…`;
    this.phase("inpainting", label, { etaMs: estimateMs, done: 0, total: plan.regions });
    const start = performance.now();
    const r = await this.withAbort(
      model.inpaint(image.blob, payload, (s: LocalStep) => {
        if (s.stage === "inference" && s.done > 0) {
          const floor = s.pixelsDone / Math.max(1, s.pixelsTotal);
          const spent = performance.now() - start;
          // Re-estimate from the regions done: the measured rate of this very run.
          const eta = floor > 0 ? spent / floor : estimateMs;
          this.phase("inpainting", label, { etaMs: eta, keepClock: true, floor, done: s.done, total: s.total });
        }
        if (s.stage === "encoding") this.phase("encoding", "Encoding the result…", { done: s.total, total: s.total });
      }),
      signal,
    );
    return { blob: r.blob, where: "browser", fallback, requestId: null };
  }

  /** Rejects as soon as `signal` aborts (the worker is terminated by cancel() meanwhile). */
  private withAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<T>((resolve, reject) => {
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      p.then(resolve, reject);
    });
  }

  // ---- view -----------------------------------------------------------------------------------

  private $(sel: string): Element {
    return this.shadow.querySelector(sel) as Element;
  }

  /** What to do now, for the status line after any change of state. */
  private hint(): string {
    if (!this.image) return "Open an image to start.";
    if (this.result) return "Drag the slider to compare; Back returns to your marks.";
    if (this.history.isEmpty) return isTouch() ? "Paint with your finger over what to remove." : "Paint over what to remove.";
    const n = this.history.edits.length;
    return `${n} mark${n === 1 ? "" : "s"}. Press Remove (Enter) when ready.`;
  }

  /** Sets the status line. Quiet messages (background work) never replace an error, an offer or a run's progress. */
  private say(msg: string, quiet = false): void {
    if (quiet && (this.busy || this.sticky)) return;
    this.sticky = false;
    this.clearOffer();
    (this.$(".status") as HTMLElement).classList.remove("error");
    this.status(msg);
    if (!this.busy) this.bar(undefined);
  }

  private status(msg: string): void {
    (this.$(".msg") as HTMLElement).textContent = msg;
  }

  private bar(value: number | undefined): void {
    const p = this.$("progress") as HTMLProgressElement;
    p.hidden = value === undefined && !this.busy;
    if (value === undefined) p.removeAttribute("value");
    else p.value = value;
  }

  /** A stage of the run: emitted once per change, shown with elapsed time and ETA while busy. */
  private phase(
    phase: ProgressPhase,
    label: string,
    o: { etaMs?: number; keepClock?: boolean; floor?: number; done?: number; total?: number } = {},
  ): void {
    const changed = this.run?.phase !== phase || o.done !== undefined;
    if (this.run) this.run.phase = phase;
    const start = o.keepClock && this.stage ? this.stage.start : performance.now();
    this.stage = { label, start, etaMs: o.etaMs, floor: o.floor };
    if (changed) {
      const left = o.etaMs === undefined ? undefined : Math.max(0, Math.round(o.etaMs - (performance.now() - start)));
      this.emit("gmcnn:progress", { phase, etaMs: left, done: o.done, total: o.total });
    }
    this.tick();
  }

  private tick(): void {
    const s = this.stage;
    if (!s || !this.busy) return;
    const spent = performance.now() - s.start;
    if (s.etaMs && s.etaMs > 0) {
      const left = s.etaMs - spent;
      const f = Math.max(s.floor ?? 0, Math.min(0.99, spent / s.etaMs));
      this.bar(f);
      this.status(`${s.label} ${left > 1000 ? `about ${secs(left)} left` : `taking longer than measured: ${secs(spent)}`}`);
    } else {
      this.bar(s.floor);
      this.status(`${s.label} ${secs(spent)}`);
    }
  }

  /** Offer buttons under the status; they stay until one is chosen or the person acts. */
  private offer(msg: string, actions: { label: string; run: () => void }[], isError = false): void {
    this.say(msg);
    this.sticky = true;
    (this.$(".status") as HTMLElement).classList.toggle("error", isError);
    const box = this.$(".offer") as HTMLElement;
    box.replaceChildren(
      ...actions.map((a, i) => {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = a.label;
        if (i === 0) b.className = "primary";
        b.addEventListener("click", () => {
          this.clearOffer();
          this.sticky = false;
          a.run();
        });
        return b;
      }),
    );
    box.hidden = false;
    (box.firstElementChild as HTMLElement | null)?.focus();
  }

  private clearOffer(): void {
    const box = this.$(".offer") as HTMLElement;
    box.replaceChildren();
    box.hidden = true;
  }

  /** Asks during a run; resolves with the chosen value, rejects when the run is canceled. */
  private ask(msg: string, choices: { label: string; value: string }[], signal: AbortSignal): Promise<string> {
    this.stage = undefined;
    this.bar(undefined);
    return new Promise<string>((resolve, reject) => {
      signal.addEventListener(
        "abort",
        () => {
          this.clearOffer();
          reject(signal.reason);
        },
        { once: true },
      );
      const box = this.$(".offer") as HTMLElement;
      this.status(msg);
      box.replaceChildren(
        ...choices.map((c, i) => {
          const b = document.createElement("button");
          b.type = "button";
          b.textContent = c.label;
          b.dataset.choice = c.value;
          if (i === 0) b.className = "primary";
          b.addEventListener("click", () => {
            this.clearOffer();
            resolve(c.value);
          });
          return b;
        }),
      );
      box.hidden = false;
      (box.firstElementChild as HTMLElement | null)?.focus();
    });
  }

  private fail(e: Error, after = ""): void {
    this.say(`Sorry: ${explain(e)}${after ? ` ${after}` : ""}`);
    this.sticky = true;
    (this.$(".status") as HTMLElement).classList.add("error");
    this.emit("gmcnn:error", { error: e });
  }

  private setBusy(on: boolean): void {
    this.busy = on;
    (this.$(".busy") as HTMLElement).hidden = !on;
    (this.$("progress") as HTMLElement).hidden = !on;
    (this.$('[data-action="cancel"]') as HTMLElement).hidden = !on;
    this.setAttribute("aria-busy", String(on));
    if (on) {
      this.sticky = false;
      this.clearOffer();
      (this.$(".status") as HTMLElement).classList.remove("error");
      this.ticker ??= setInterval(() => this.tick(), 250);
    } else {
      clearInterval(this.ticker);
      this.ticker = undefined;
      this.stage = undefined;
      this.clearOffer();
      this.bar(undefined);
    }
    this.syncButtons();
    if (on) (this.$('[data-action="cancel"]') as HTMLElement).focus();
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

  /** Back from the result to the marks: the status says where the person is now. */
  private back(): void {
    if (!this.result) return;
    this.showResult(undefined);
    this.say(`Back to your marks. ${this.hint()}`);
    (this.$("canvas.paint") as HTMLElement).focus();
  }

  private changed(): void {
    this.render();
    this.syncButtons();
    // Every change of state resets the status: no "Done…" or error left over from before.
    if (!this.busy && this.image) this.say(this.hint());
    this.emit("gmcnn:change", { edits: this.history.edits.length, canUndo: this.history.canUndo, canRedo: this.history.canRedo });
  }

  private syncButtons(): void {
    const editing = !!this.image && !this.busy && !this.result;
    const set = (sel: string, enabled: boolean) => ((this.$(sel) as HTMLButtonElement).disabled = !enabled);
    set('[data-action="undo"]', editing && this.history.canUndo);
    set('[data-action="redo"]', editing && this.history.canRedo);
    set('[data-action="clear"]', editing && this.history.canUndo);
    set('[data-action="submit"]', editing && !this.history.isEmpty);
    set('[data-action="zoom-in"]', editing && this.zoom < 8);
    set('[data-action="zoom-out"]', editing && this.zoom > 1);
    set('[data-action="zoom-fit"]', editing && this.zoom > 1);
    const local = this.$('[data-action="local"]') as HTMLButtonElement;
    local.hidden = this.mode === "off" || !editing;
    local.disabled = !editing || this.history.isEmpty;
    for (const b of Array.from(this.shadow.querySelectorAll<HTMLButtonElement>("[data-tool]"))) b.disabled = !editing;
    // A focused button that was just disabled would drop focus to the page, and the shortcuts with it.
    const active = this.shadow.activeElement as HTMLButtonElement | null;
    if (active?.disabled)
      (this.$(this.busy ? '[data-action="cancel"]' : this.result ? ".compare input" : "canvas.paint") as HTMLElement).focus();
    if (this.mode !== "off" && !local.hidden) this.labelLocal();
  }

  /** "Run in my browser" names what it downloads until the model is in the cache. */
  private labelLocal(): void {
    const local = this.$('[data-action="local"]') as HTMLButtonElement;
    if (this.backendInfo) {
      local.textContent = "Run in my browser";
      return;
    }
    const size = `Run in my browser (${mb(this.localDownloadBytes)} download)`;
    if (!local.dataset.checked) {
      local.dataset.checked = "1";
      local.textContent = size;
      modelCached(this.modelUrls()).then((hit) => {
        if (hit) local.textContent = "Run in my browser (cached)";
      });
    }
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
      local: () => void this.submit({ where: "browser" }),
      cancel: () => this.cancel(),
      continue: () => void this.continueFromResult(),
      back: () => this.back(),
      "zoom-in": () => this.setZoom(this.zoom * 1.5),
      "zoom-out": () => this.setZoom(this.zoom / 1.5),
      "zoom-fit": () => this.setZoom(1),
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
      if (!this.image || this.busy || this.result) return;
      this.touches.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
      if (this.touches.size === 2) {
        // Two fingers: pinch to zoom (and pan); the stroke the first finger began is dropped.
        this.drawing = undefined;
        this.pinch = { ...this.pinchGeometry(), zoom: this.zoom };
        this.render();
        return;
      }
      if (ev.button !== 0 || this.touches.size > 2) return;
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
      if (this.touches.has(ev.pointerId)) this.touches.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
      if (this.pinch && this.touches.size === 2) {
        const g = this.pinchGeometry();
        this.setZoom(this.pinch.zoom * (g.dist / Math.max(1, this.pinch.dist)));
        stage.scrollBy(this.pinch.mid.x - g.mid.x, this.pinch.mid.y - g.mid.y);
        this.pinch.mid = g.mid;
        return;
      }
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
    const finish = (ev: PointerEvent) => {
      this.touches.delete(ev.pointerId);
      if (this.touches.size < 2) this.pinch = undefined;
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
  }

  private pinchGeometry(): { dist: number; mid: { x: number; y: number } } {
    const [a, b] = [...this.touches.values()];
    return { dist: Math.hypot(a.x - b.x, a.y - b.y), mid: { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 } };
  }

  private onKey(ev: KeyboardEvent): void {
    if (ev.defaultPrevented || ev.altKey) return;
    const path = ev.composedPath();
    const target = path[0] as HTMLElement;
    const inside = path.includes(this);
    // Heard at the document: keys typed into the page's own fields and controls stay theirs.
    if (!inside && interactive(target)) return;
    if (target instanceof HTMLInputElement && target.type !== "range" && target.type !== "file") return;
    const mod = ev.ctrlKey || ev.metaKey;
    const key = ev.key.toLowerCase();
    if (key === "escape") {
      if (this.busy) this.cancel();
      else if (this.result) this.back();
      else if (this.sticky && !(this.$(".offer") as HTMLElement).hidden) this.say(this.hint());
      else return;
      ev.preventDefault();
      return;
    }
    const shortcuts: Record<string, () => void> = mod
      ? { z: () => (ev.shiftKey ? this.redo() : this.undo()), y: () => this.redo() }
      : {
          b: () => this.setTool("brush"),
          e: () => this.setTool("eraser"),
          r: () => this.setTool("rect"),
          "[": () => this.resizeBrush(-1),
          "]": () => this.resizeBrush(1),
          "+": () => this.image && !this.busy && this.setZoom(this.zoom * 1.5),
          "=": () => this.image && !this.busy && this.setZoom(this.zoom * 1.5),
          "-": () => this.image && !this.busy && this.setZoom(this.zoom / 1.5),
          "0": () => this.setZoom(1),
          o: () => (this.$('input[type="file"]') as HTMLInputElement).click(),
          ...(target instanceof HTMLButtonElement ? {} : { enter: () => void this.submit() }),
        };
    if (this.busy && !mod) return; // only Escape while a removal runs
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

/** An error as a sentence that says what to do (never a bare URL or "Failed to fetch"). */
export function explain(e: Error): string {
  if (e instanceof GmcnnError) {
    if (e.type.startsWith("urn:gmcnn:widget:token"))
      return e.status === 0
        ? "this page could not get an access token: check your connection and try again."
        : `this page could not get an access token (its server answered HTTP ${e.status}): reload the page, or try again later.`;
    if (e.status === 0) return "the service can't be reached. Check your connection and press Remove again.";
    if (e.status === 502 || e.status === 503 || e.status === 504)
      return `the service is busy or down right now (HTTP ${e.status}). Try again in a minute${e.retryAfter ? ` (it asks for ${e.retryAfter} s)` : ""}.`;
    if (e.status === 429) return `too many requests just now: wait ${e.retryAfter ?? 30} s and press Remove again.`;
    if (e.status === 401 || e.status === 403) return `${e.detail ?? e.title}. Reload the page to get a fresh access token.`;
    return e.detail ?? e.title;
  }
  if (e instanceof TypeError) return "the service can't be reached. Check your connection and press Remove again.";
  return e.message;
}

/**
 * Draws `img` at `fit` (upright, as the browser shows it) and encodes it like the original (PNG
 * stays PNG, else JPEG at 0.92), shrinking further until the file is under `maxBytes`.
 */
async function shrink(
  img: HTMLImageElement,
  original: Blob,
  fit: { width: number; height: number },
  maxBytes: number,
): Promise<{ blob: Blob; width: number; height: number }> {
  const type = original.type === "image/png" ? "image/png" : "image/jpeg";
  let { width, height } = fit;
  for (let i = 0; i < 6; i++) {
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext("2d") as OffscreenCanvasRenderingContext2D;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(img, 0, 0, width, height);
    const blob = await canvas.convertToBlob({ type, quality: 0.92 });
    if (blob.size <= maxBytes) return { blob, width, height };
    const s = Math.sqrt(maxBytes / blob.size) * 0.95;
    [width, height] = [Math.max(1, Math.floor(width * s)), Math.max(1, Math.floor(height * s))];
  }
  throw new Error("the picture could not be made small enough to send");
}

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
