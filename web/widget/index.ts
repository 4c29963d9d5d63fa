/** `<gmcnn-inpaint>`: importing this module defines the element. See docs/widget.md. */
import { GmcnnInpaintElement } from "./element.ts";

export type { Edit, MaskPayload, Tool } from "./edits.ts";
export { GmcnnInpaintElement, unreachable } from "./element.ts";
export type { GmcnnEventDetail, GmcnnEventMap } from "./events.ts";

if (!customElements.get("gmcnn-inpaint")) customElements.define("gmcnn-inpaint", GmcnnInpaintElement);

declare global {
  interface HTMLElementTagNameMap {
    "gmcnn-inpaint": GmcnnInpaintElement;
  }
}
