// What the Node test scripts share: required environment, `ok -` checks, a watchdog that
// fails a run rather than letting it hang, and Debian's Chromium launched headless with the
// flags this machine's closed network needs.
import { chromium } from "playwright-core";

/// The value of a required environment variable.
export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

/// A check that prints `ok - what`, or throws `<label> check failed: what`.
export const checker = (label) => (condition, what) => {
  if (!condition) throw new Error(`${label} check failed: ${what}`);
  console.log(`ok - ${what}`);
};

/// Fails the run (exit 2) after `seconds`; clear it when done. (The Rust tests kill the
/// whole process group later still, in case even this does not fire.)
export const watchdog = (run, seconds = 120) =>
  setTimeout(() => {
    console.log(`not ok - the ${run} run took over ${seconds} s`);
    process.exit(2);
  }, seconds * 1000);

export const launchChromium = () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
