/**
 * Builds the SDK package (`sdk/dist/`, what `npm pack` in sdk/ ships; prepack runs this):
 *
 * - `index.js`: one ES module (esbuild), `standardwebhooks` and the shared problem table bundled
 *   in, so the package has no runtime dependencies and installs offline from its tarball.
 * - `*.d.ts`: TypeScript's declarations of sdk/*.ts, with every type the SDK takes from
 *   shared/ (the API's zod schemas: Job, Shape, LedgerPage, ...) written out in `api-types.d.ts`
 *   as the plain types zod infers, so a user's type check needs neither zod nor this repository.
 *
 * Run: `npm run build` in sdk/ (or `tsx sdk/build.ts`).
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import ts from "typescript";

const SDK = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(SDK, "..");
export const DIST = join(SDK, "dist");

const COMPILER: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ["lib.es2023.d.ts", "lib.dom.d.ts"],
  types: [],
  strict: true,
  skipLibCheck: true,
  allowImportingTsExtensions: true,
  declaration: true,
  emitDeclarationOnly: true,
  rootDir: ROOT,
  outDir: join(SDK, ".d.ts-tmp"),
};

const FORMAT = ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.InTypeAlias;

/** `import ... from "../shared/x.ts"` and `import("../shared/x.ts").Name` in a declaration file. */
const SHARED_FROM = /from "\.\.\/shared\/[^"]+\.ts"/g;
const SHARED_IMPORT_TYPE = /import\("\.\.\/shared\/[^"]+\.ts"\)\.(\w+)/g;
const LOCAL_FROM = /from "\.\/([\w-]+)\.ts"/g;

async function bundle(): Promise<void> {
  await build({
    entryPoints: [join(SDK, "index.ts")],
    outfile: join(DIST, "index.js"),
    bundle: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    target: "es2022",
    legalComments: "inline",
    logLevel: "warning",
  });
}

/** The names an emitted declaration file takes from shared/. */
function sharedNames(text: string): string[] {
  const names = new Set<string>();
  for (const m of text.matchAll(/(?:import|export) (?:type )?\{([^}]+)\} from "\.\.\/shared\/[^"]+\.ts"/g))
    for (const part of m[1].split(","))
      names.add(
        part
          .replace(/^\s*type\s+/, "")
          .split(/\s+as\s+/)[0]
          .trim(),
      );
  for (const m of text.matchAll(SHARED_IMPORT_TYPE)) names.add(m[1]);
  names.delete("");
  return [...names];
}

/** Every exported type of the shared/ files in the program, by name. */
function sharedTypes(program: ts.Program): Map<string, ts.Symbol> {
  const checker = program.getTypeChecker();
  const out = new Map<string, ts.Symbol>();
  for (const sf of program.getSourceFiles()) {
    if (!relative(ROOT, sf.fileName).startsWith("shared/")) continue;
    const mod = checker.getSymbolAtLocation(sf);
    for (const s of mod ? checker.getExportsOfModule(mod) : []) {
      const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
      if (target.flags & (ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Interface) && !out.has(s.name)) out.set(s.name, target);
    }
  }
  return out;
}

/**
 * `export type Name = <the type, written out>` for each name and for every shared type those
 * mention (an interface's members may name an alias, e.g. PluginKind).
 */
function apiTypes(program: ts.Program, names: string[]): string {
  const checker = program.getTypeChecker();
  const known = sharedTypes(program);
  const done = new Map<string, string>();
  const queue = [...names];
  const print = (t: ts.Type, where: ts.Node) => checker.typeToString(t, where, FORMAT);
  while (queue.length) {
    const name = queue.shift() as string;
    if (done.has(name)) continue;
    const symbol = known.get(name);
    if (!symbol) throw new Error(`sdk/build.ts: the SDK names ${name}, which no shared/ file exports as a type`);
    const decl = symbol.declarations?.[0] as ts.Declaration;
    const type = checker.getDeclaredTypeOfSymbol(symbol);
    let text: string;
    if (symbol.flags & ts.SymbolFlags.Interface) {
      const members = checker.getPropertiesOfType(type).map((p) => {
        const pd = p.valueDeclaration ?? p.declarations?.[0];
        const doc = ts.displayPartsToString(p.getDocumentationComment(checker));
        const optional = p.flags & ts.SymbolFlags.Optional ? "?" : "";
        let t = print(checker.getTypeOfSymbolAtLocation(p, pd ?? decl), pd ?? decl);
        if (optional) t = t.replace(/ \| undefined$/, "");
        return `${doc ? `  /** ${doc} */\n` : ""}  ${p.name}${optional}: ${t};`;
      });
      text = `{\n${members.join("\n")}\n}`;
    } else text = print(type, decl);
    const doc = ts.displayPartsToString(symbol.getDocumentationComment(checker));
    done.set(name, `${doc ? `/** ${doc} */\n` : ""}export type ${name} = ${text};`);
    for (const m of text.matchAll(/\b[A-Z]\w*\b/g)) if (known.has(m[0]) && !done.has(m[0])) queue.push(m[0]);
  }
  return `/** Types of the gmcnn-edge API, written out from its zod schemas (shared/schemas/) by sdk/build.ts. */\n${[...done.values()].join("\n\n")}\n`;
}

function declarations(): Record<string, string> {
  const entry = join(SDK, "index.ts");
  const program = ts.createProgram([entry], COMPILER);
  const errors = ts.getPreEmitDiagnostics(program);
  if (errors.length)
    throw new Error(
      ts.formatDiagnostics(errors, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => "\n" }),
    );
  const files: Record<string, string> = {};
  for (const sf of program.getSourceFiles()) {
    const rel = relative(SDK, sf.fileName);
    if (rel.startsWith("..") || rel.includes("/") || rel === "build.ts") continue;
    program.emit(
      sf,
      (_name, text) => {
        files[rel.replace(/\.ts$/, ".d.ts")] = text;
      },
      undefined,
      true,
    );
  }
  const names = new Set<string>();
  for (const text of Object.values(files)) for (const n of sharedNames(text)) names.add(n);
  const out: Record<string, string> = { "api-types.d.ts": apiTypes(program, [...names].sort()) };
  for (const [file, text] of Object.entries(files))
    out[file] = text
      .replace(SHARED_FROM, 'from "./api-types.js"')
      .replace(SHARED_IMPORT_TYPE, 'import("./api-types.js").$1')
      .replace(LOCAL_FROM, 'from "./$1.js"');
  for (const [file, text] of Object.entries(out))
    if (/["']zod["']|\.\.\/shared\//.test(text)) throw new Error(`sdk/build.ts: ${file} still refers to zod or shared/`);
  return out;
}

export async function buildSdk(): Promise<string> {
  rmSync(DIST, { recursive: true, force: true });
  mkdirSync(DIST, { recursive: true });
  const types = declarations();
  await bundle();
  for (const [file, text] of Object.entries(types)) writeFileSync(join(DIST, file), text);
  return DIST;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t = Date.now();
  buildSdk().then(
    (dir) => console.log(`SDK built in ${relative(process.cwd(), dir) || "."} (${Date.now() - t} ms)`),
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
