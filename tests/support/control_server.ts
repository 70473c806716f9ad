/**
 * @module A control server for call-control tests: a `Deno.serve` on loopback
 * that records every call event (`POST /dialog/{callid}`) in arrival order and answers
 * `POST /invite` with whatever decision the test sets (or never, or an error). Waits are
 * bounded.
 */

export interface ReceivedEvent {
  callid: string;
  event: string;
  code?: number;
  reason?: string;
  sdp?: string;
  at: number;
  /** How it came: path, raw body and the signature headers, when signed. */
  wire: { path: string; body: string; timestamp?: string; signature?: string };
}

export class ControlServer {
  readonly events: ReceivedEvent[] = [];
  /** Bodies of `POST /invite`, in order. */
  readonly invites: Record<string, unknown>[] = [];
  /** How each `POST /invite` came (raw body and signature headers), in order. */
  readonly inviteWires: ReceivedEvent["wire"][] = [];
  /** The answer to `POST /invite`: a JSON decision, "silent" (never answers) or "error" (500). */
  decision: Record<string, unknown> | "silent" | "error" = { action: "proxy" };
  /** How many event posts to refuse with 503 first (the retry must deliver them in order). */
  failEvents = 0;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #silent = new Set<() => void>();

  constructor() {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        const path = new URL(req.url).pathname;
        const body = await req.text();
        if (req.method === "POST" && path === "/invite") {
          this.invites.push(JSON.parse(body));
          this.inviteWires.push({
            path,
            body,
            timestamp: req.headers.get("x-sipws-timestamp") ?? undefined,
            signature: req.headers.get("x-sipws-signature") ?? undefined,
          });
          const decision = this.decision;
          if (decision === "error") return new Response("no", { status: 500 });
          if (decision === "silent") {
            // Never answer in time; released when the server closes.
            await new Promise<void>((resolve) => {
              const release = () => resolve();
              this.#silent.add(release);
              setTimeout(() => {
                this.#silent.delete(release);
                resolve();
              }, 5000);
            });
            return Response.json({ action: "reject", code: 603 });
          }
          return Response.json(decision);
        }
        const m = /^\/dialog\/([^/]+)$/.exec(path);
        if (req.method === "POST" && m) {
          if (this.failEvents > 0) {
            this.failEvents--;
            return new Response("busy", { status: 503 });
          }
          const event = JSON.parse(body) as ReceivedEvent;
          const wire = {
            path,
            body,
            timestamp: req.headers.get("x-sipws-timestamp") ?? undefined,
            signature: req.headers.get("x-sipws-signature") ?? undefined,
          };
          this.events.push({ ...event, callid: decodeURIComponent(m[1]), wire });
          return new Response(null, { status: 204 });
        }
        // Registration callbacks (PUT/DELETE /reg/...) are accepted and not looked at.
        return new Response(null, { status: path.startsWith("/reg/") ? 204 : 404 });
      },
    );
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  eventsOf(callid: string): ReceivedEvent[] {
    return this.events.filter((e) => e.callid === callid);
  }

  /** Waits (bounded) for an event of a call; returns it. */
  async waitEvent(callid: string, event: string, timeoutMs = 10_000): Promise<ReceivedEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.eventsOf(callid).find((e) => e.event === event);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(`no ${event} for ${callid}; got ${JSON.stringify(this.eventsOf(callid))}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Waits (bounded) for the first inbound-call offer. */
  async waitInvite(n = 1, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (this.invites.length < n) {
      if (Date.now() > deadline) throw new Error(`${this.invites.length} of ${n} invites offered`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.invites[n - 1];
  }

  async close(): Promise<void> {
    for (const release of this.#silent) release();
    await this.#server.shutdown();
  }
}

/** A minimal audio SDP whose origin names `who` (to find it again in an ACK or 200). */
export function sdpOf(who: string, port = 40000): string {
  return [
    "v=0",
    `o=${who} 1 1 IN IP4 127.0.0.1`,
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    `m=audio ${port} RTP/AVP 0`,
    "a=rtpmap:0 PCMU/8000",
    "",
  ].join("\r\n");
}
