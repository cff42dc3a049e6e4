import type { ProviderEmulator } from '../../src/sandbox/emulator';

export type Scale = 'tiny' | 'full';

export interface BenchContext {
  scale: Scale;
  /** The standalone emulator's URL (runs in the bench process). */
  emulatorUrl: string;
  emulator: ProviderEmulator;
  log(line: string): void;
}

/** One row of the results table. */
export interface Figure {
  id: string;
  name: string;
  value: number;
  unit: string;
  ceiling: number | null;
  ceilingName: string;
  /** value / ceiling where both are rates of the same thing, else null. */
  ratio: number | null;
  goal: string;
  met: boolean;
  details: Record<string, unknown>;
}
