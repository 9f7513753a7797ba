import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of this process and of every process it started (DynamoDB Local's JVM, the local SES), read from Linux's
 * `/proc`, so a phase can say where its CPU went. Elsewhere (no `/proc`) only this process is counted.
 */

/** CPU seconds (user + system) by process: `node` for this one, the command name for each descendant. */
export type CpuSeconds = Record<string, number>;

const TICKS_PER_SECOND = 100;

interface ProcStat {
  pid: number;
  ppid: number;
  command: string;
  cpuSeconds: number;
}

function procStat(pid: string): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const command = text.slice(text.indexOf('(') + 1, close);
    // After the command: state, ppid, … utime is the 14th field of the line, stime the 15th.
    const fields = text.slice(close + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { pid: Number(pid), ppid: Number(fields[1]), command, cpuSeconds: ticks / TICKS_PER_SECOND };
  } catch {
    return null;
  }
}

/** The CPU seconds used so far by this process and each of its descendants, summed by command name. */
export function cpuSnapshot(): CpuSeconds {
  const own = process.cpuUsage();
  const snapshot: CpuSeconds = { node: (own.user + own.system) / 1e6 };
  let stats: ProcStat[];
  try {
    stats = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map(procStat)
      .filter((stat): stat is ProcStat => stat !== null);
  } catch {
    return snapshot;
  }
  const children = new Map<number, ProcStat[]>();
  for (const stat of stats) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  const pending = [...(children.get(process.pid) ?? [])];
  while (pending.length > 0) {
    const stat = pending.pop() as ProcStat;
    const name = stat.command === 'node' ? 'node (child)' : stat.command;
    snapshot[name] = (snapshot[name] ?? 0) + stat.cpuSeconds;
    pending.push(...(children.get(stat.pid) ?? []));
  }
  return snapshot;
}

/** What each process used between two snapshots, in CPU seconds (rounded to 0.1). */
export function cpuBetween(before: CpuSeconds, after: CpuSeconds): CpuSeconds {
  return Object.fromEntries(
    Object.entries(after)
      .map(([name, seconds]) => [name, Math.round((seconds - (before[name] ?? 0)) * 10) / 10] as const)
      .filter(([, seconds]) => seconds > 0),
  );
}
