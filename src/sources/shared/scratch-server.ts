/** A throwaway server started for a drill or a demo: its URL, where it lives, and how to stop and remove it. */
export interface ScratchServer {
  url: string;
  /** Where it lives, for a report that keeps it (--keep). */
  where: string;
  stop(): Promise<void>;
}
