/**
 * @module The labels of the per-message counters (`sip_messages_in_total`,
 * `sip_messages_out_total`): transport plus method or status. One shared object per
 * combination instead of a new object (and a spread) per message; methods and statuses seen
 * are few, and the table is bounded against floods of odd method names. `MessageCounter`
 * keeps each label set's live counter entry too, so counting a message is one lookup.
 */
import type { Counters } from "../events.ts";
import type { SipMessage } from "../sip/message.ts";
import type { TransportName } from "./types.ts";

type Labels = Readonly<Record<string, string>>;

const MAX_ENTRIES = 1024;
const byTransport = new Map<TransportName, Map<string | number, Labels>>();
let entries = 0;

/** `{transport, method}` for a request, `{transport, status}` for a response. Do not mutate. */
export function messageLabels(transport: TransportName, message: SipMessage): Labels {
  let table = byTransport.get(transport);
  if (table === undefined) byTransport.set(transport, table = new Map());
  const what = message.isRequest ? message.method : message.status;
  let labels = table.get(what);
  if (labels === undefined) {
    labels = message.isRequest
      ? { transport, method: message.method }
      : { transport, status: String(message.status) };
    if (entries < MAX_ENTRIES) {
      table.set(what, labels);
      entries++;
    }
  }
  return labels;
}

/** One per-message counter (`sip_messages_in_total` or `_out_total`) of one `Counters`. */
export class MessageCounter {
  readonly #counters: Counters;
  readonly #name: string;
  readonly #byTransport = new Map<TransportName, Map<string | number, { value: number }>>();
  #entries = 0;

  constructor(counters: Counters, name: string) {
    this.#counters = counters;
    this.#name = name;
  }

  /** Adds one for `message` under its transport and method or status. */
  count(transport: TransportName, message: SipMessage): void {
    this.add(this.entry(transport, message));
  }

  /** Adds one to an `entry` of this counter (a send's, once it settles). */
  add(entry: { value: number }): void {
    entry.value++;
    this.#counters.changed();
  }

  /** The live entry `count` adds to: held instead of the message until a send settles. */
  entry(transport: TransportName, message: SipMessage): { value: number } {
    let table = this.#byTransport.get(transport);
    if (table === undefined) this.#byTransport.set(transport, table = new Map());
    const what = message.isRequest ? message.method : message.status;
    let entry = table.get(what);
    if (entry === undefined) {
      entry = this.#counters.entry(this.#name, messageLabels(transport, message));
      if (this.#entries < MAX_ENTRIES) {
        table.set(what, entry);
        this.#entries++;
      }
    }
    return entry;
  }
}
