/**
 * @module The flows of one UDP socket, by remote address: cheap to keep, they are just
 * labels for UDP. Shared by the socket's own transport and by a worker sending on its
 * descriptor, so both hand out the same flow for the same peer.
 */
import { udpFlowId } from "./flow_id.ts";
import type { Address, Flow, FlowOwner } from "./types.ts";

/** Bounded: a flood of spoofed sources must not grow memory without limit. */
const MAX_FLOWS = 100_000;

export class UdpFlows {
  #flows = new Map<string, Flow>();

  /** The flow from `local` (owned by `owner`) to `host:port`, made on first use. */
  flowTo(owner: FlowOwner, local: Address, host: string, port: number): Flow {
    const key = `${host}:${port}`;
    let flow = this.#flows.get(key);
    if (!flow) {
      const remote = { host, port };
      flow = {
        id: udpFlowId(owner, local, remote),
        owner,
        transport: "udp",
        local,
        remote,
        reliable: false,
        secure: false,
      };
      if (this.#flows.size > MAX_FLOWS) this.#flows.clear();
      this.#flows.set(key, flow);
    }
    return flow;
  }
}
