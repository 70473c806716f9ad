/**
 * @module The in-process sipws of the CPU-path benches (bench/core_path.ts,
 * bench/support/in_process_call.ts): `root`'s server on one worker and a free UDP port,
 * its transport's `send` replaced by one that serializes each message and hands the text
 * to `onSent` (no sockets). `root` is the checkout to load, for A/B runs. Not part of the
 * product.
 */
const decoder = new TextDecoder();

export interface InProcessServer {
  // deno-lint-ignore no-explicit-any
  server: any;
  /** The UDP port the server's flows name as their local end. */
  udpPort: number;
  stop(): Promise<void>;
}

/** `root`'s server on one worker and a free UDP port, its sockets real. */
export async function startLocalServer(
  root: string,
  prefix: string,
  // deno-lint-ignore no-explicit-any
  configure: (config: any) => void,
): Promise<InProcessServer> {
  const { defaultConfig } = await import(`${root}/src/config/config.ts`);
  const { startServer } = await import(`${root}/src/server.ts`);
  const { freePorts } = await import(`${root}/tests/support/ports.ts`);
  const dir = await Deno.makeTempDir({ prefix });
  const config = defaultConfig();
  config.interface = "127.0.0.1";
  config.foreground = true;
  config.storePath = `${dir}/sipws.db`;
  config.udpPort = freePorts(1)[0];
  // One thread: this prices the single-thread path.
  config.workers = 1;
  configure(config);
  const server = await startServer(config);
  return {
    server,
    udpPort: config.udpPort,
    async stop() {
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** As {@link startLocalServer}, every message it sends handed to `onSent` as text instead. */
export async function startInProcessServer(
  root: string,
  prefix: string,
  // deno-lint-ignore no-explicit-any
  configure: (config: any) => void,
  onSent: (text: string) => void,
): Promise<InProcessServer> {
  const local = await startLocalServer(root, prefix, configure);
  // deno-lint-ignore no-explicit-any
  local.server.transport.send = (message: { toBytes(): Uint8Array }, target: any) => {
    onSent(decoder.decode(message.toBytes()));
    return Promise.resolve(target.flow);
  };
  return local;
}
