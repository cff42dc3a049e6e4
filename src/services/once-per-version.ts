/**
 * Remembers the version of each channel config a recurring problem was last reported for, so it is logged once per
 * config version (a config that cannot be read at send, or at its webhook) rather than once per message or request.
 * A change to the config (a new version: new credentials, a repair) is reported afresh.
 */
export class OncePerVersion {
  private readonly reported = new Map<string, number>();

  /** True the first time `id` is seen at `version` (the caller logs then); false after, until the version changes. */
  first(id: string, version: number): boolean {
    if (this.reported.get(id) === version) return false;
    this.reported.set(id, version);
    return true;
  }

  /** The config works again: its next problem is reported whatever its version. */
  clear(id: string): void {
    this.reported.delete(id);
  }
}
