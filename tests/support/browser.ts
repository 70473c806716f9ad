/**
 * @module Headless Chromium for integration tests, isolated in a network namespace that
 * has only `lo`, so WebRTC gathers loopback candidates only and media never leaves the
 * machine. Playwright (npm `playwright-core`) launches a generated wrapper script instead
 * of /usr/bin/chromium; the script enters a new netns (`unshare --net`, root only), brings
 * `lo` up, starts tests/support/netns_relay.ts in that netns and then execs Chromium with
 * Playwright's flags (the CDP pipe on fds 3/4 survives the execs). Test servers stay on
 * the host's loopback: for each relayed port a host-side listener on a filesystem unix
 * socket forwards to 127.0.0.1:PORT, and the netns side listens on its own 127.0.0.1:PORT,
 * so the browser uses the same URLs (ws://127.0.0.1:PORT, wss://..., http://...) as a
 * host client would. Every page is opened on a blank http://127.0.0.1 page served by this
 * module (a secure context, which getUserMedia and WebRTC need). This module never talks
 * to the SIP server itself and never leaves a browser, relay or temp dir behind after
 * `close()`.
 */

import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { relaySocketPath, splice } from "./netns_relay.ts";
import { freePort } from "./ports.ts";
import { runCommand } from "./process.ts";

/** The Chromium binary (Debian package `chromium`). */
export const CHROMIUM = "/usr/bin/chromium";

/** Flags every test browser gets (Playwright adds its own automation flags). */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--allow-loopback-in-peer-connection",
  "--use-fake-ui-for-media-stream",
  "--use-fake-device-for-media-stream",
  "--ignore-certificate-errors",
  // Real host candidates (127.0.0.1), not mDNS names nobody in the netns can resolve.
  "--disable-features=WebRtcHideLocalIpsWithMdns",
];

const RELAY_SCRIPT = new URL("./netns_relay.ts", import.meta.url).pathname;
const REPO_ROOT = new URL("../../", import.meta.url).pathname;

/** Options for `launchBrowser`. */
export interface LaunchOptions {
  /** Host loopback TCP ports the browser must reach (WS, WSS, HTTP of the server). */
  relayPorts?: number[];
  /**
   * The host-side address a relayed port leads to, when not 127.0.0.1 (e.g. cluster nodes
   * on 127.0.0.2 and .3); the browser still uses ws://127.0.0.1:PORT.
   */
  relayHosts?: Record<number, string>;
  /** Bound for the launch itself. Default 30 s. */
  timeoutMs?: number;
}

/** A running test browser. */
export interface BrowserHandle extends AsyncDisposable {
  readonly browser: Browser;
  /** URL of the blank secure-context page every `newPage()` starts on. */
  readonly pageUrl: string;
  /**
   * This browser's temp dir (wrapper script, relay sockets, pid files). Chromium and the
   * netns relay carry `SIPWS_RELAY_DIR=<workDir>` in their environment.
   */
  readonly workDir: string;
  /**
   * A new page in its own browser context (separate cookies/storage: one per simulated
   * user), already navigated to `pageUrl`.
   */
  newPage(): Promise<Page>;
  /** Close pages, browser, relays, page server and temp dir. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Throw a clear error unless this process can create a network namespace (root, and
 * `unshare` and `ip` installed). Browser tests call this through `launchBrowser`, so on an
 * unsuitable machine they fail loudly instead of passing silently.
 */
export async function checkNetnsSupport(): Promise<void> {
  if (Deno.uid() !== 0) {
    throw new Error("browser tests need root: Chromium runs in its own network namespace");
  }
  for (const tool of ["/usr/bin/unshare", "/usr/sbin/ip", CHROMIUM]) {
    try {
      await Deno.stat(tool);
    } catch {
      throw new Error(`browser tests need ${tool} (packages util-linux, iproute2, chromium)`);
    }
  }
  const probe = await runCommand("unshare", {
    args: ["--net", "--", "ip", "link", "set", "lo", "up"],
    timeoutMs: 10_000,
  });
  if (probe.code !== 0) {
    throw new Error(`cannot create a network namespace (unshare --net): ${probe.stderr}`);
  }
}

/** Host side of the relay: unix socket per port → host 127.0.0.1:PORT (or `hosts[PORT]`). */
class HostRelay {
  #listeners: Deno.Listener[] = [];
  #conns = new Set<Deno.Conn>();
  #loops: Promise<void>[] = [];
  #hosts: Record<number, string>;

  constructor(dir: string, ports: number[], hosts: Record<number, string> = {}) {
    this.#hosts = hosts;
    for (const port of ports) {
      const listener = Deno.listen({ transport: "unix", path: relaySocketPath(dir, port) });
      this.#listeners.push(listener);
      this.#loops.push(this.#serve(listener, port));
    }
  }

  async #serve(listener: Deno.Listener, port: number): Promise<void> {
    try {
      for await (const inbound of listener) {
        this.#conns.add(inbound);
        Deno.connect({ hostname: this.#hosts[port] ?? "127.0.0.1", port }).then(
          async (outbound) => {
            this.#conns.add(outbound);
            await splice(inbound, outbound);
            this.#conns.delete(inbound);
            this.#conns.delete(outbound);
          },
          () => {
            // Nothing listens on the host port (yet): the browser sees a closed connection.
            this.#conns.delete(inbound);
            inbound.close();
          },
        );
      }
    } catch {
      // Listener closed.
    }
  }

  async close(): Promise<void> {
    for (const l of this.#listeners) {
      try {
        l.close();
      } catch {
        // Already closed.
      }
    }
    for (const c of this.#conns) {
      try {
        c.close();
      } catch {
        // Already closed.
      }
    }
    this.#conns.clear();
    await Promise.all(this.#loops);
  }
}

const BLANK_PAGE = "<!doctype html><html><head><meta charset='utf-8'><title>sipws test</title>" +
  "</head><body></body></html>";

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

function wrapperScript(dir: string, ports: number[]): string {
  const env: Record<string, string> = {
    SIPWS_DENO: Deno.execPath(),
    SIPWS_CHROMIUM: CHROMIUM,
    SIPWS_RELAY_SCRIPT: RELAY_SCRIPT,
    SIPWS_RELAY_PORTS: ports.join(","),
    SIPWS_RELAY_DIR: dir,
    SIPWS_RELAY_READY: `${dir}/relay.ready`,
  };
  const exports = Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`);
  // Inside the namespace: lo up, relay in the background (without the CDP pipe fds 3/4,
  // so Playwright sees the pipe close when Chromium exits), wait for it, exec Chromium.
  const inner = [
    'ip link set lo up || { echo "sipws-browser: ip link set lo up failed" >&2; exit 1; }',
    '"$SIPWS_DENO" run -A --no-config "$SIPWS_RELAY_SCRIPT" 3<&- 4<&- &',
    'echo $! > "$SIPWS_RELAY_DIR/relay.pid"',
    "i=0",
    'while [ ! -e "$SIPWS_RELAY_READY" ]; do',
    "  i=$((i+1))",
    '  if [ $i -gt 300 ]; then echo "sipws-browser: netns relay not ready" >&2; exit 1; fi',
    "  sleep 0.05",
    "done",
    'exec "$SIPWS_CHROMIUM" "$@"',
  ].join("\n");
  return [
    "#!/bin/sh",
    "# Generated by tests/support/browser.ts: Chromium in a network namespace with only lo.",
    ...exports,
    `echo $$ > ${shellQuote(`${dir}/browser.pid`)}`,
    `exec unshare --net -- /bin/sh -c ${shellQuote(inner)} sipws-netns "$@"`,
    "",
  ].join("\n");
}

function killIfOurs(pidFile: string, marker: string): void {
  let pid: number;
  try {
    pid = Number(Deno.readTextFileSync(pidFile).trim());
    // Guard against pid reuse: only a process whose command line we recognise.
    if (!(pid > 0) || !Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes(marker)) return;
  } catch {
    return; // No pid file or process gone.
  }
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // Exited meanwhile.
  }
}

/**
 * Launch headless Chromium in a fresh network namespace that reaches the host loopback
 * ports in `relayPorts` (plus the blank-page server) through the unix-socket relay.
 * Fails with a clear error when not root or `unshare` does not work.
 */
export async function launchBrowser(options: LaunchOptions = {}): Promise<BrowserHandle> {
  await checkNetnsSupport();
  const dir = await Deno.makeTempDir({ prefix: "sipws-browser-" });
  const cleanups: (() => Promise<void> | void)[] = [
    () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  ];
  const runCleanups = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // Best effort: keep cleaning up the rest.
      }
    }
  };
  try {
    const pagePort = freePort("tcp");
    const pageServer = Deno.serve(
      { hostname: "127.0.0.1", port: pagePort, onListen: () => {} },
      () => new Response(BLANK_PAGE, { headers: { "content-type": "text/html" } }),
    );
    cleanups.push(() => pageServer.shutdown());

    const ports = [...new Set([pagePort, ...(options.relayPorts ?? [])])];
    const relay = new HostRelay(dir, ports, options.relayHosts);
    cleanups.push(() => relay.close());

    const wrapper = `${dir}/chromium-netns.sh`;
    await Deno.writeTextFile(wrapper, wrapperScript(dir, ports), { mode: 0o755 });
    cleanups.push(() => {
      killIfOurs(`${dir}/browser.pid`, "chromium");
      killIfOurs(`${dir}/relay.pid`, "netns_relay");
    });

    const browser = await chromium.launch({
      executablePath: wrapper,
      args: [...CHROMIUM_ARGS],
      timeout: options.timeoutMs ?? 30_000,
    });
    cleanups.push(() => browser.close());

    const contexts: BrowserContext[] = [];
    const pageUrl = `http://127.0.0.1:${pagePort}/`;
    const handle: BrowserHandle = {
      browser,
      pageUrl,
      workDir: dir,
      async newPage() {
        const context = await browser.newContext({ ignoreHTTPSErrors: true });
        contexts.push(context);
        const page = await context.newPage();
        await page.goto(pageUrl, { timeout: 15_000 });
        return page;
      },
      async close() {
        for (const c of contexts.splice(0)) await c.close().catch(() => {});
        await runCleanups();
      },
      [Symbol.asyncDispose]() {
        return handle.close();
      },
    };
    return handle;
  } catch (e) {
    await runCleanups();
    throw e;
  }
}

let bundle: Promise<string> | undefined;

/** The JsSIP browser bundle (built once per process with `deno bundle`). */
export function jssipBundle(): Promise<string> {
  bundle ??= (async () => {
    const out = await Deno.makeTempDir({ prefix: "sipws-jssip-" });
    try {
      const result = await runCommand(Deno.execPath(), {
        args: [
          "bundle",
          "--quiet",
          "--platform",
          "browser",
          "--output",
          `${out}/jssip.js`,
          new URL("./jssip_entry.ts", import.meta.url).pathname,
        ],
        cwd: REPO_ROOT,
        timeoutMs: 120_000,
      });
      if (result.code !== 0) {
        throw new Error(`deno bundle of JsSIP failed (code ${result.code}): ${result.stderr}`);
      }
      return await Deno.readTextFile(`${out}/jssip.js`);
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  })();
  bundle.catch(() => {
    bundle = undefined; // let a later call retry
  });
  return bundle;
}

/** Inject JsSIP into `page` as `window.JsSIP` and check it loaded; returns its version. */
export async function loadJsSip(page: Page): Promise<string> {
  await page.addScriptTag({ content: await jssipBundle() });
  const version = await page.evaluate(() => {
    const g = globalThis as unknown as { JsSIP?: { UA?: unknown; version?: string } };
    return typeof g.JsSIP?.UA === "function" ? String(g.JsSIP.version ?? "") : null;
  });
  if (version === null) throw new Error("JsSIP did not load: window.JsSIP.UA is not a function");
  return version;
}

/**
 * Collect the page's console messages and uncaught errors as lines ("console.error: ...",
 * "pageerror: ...") into the returned array, for assertion messages and debugging.
 */
export function capturePageLog(page: Page): string[] {
  const lines: string[] = [];
  page.on("console", (m) => lines.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => lines.push(`pageerror: ${e.message}`));
  return lines;
}
