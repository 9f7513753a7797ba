/**
 * How long each function that works through committed decisions may run, in seconds. The cloud functions are given
 * these timeouts and the local stack gives its handlers the same, so a run ends the same way in both places; the
 * leases that fence a run last exactly as long (a timed-out run can never write after its successor started).
 */
export const FUNCTION_TIMEOUT_SECONDS = {
  /** A batch of 25 changes, each a few table, Step Functions and SES calls; CRM calls are the write-back's. */
  outbox: 300,
  /** One sweep of the due write-backs: each deal's tries within one lease, every CRM call cut off at its end. */
  writeBack: 60,
} as const;
