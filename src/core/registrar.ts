/**
 * @module The registrar (RFC 3261 §10.3) with Outbound (RFC 5626) and Path (RFC 3327):
 * authenticates REGISTER, validates Contact/Expires, updates the location service and
 * answers 200 listing every current contact with its `expires`. Storage of bindings and
 * their expiry live in location.ts; digest checks in challenge.ts.
 */
import type { Config } from "../config/config.ts";
import { SipError } from "../sip/errors.ts";
import { newTag } from "../sip/ids.ts";
import { createResponse, digitsValue, type SipRequest, type SipResponse } from "../sip/message.ts";
import { type NameAddr } from "../sip/name_addr.ts";
import { formatParams, unquote } from "../sip/params.ts";
import { formatUri, type SipUri } from "../sip/uri.ts";
import type { Flow } from "../transport/types.ts";
import { authenticate, type ChallengeDeps } from "./challenge.ts";
import { servesDomain } from "./domains.ts";
import { type Binding, bindingKey, type ContactFields, contactFields } from "./binding.ts";
import type { BindingReader, LocationStore } from "./binding.ts";

export interface RegistrarDeps extends ChallengeDeps {
  location: LocationStore;
  /** Every node's bindings, for the 200's Contact list (the location store when alone). */
  registrations?: BindingReader;
  config: () => Config;
  now?: () => number;
}

interface ContactUpdate {
  contact: NameAddr;
  expires: number;
}

/** What a REGISTER's To URI names (§10.3 step 1). */
interface AddressOfRecord {
  user: string;
  domain: string;
  /** `user@domain`, the location store's key. */
  aor: string;
}

/** What a binding takes from its Contact alone, whatever the REGISTER around it. */
interface ContactDerived {
  instance: string | undefined;
  regId: number | undefined;
  fields: ContactFields;
  /** The Contact's header params but `expires`, as the 200 lists them. */
  params: string;
}

/** One REGISTER being applied: whose bindings, from where, at what time. */
interface Registration {
  aor: string;
  domain: string;
  user: string;
  flow: Flow;
  request: SipRequest;
  now: number;
  /** Read once per REGISTER, not once per Contact. */
  callId: string;
  cseq: number;
  userAgent: string | undefined;
}

/**
 * A binding's last Contact text in a 200 (see #contactValue), kept on the binding object
 * under a symbol: not part of the record (never stored, copied to a worker or shown). Not a
 * WeakMap keyed by the binding: V8's scavenges treat a WeakMap's values as reachable, so
 * each replaced binding's text was promoted to old space and died there
 * (docs/performance.md, "Memory bounded by design").
 */
const REPLY = Symbol("Contact text in a 200");
type Replied = Binding & { [REPLY]?: ContactReply };
/** A binding's value in a 200 while its `expires` reads `remaining`, alone and as a list's next item. */
interface ContactReply {
  remaining: number;
  text: string;
  /** `, ` + text: appended to the list with one concatenation, not two. */
  next: string;
}

export class Registrar {
  #deps: RegistrarDeps;
  #now: () => number;
  /**
   * To URI → its AOR, and Contact → its binding fields. Both parses are shared between
   * messages (parseNameAddrShared) and read-only, so the object is the key: a UA's
   * authenticated retry and every refresh reuse what its first REGISTER computed.
   */
  #aors = new WeakMap<SipUri, AddressOfRecord>();
  #contacts = new WeakMap<NameAddr, ContactDerived>();
  /** The last several-binding Contact list a 200 sent, with the binding texts it joined. */
  #lastList: { texts: string[]; list: string } | undefined;

  constructor(deps: RegistrarDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  /**
   * Handles one REGISTER (RFC 3261 §10.3) in its steps: the AOR, authentication, the
   * contact updates applied to the location store, the 200 listing every binding. Throws
   * SipError for failures that map to a plain status.
   */
  handle(request: SipRequest, flow: Flow): SipResponse {
    const { user, domain, aor } = this.#addressOfRecord(request);
    const auth = authenticate(this.#deps, request, domain, "www", flow);
    if ("response" in auth) return auth.response;
    // §10.3 step 3: the authenticated identity must own the AOR.
    if (auth.user !== user) throw new SipError(403, "Forbidden: Not Your AOR");
    const path = request.getAll("path");
    const updates = this.#contactUpdates(request, this.#deps.config().sip);
    const now = this.#now();
    // A late retransmission of the REGISTER accepted last (its transaction is gone): it was
    // applied then (or refused above, again); answered with the bindings as they are.
    if (auth.repeat) return this.#answer(request, aor, now, path);
    if (updates === "*") {
      for (const b of this.#deps.location.lookup(aor)) {
        this.#deps.location.remove(b, "unregistered");
      }
    } else {
      const registration: Registration = {
        aor,
        domain,
        user,
        flow,
        request,
        now,
        callId: request.callId,
        cseq: request.cseq.seq,
        userAgent: request.get("user-agent"),
      };
      // Each binding gets its own Path list; the usual single Contact takes this one.
      for (let i = 0; i < updates.length; i++) {
        this.#apply(registration, updates[i], i === 0 ? path : path.slice());
      }
    }
    return this.#answer(request, aor, now, path);
  }

  /** §10.3 steps 1-2: the To URI names the AOR, of a domain we serve. */
  #addressOfRecord(request: SipRequest): AddressOfRecord {
    const uri = request.to.uri;
    let known = this.#aors.get(uri);
    if (known === undefined) {
      if (!uri.user) throw new SipError(400, "To Has No User");
      known = { user: uri.user, domain: uri.host, aor: `${uri.user}@${uri.host}` };
      this.#aors.set(uri, known);
    }
    // Served domains change at run time (config reload, API): asked every time.
    if (!servesDomain(this.#deps.config().sip.domains, this.#deps.store, known.domain)) {
      throw new SipError(403, "Domain Not Served");
    }
    return known;
  }

  /** The binding fields of a Contact, computed on its first REGISTER (see #contacts). */
  #contactDerived(contact: NameAddr): ContactDerived {
    let derived = this.#contacts.get(contact);
    if (derived !== undefined) return derived;
    const instanceParam = contact.params.get("+sip.instance") ?? undefined;
    const regIdText = contact.params.get("reg-id");
    const regId = regIdText ? Number(regIdText) : undefined;
    const instance = instanceParam ? unquote(instanceParam) : undefined;
    const uri = contact.uri;
    const key = bindingKey({ instance, regId, contactUri: uri });
    let params = contact.params;
    if (params.has("expires")) {
      params = new Map(params);
      params.delete("expires");
    }
    derived = {
      instance,
      regId,
      fields: contactFields(formatUri(uri), uri, { instance, regId }, key),
      params: formatParams(params),
    };
    this.#contacts.set(contact, derived);
    return derived;
  }

  /** §10.3 steps 7-8: adds, refreshes or removes the binding of one Contact. */
  #apply(r: Registration, { contact, expires }: ContactUpdate, path: string[]): void {
    const { location } = this.#deps;
    const { callId, cseq } = r;
    const derived = this.#contactDerived(contact);
    const { fields, instance, regId } = derived;
    const key = fields.key;
    const existing = location.get(r.aor, key);
    // §10.3 step 7: an older CSeq within the same Call-ID must not undo a newer update.
    if (existing && existing.callId === callId && existing.cseq > cseq) return;
    if (expires === 0) {
      if (existing) location.remove(existing, "unregistered");
      return;
    }
    // Every field written out (no spread): each binding gets the same object shape.
    const binding: Binding = {
      aor: r.aor,
      domain: r.domain,
      user: r.user,
      contact: fields.contact,
      key,
      contactHost: fields.contactHost,
      contactUser: fields.contactUser,
      contactPort: fields.contactPort,
      contactAddress: fields.contactAddress,
      contactParams: derived.params,
      flow: r.flow,
      callId,
      cseq,
      expiresAt: r.now + expires * 1000,
      registeredAt: existing?.registeredAt ?? r.now,
      instance,
      regId,
      path,
      userAgent: r.userAgent,
      outstandingPings: 0,
    };
    // A refresh of the same Contact lists the same text in the 200 while its `expires`
    // reads the same: the text the binding it replaces kept goes on (see #contactValue).
    const reply = (existing as Replied | undefined)?.[REPLY];
    if (
      reply !== undefined && existing!.contact === binding.contact &&
      existing!.contactParams === binding.contactParams
    ) (binding as Replied)[REPLY] = reply;
    location.save(binding);
  }

  /** §10.3 step 8: 200 with every current contact and its expires (plus Outbound, Path). */
  #answer(request: SipRequest, aor: string, now: number, path: string[]): SipResponse {
    const response = createResponse(request, 200, undefined, newTag());
    const bindings = (this.#deps.registrations ?? this.#deps.location).lookup(aor);
    if (bindings.length === 1) {
      // A lone binding is new at each of its refreshes: nothing to reuse, nothing to keep.
      response.append("Contact", contactText(bindings[0], remainingOf(bindings[0], now)));
    } else if (bindings.length > 1) {
      // One Contact line listing them all, comma-separated (§7.3.1, §20.10), as Kamailio's
      // registrar writes it: a line per binding cost a header and its serialization each.
      response.append("Contact", this.#contactList(bindings, now));
    }
    const supported = request.getAll("supported");
    if (this.#outboundRequested(request, supported)) response.append("Require", "outbound");
    if (path.length > 0 && supports(supported, "path")) {
      for (const p of path) response.append("Path", p);
    }
    response.append("Date", httpDate(now));
    return response;
  }

  /**
   * The Contact list of a 200 for several bindings. While none of their texts changed
   * (same bindings or refreshes of them, each `expires` reading the same) it is the list
   * the last 200 sent, already flat from its serialization, not joined again.
   */
  #contactList(bindings: Binding[], now: number): string {
    const n = bindings.length;
    const last = this.#lastList;
    if (last !== undefined && last.texts.length === n) {
      let i = 0;
      while (
        i < n &&
        this.#contactValue(bindings[i], remainingOf(bindings[i], now)).text === last.texts[i]
      ) i++;
      if (i === n) return last.list;
    }
    const texts: string[] = new Array(n);
    let list = "";
    for (let i = 0; i < n; i++) {
      const reply = this.#contactValue(bindings[i], remainingOf(bindings[i], now));
      texts[i] = reply.text;
      list = i === 0 ? reply.text : list + reply.next;
    }
    this.#lastList = { texts, list };
    return list;
  }

  /**
   * `<contact>params;expires=N` of a binding in a 200. An AOR with many contacts lists them
   * all in every 200 while only the one registering changes, so each binding keeps its
   * text (and its `, `-prefixed form) for as long as its `expires` reads the same
   * (bindings are replaced, never modified, so the object holds it).
   */
  #contactValue(b: Replied, remaining: number): ContactReply {
    const kept = b[REPLY];
    if (kept !== undefined && kept.remaining === remaining) return kept;
    const text = contactText(b, remaining);
    const next = ", " + text;
    if (kept === undefined) return b[REPLY] = { remaining, text, next };
    kept.remaining = remaining;
    kept.text = text;
    kept.next = next;
    return kept;
  }

  /** Contact list with effective expires, or "*" for remove-all (§10.3 step 6). */
  #contactUpdates(request: SipRequest, config: Config["sip"]): ContactUpdate[] | "*" {
    const contacts = request.contactList;
    const expiresHeader = request.get("expires");
    let headerExpires: number | undefined;
    if (expiresHeader !== undefined) {
      // The usual bare digits by hand; padded or long values through the full pattern.
      headerExpires = digitsValue(expiresHeader, 0, expiresHeader.length);
      if (headerExpires === undefined) {
        if (!/^\s*\d+\s*$/.test(expiresHeader)) throw new SipError(400, "Bad Expires");
        headerExpires = Number(expiresHeader);
      }
    }
    if (hasWildcard(contacts)) {
      if (contacts.length !== 1 || headerExpires !== 0) {
        throw new SipError(400, "Bad Wildcard Contact");
      }
      return "*";
    }
    // Sized up front: a push onto [] would reserve room for 17.
    const updates: ContactUpdate[] = new Array(contacts.length);
    for (let i = 0; i < contacts.length; i++) {
      const contact = contacts[i];
      const param = contact.params.get("expires");
      let expires = headerExpires ?? config.defaultExpires;
      if (param !== undefined && param !== null) {
        const value = digitsValue(param, 0, param.length);
        if (value === undefined && !/^\d+$/.test(param)) {
          throw new SipError(400, "Bad Contact Expires");
        }
        expires = value ?? Number(param);
      }
      if (expires > 0 && expires < config.minExpires) {
        throw new SipError(423, "Interval Too Brief", [["Min-Expires", String(config.minExpires)]]);
      }
      updates[i] = { contact, expires: Math.min(expires, config.maxExpires) };
    }
    return updates;
  }

  /** RFC 5626 §6: the UA asked for outbound and we are its first hop. */
  #outboundRequested(request: SipRequest, supported: string[]): boolean {
    if (!supports(supported, "outbound")) return false;
    const firstHop = request.getAll("via").length === 1 || request.has("path");
    return firstHop &&
      request.contactList.some((c) => c.params.has("reg-id") && c.params.has("+sip.instance"));
  }
}

function hasWildcard(contacts: readonly NameAddr[]): boolean {
  for (let i = 0; i < contacts.length; i++) if (contacts[i].wildcard) return true;
  return false;
}

/** Seconds a binding has left, as a 200 states it (at least 1). */
function remainingOf(b: Binding, now: number): number {
  return Math.max(1, Math.round((b.expiresAt - now) / 1000));
}

/** A binding's value in a 200's Contact list. */
function contactText(b: Binding, remaining: number): string {
  return `<${b.contact}>${b.contactParams};expires=${remaining}`;
}

/** True when a Supported value (every one of the request's, comma lists split) names `option`. */
function supports(supported: string[], option: string): boolean {
  for (const value of supported) if (value.trim().toLowerCase() === option) return true;
  return false;
}

/** RFC 1123 date of the current second, formatted once per second, not per REGISTER. */
let dateSecond = -1;
let dateText = "";
function httpDate(now: number): string {
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}
