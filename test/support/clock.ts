import type { Clock } from '../../src/services/clock';

/** A clock the test moves by hand: schedules, leases, quiet hours and caps without waiting. */
export class ManualClock implements Clock {
  constructor(private current = new Date('2030-01-01T12:00:00Z')) {}
  now() {
    return new Date(this.current);
  }
  set(at: Date | string) {
    this.current = new Date(at);
  }
  advance(ms: number) {
    this.current = new Date(this.current.getTime() + ms);
  }
}
