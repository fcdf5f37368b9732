// Preload (`node --import`) that shifts the process clock seen by JavaScript: `Date.now()` and `new Date()`
// answer real time plus the milliseconds written in the file named by NUCAT_TEST_CLOCK_FILE (a signed whole
// number; an unreadable file counts as 0). The file is read on every call, so a test can move a running
// app's clock forwards or backwards by rewriting it (reliability.md #40). Timers and performance.now() keep
// the real monotonic clock; only wall-clock readings move, as with a skewed or stepped system clock.
import { readFileSync } from 'node:fs';

const file = process.env.NUCAT_TEST_CLOCK_FILE;
if (file) {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  const offset = () => {
    try {
      const value = Number(readFileSync(file, 'utf8').trim());
      return Number.isFinite(value) ? value : 0;
    } catch {
      return 0;
    }
  };
  const shiftedNow = () => realNow() + offset();
  function ShiftedDate(...args) {
    if (!new.target) return new RealDate(shiftedNow()).toString();
    return args.length === 0 ? new RealDate(shiftedNow()) : new RealDate(...args);
  }
  Object.setPrototypeOf(ShiftedDate, RealDate); // Date.parse, Date.UTC
  ShiftedDate.prototype = RealDate.prototype; // instanceof Date keeps working
  ShiftedDate.now = shiftedNow;
  globalThis.Date = ShiftedDate;
}
