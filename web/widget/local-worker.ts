/**
 * The in-page model in a worker of the widget's own (local-runner.ts starts it): the runtime, the
 * session and the image math all live here, so the page stays responsive and a Cancel can
 * terminate the worker, which stops a run mid-inference (ONNX Runtime has no other way to stop a
 * session.run). onnxruntime-web's threads are workers of this worker.
 */
import { LocalModel, type LocalModelOptions } from "./local.ts";

export type WorkerRequest =
  | { id: number; op: "init"; options: Omit<LocalModelOptions, "onProgress" | "proxy"> }
  | { id: number; op: "prepare" | "speed" }
  | { id: number; op: "plan"; width: number; height: number; mask: Parameters<LocalModel["plan"]>[2] }
  | { id: number; op: "inpaint"; image: Blob; mask: Parameters<LocalModel["inpaint"]>[1] };

export type WorkerReply =
  | { id: number; progress: Parameters<NonNullable<LocalModelOptions["onProgress"]>>[0] }
  | { id: number; step: Parameters<NonNullable<Parameters<LocalModel["inpaint"]>[2]>>[0] }
  | { id: number; ok: unknown }
  | { id: number; error: string };

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(m: WorkerReply): void;
};
let model: LocalModel | undefined;
/** Progress goes to the request that caused the download. */
let current = 0;

scope.onmessage = async ({ data: m }) => {
  const post = (r: WorkerReply) => scope.postMessage(r);
  try {
    if (m.op === "init") {
      model = new LocalModel({ ...m.options, proxy: false, onProgress: (progress) => post({ id: current, progress }) });
      return post({ id: m.id, ok: true });
    }
    if (!model) throw new Error("the in-page model was not initialised");
    current = m.id;
    if (m.op === "prepare") return post({ id: m.id, ok: await model.prepare() });
    if (m.op === "speed") return post({ id: m.id, ok: await model.speed() });
    if (m.op === "plan") return post({ id: m.id, ok: model.plan(m.width, m.height, m.mask) });
    if (m.op !== "inpaint") return;
    const r = await model.inpaint(m.image, m.mask, (step) => post({ id: m.id, step }));
    post({ id: m.id, ok: r });
  } catch (e) {
    post({ id: m.id, error: (e as Error).message || String(e) });
  }
};
