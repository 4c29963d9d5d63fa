/** The plugins under test: gmcnn.config.ts, set up for a Node host (as the CLI loads them). */
import config from "../../../gmcnn.config.ts";
import { nodeCodecs, RequestOptions as Options } from "../../../gpu-jobs/plugins/host.ts";
import type { AnyPlugin, HooksByKind, Host, PluginKind, RequestOptions } from "../../../shared/plugins/contract.ts";
import { pluginConfig } from "../../../shared/plugins/registry.ts";

export { config };

export const host: Host = {
  name: "node",
  fetch: (input, init) => fetch(input, init),
  codecs: nodeCodecs(),
  backend: () => Promise.reject(new Error("no chains in this host")),
};

/** Every plugin of `kind` the config lists. */
export const pluginsOf = <K extends PluginKind>(kind: K) =>
  config.plugins.filter((p): p is Extract<AnyPlugin, { kind: K }> => p.kind === kind);

/** Sets up one plugin with `settings` on `h`. */
export async function setUp<K extends PluginKind>(p: Extract<AnyPlugin, { kind: K }>, settings = {}, h: Host = host) {
  return (await p.setup(pluginConfig(p, settings) as never, h)) as HooksByKind[K];
}

/** Options with every default filled in (core and plugins'), plus `over`. */
export const options = (over: Record<string, unknown> = {}): RequestOptions => Options.parse(over) as RequestOptions;

/**
 * Fixtures are keyed by plugin name: a plugin listed in the config without one fails its
 * kind's contract suite, so no plugin skips the contract.
 */
export function fixtureFor<T>(fixtures: Record<string, T>, name: string): T {
  const f = fixtures[name];
  if (!f) throw new Error(`no contract fixture for plugin ${name}: add one to this suite`);
  return f;
}
