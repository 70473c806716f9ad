/**
 * @module Abuse bans for operators: `GET /bans` lists the source addresses banned now
 * (why, until when, which accounts failed), `DELETE /bans/{address}` lifts one ban and
 * forgets that address's failures and repeat count. The rule itself lives in the abuse
 * guard (transport/abuse_guard.ts); this file only reads and lifts.
 */
import type { Hono } from "hono";
import { addressGroups } from "../sip/cidr.ts";
import type { ApiServer } from "./app.ts";
import { ApiError, invalidField } from "./errors.ts";

export function banRoutes(app: Hono, server: ApiServer): void {
  app.get("/bans", (c) => {
    const bans = server.abuse.bans();
    return c.json({ count: bans.length, bans });
  });

  app.delete("/bans/:address", (c) => {
    const text = decodeURIComponent(c.req.param("address"));
    const wanted = addressGroups(text)?.join(":");
    if (wanted === undefined) throw invalidField("address", `'${text}' is not an IP address`);
    // Compared as numbers, so any spelling of an IPv6 address (or IPv4-mapped) matches.
    const ban = server.abuse.bans().find((b) => addressGroups(b.address)?.join(":") === wanted);
    if (!ban || !server.abuse.unban(ban.address)) {
      throw new ApiError(404, "not_found", `no ban on ${text}`);
    }
    return c.body(null, 204);
  });
}
