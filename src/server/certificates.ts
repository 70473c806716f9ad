/**
 * @module The TLS/WSS certificate of a running server: reads the pair named by the config,
 * logs its expiry (a warning within `EXPIRY_WARNING_DAYS`, and again daily), and applies a
 * changed pair to new handshakes at reload or when the files change on disk (ACME renewals).
 */
import type { Config } from "../config/config.ts";
import { Logger } from "../log.ts";
import {
  type CertificateInfo,
  certificateInfo,
  daysLeft,
  EXPIRY_WARNING_DAYS,
} from "../transport/certificate.ts";
import { type FileWatch, watchFiles } from "../transport/file_watch.ts";
import type { TlsCredentials } from "../transport/listener.ts";

const log = new Logger("server");

function usesTls(config: Config): boolean {
  return config.tlsPort !== undefined || config.wssPort !== undefined;
}

/** Reads and parses the pair; throws naming both files when either is unusable. */
export async function readTls(
  config: Config,
): Promise<{ tls: TlsCredentials; info: CertificateInfo } | undefined> {
  if (!usesTls(config)) return undefined;
  try {
    const tls = {
      cert: await Deno.readTextFile(config.certificate),
      key: await Deno.readTextFile(config.privateKey),
    };
    return { tls, info: certificateInfo(tls.cert) };
  } catch (error) {
    throw new Error(
      `cannot read certificate ${config.certificate} / key ${config.privateKey}: ${String(error)}`,
    );
  }
}

/** One log line about the loaded certificate; a warning when it expires within 14 days. */
function logCertificate(info: CertificateInfo): void {
  const days = daysLeft(info);
  const text = `certificate ${info.subject} for ${info.names.join(", ")} expires ` +
    `${new Date(info.notAfter).toISOString()} (${days} days)`;
  if (days < EXPIRY_WARNING_DAYS) log.warn(`${text}: renew it`);
  else log.info(text);
}

export class CertificateKeeper {
  #info?: CertificateInfo;
  #loaded?: TlsCredentials;
  readonly #config: () => Config;
  readonly #apply: (tls: TlsCredentials) => Promise<void>;
  #watch?: FileWatch;
  #reminder?: ReturnType<typeof setInterval>;

  /** `apply` hands a new pair to the listeners (the transport's `reloadCertificates`). */
  constructor(
    loaded: { tls: TlsCredentials; info: CertificateInfo } | undefined,
    config: () => Config,
    apply: (tls: TlsCredentials) => Promise<void>,
  ) {
    this.#info = loaded?.info;
    this.#loaded = loaded?.tls;
    this.#config = config;
    this.#apply = apply;
  }

  /** The certificate TLS and WSS present now (undefined without TLS/WSS). */
  get info(): CertificateInfo | undefined {
    return this.#info;
  }

  /** Logs the certificate and starts watching its files and its expiry (the server started). */
  start(): void {
    const certificate = this.#info;
    if (!certificate) return;
    logCertificate(certificate);
    const config = this.#config;
    // ACME clients renew the files in place: pick the new pair up without a SIGHUP.
    if (config().certificatePoll > 0) {
      this.#watch = watchFiles(
        () => [config().certificate, config().privateKey],
        config().certificatePoll * 1000,
        () =>
          this.reload("changed on disk").catch((error) =>
            log.error(`certificate change refused, keeping the current one: ${error}`)
          ),
      );
    }
    // A server that runs for months crosses the 14-day line without a reload: say so daily.
    this.#reminder = setInterval(() => {
      const info = this.#info;
      if (info && daysLeft(info) < EXPIRY_WARNING_DAYS) logCertificate(info);
    }, 86_400_000);
    Deno.unrefTimer(this.#reminder);
  }

  /** Applies the pair on disk to new TLS/WSS handshakes; a bad pair leaves the current one. */
  async reload(why: string): Promise<void> {
    const next = await readTls(this.#config());
    if (!next) return;
    // The same pair again (a reload after the watch took it, a touched file): no listener
    // swap, whose instant of re-binding would refuse a connection attempt for nothing.
    if (next.tls.cert === this.#loaded?.cert && next.tls.key === this.#loaded?.key) return;
    await this.#apply(next.tls);
    this.#loaded = next.tls;
    this.#info = next.info;
    log.info(`certificate reloaded (${why})`);
    logCertificate(next.info);
  }

  close(): void {
    this.#watch?.close();
    clearInterval(this.#reminder);
  }
}
