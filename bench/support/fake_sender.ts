/**
 * @module The transport edge of the in-process transaction benches: one UDP flow on
 * loopback and a sender that completes every send at once, as a UDP socket that accepted
 * the datagram, handing each message to a hook (count it, serialize it). Opens no socket.
 * Also the full GC the memory measurements call between phases.
 */
import type { SipMessage } from "../../src/sip/message.ts";
import type { Flow, MessageSender, Target } from "../../src/transport/types.ts";

/** The flow every benched request arrives on. */
export const BENCH_FLOW: Flow = {
  id: "udp:bench",
  transport: "udp",
  local: { host: "127.0.0.1", port: 5060 },
  remote: { host: "127.0.0.1", port: 40000 },
  reliable: false,
  secure: false,
};

/** Resolves every send at once on `BENCH_FLOW`; `onSend` sees each message first. */
export class InstantSender implements MessageSender {
  #onSend: (m: SipMessage) => void;
  #done: Promise<Flow> = Promise.resolve(BENCH_FLOW);
  constructor(onSend: (m: SipMessage) => void = () => {}) {
    this.#onSend = onSend;
  }
  send(m: SipMessage, _t: Target): Promise<Flow> {
    this.#onSend(m);
    return this.#done;
  }
  localAddress() {
    return { host: "127.0.0.1", port: 5060 };
  }
}

/** Full GC when run with --expose-gc, so heap growth is live data only; else nothing. */
export const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
