/**
 * The socket protocol's frames (docs/protocol.md, version 1). The data of every frame,
 * request and reply is generated from the server's AsyncAPI document
 * (`src/generated/protocol.ts`); this module adds the envelopes.
 */
import type { ClassKind, FeedKind, FeedOrNoticeKind, NoticeKind, Requests, ServerFrameData } from "./generated/protocol.js";

export type * from "./generated/protocol.js";

/** An event of the user's own feed: sequenced by the user's `seq`, replayed on resume. */
export interface FeedFrame<T extends string = string, D = Record<string, unknown>> {
  seq: number;
  type: T;
  at: string;
  data: D;
}

/** An event of a class the socket takes part in: sequenced by the class's own `class_seq`. */
export interface ClassFrame<T extends string = string, D = Record<string, unknown>> {
  class_seq: number;
  class_id: string;
  type: T;
  at: string;
  data: D;
}

/** A notice: concerns the moment, has no sequence and is never replayed. */
export interface NoticeFrame<T extends string = string, D = Record<string, unknown>> {
  type: T;
  at: string;
  data: D;
}

export type ServerFrame = FeedFrame | ClassFrame | NoticeFrame;

/** What a handler of `type` receives. */
export type FrameOf<T extends keyof ServerFrameData> = T extends ClassKind
  ? ClassFrame<T, ServerFrameData[T]> | FeedFrame<T, ServerFrameData[T]>
  : T extends FeedKind
    ? FeedFrame<T, ServerFrameData[T]>
    : T extends FeedOrNoticeKind
      ? FeedFrame<T, ServerFrameData[T]> | NoticeFrame<T, ServerFrameData[T]>
      : T extends NoticeKind
        ? NoticeFrame<T, ServerFrameData[T]>
        : ServerFrame;

/** A request type and its data, reply. */
export type RequestType = keyof Requests;

/** A reply frame: `{reply_to, ok, data}` or `{reply_to, error}`. */
export interface ReplyFrame {
  reply_to: number | null;
  ok?: boolean;
  data?: unknown;
  error?: { code: string; message: string; details?: Record<string, unknown> };
}

/** Close codes (docs/protocol.md, "Limits and close codes"). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  tooBig: 1009,
  internal: 1011,
  unauthorized: 4001,
  notAUser: 4003,
  rateLimited: 4008,
  tooSlow: 4009,
  tooManySockets: 4010,
} as const;
