/** A throwaway server started for a drill or a demo: its URL, where it lives, and how to stop and remove it. */
export interface ScratchServer {
  /** What a client needs to connect, credentials included: never log it (redactUrl). */
  url: string;
  /** Where it lives and how to reach it, for a report that keeps it (--keep): never a password (name the file holding it). */
  where: string;
  stop(): Promise<void>;
}
