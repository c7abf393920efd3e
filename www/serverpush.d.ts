// Type declarations of serverpush.js, the browser client of serverpush's channels.
// The same API is the global `serverpush` (classic script) and the exports of serverpush.mjs.

/** A channel message, as the server sends it. */
export interface Message {
  /** The channel's name ("" for a unit of a program without channels, such as nph-clock). */
  channel: string;
  /** Its id within the channel: 1, 2, 3, … (a store reset starts again from 1, after a missed). */
  id: number;
  /** When it was published, RFC 3339 with milliseconds. */
  time: string;
  /** Its content type, such as "text/plain; charset=utf-8". */
  type: string;
  /** Its text. */
  data: string;
}

/** "connecting": a request is on its way; "live": messages flow; "backoff": waiting `delay` ms
 * before the next try (of the connection, or of a follower's read of the history it needs);
 * "closed": after close(). */
export type State = "connecting" | "live" | "backoff" | "closed";

/** "leader" holds the tab group's one connection; "follower" gets the leader's relays and
 * reports the leader's state, or its own "backoff"; "alone": not shared. */
export type Role = "leader" | "follower" | "alone";

export type Transport = "sse" | "longpoll" | "iframe";

export interface Status {
  state: State;
  role: Role;
  /** The transport in use (the leader's, for a follower). */
  transport: Transport;
  /** In "backoff": milliseconds until the next try. */
  delay?: number;
}

export interface Missed {
  /** The channels that lost messages, or null when the server did not say which. */
  channels: string[] | null;
}

export interface SubscribeOptions {
  /** Every message once, in order. */
  onmessage?: (message: Message) => void;
  /** Retention dropped messages after this client's position; delivery goes on from the
   * oldest message kept. */
  onmissed?: (info: Missed) => void;
  /** Every change of state or role. */
  onstatus?: (status: Status) => void;
  /** "auto" (default): SSE, falling back to long-poll when SSE cannot work. */
  transport?: "auto" | Transport;
  /** A cursor to start after ("chat:0": everything retained); default: new messages only. */
  since?: string;
  /** A bearer token: the Authorization header where possible, `token=` otherwise. */
  token?: string;
  /** true (default): one connection per browser for tabs subscribing alike. */
  shared?: boolean;
  /** true: keep the cursor in sessionStorage, so a reload resumes from it. */
  persist?: boolean;
}

export interface Subscription {
  /** Ends the subscription; a leader hands its connection to another tab. */
  close(): void;
}

export interface PublishOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Default: text/plain for a string, application/json for any other value. */
  contentType?: string;
}

export function subscribe(
  endpoint: string,
  channels: string | string[],
  options?: SubscribeOptions,
): Subscription;

/** Resolves to the stored message's id; rejects with the server's reason. */
export function publish(
  endpoint: string,
  channel: string,
  data: unknown,
  options?: PublishOptions,
): Promise<number>;

export interface ServerPush {
  subscribe: typeof subscribe;
  publish: typeof publish;
  /** Called by the iframe transport's forever frame; not for pages. */
  receive(...args: unknown[]): void;
}

declare const serverpush: ServerPush;
export default serverpush;

declare global {
  /** Defined by `<script src="serverpush.js">`. */
  var serverpush: ServerPush;
}
