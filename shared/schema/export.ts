/** Writes the JSON Schemas of the shared zod schemas, so that Python can validate what it writes. */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { jsonSchemas } from "./json.ts";

const dir = fileURLToPath(new URL(".", import.meta.url));
for (const [name, schema] of Object.entries(jsonSchemas())) {
  writeFileSync(`${dir}${name}.schema.json`, `${JSON.stringify(schema, null, 2)}\n`);
  console.log(`wrote shared/schema/${name}.schema.json`);
}
