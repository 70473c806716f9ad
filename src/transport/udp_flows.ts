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
  /** By host, then port: a lookup builds no key string. */
  #flows = new Map<string, Map<number, Flow>>();
  #count = 0;

  /** The flow from `local` (owned by `owner`) to `host:port`, made on first use. */
  flowTo(owner: FlowOwner, local: Address, host: string, port: number): Flow {
    let ports = this.#flows.get(host);
    let flow = ports?.get(port);
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
      if (++this.#count > MAX_FLOWS) {
        this.#flows.clear();
        this.#count = 1;
        ports = undefined;
      }
      if (!ports) this.#flows.set(host, ports = new Map());
      ports.set(port, flow);
    }
    return flow;
  }
}
