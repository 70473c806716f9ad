/**
 * @module What the server does when a connection ends: the bindings that go with it are
 * removed (`sip.tcp_bindings`), and `flow.closed` (plus `ws.closed`, saying how a WebSocket
 * ended and which AORs were bound on it) is announced.
 */
import { goesWithFlow, type TcpBindingsRule } from "../core/binding_reach.ts";
import type { LocationService } from "../core/location.ts";
import type { EventBus } from "../events.ts";
import type { Connection } from "../transport/connection.ts";
import type { Flow } from "../transport/types.ts";

/** The transport's `onFlowClosed`; `rule` is read at each close (it changes at reload). */
export function flowClosedHandler(
  location: LocationService,
  events: EventBus,
  rule: () => TcpBindingsRule,
): (flow: Flow, connection: Connection) => void {
  return (flow, connection) => {
    const info = connection.closeInfo;
    // Read before removeFlow: the event names the AORs that were bound on the connection.
    const aors = info ? location.aorsOnFlow(flow.id) : [];
    location.removeFlow(flow.id, (b) => goesWithFlow(b, rule()));
    events.emit({ type: "flow.closed", flow });
    if (info && (flow.transport === "ws" || flow.transport === "wss")) {
      events.emit({
        type: "ws.closed",
        closed: {
          id: flow.id,
          transport: flow.transport,
          remote: { ...flow.remote },
          ...info,
          aors,
        },
      });
    }
  };
}
