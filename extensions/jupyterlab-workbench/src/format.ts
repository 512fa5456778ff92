/**
 * Pure helpers: number formatting, labels, job progress and error messages.
 * Nothing here touches JupyterLab, so it is unit-tested directly.
 */

import type { IAxis, IBestValue, IJob, IStudySummary, JobStatus, Source } from './types';

/** Three significant digits, without exponent noise for everyday magnitudes. */
export function formatNumber(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) {
    return '–';
  }
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) {
    return v.toExponential(digits - 1);
  }
  return Number(v.toPrecision(digits)).toString();
}

/** Bytes as B, kB, MB, GB (powers of 1000, as sizes on disk are usually shown). */
export function formatBytes(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) {
    return '–';
  }
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let x = v;
  let i = 0;
  while (Math.abs(x) >= 1000 && i < units.length - 1) {
    x /= 1000;
    i++;
  }
  return `${formatNumber(x)} ${units[i]}`;
}

/** A value with its unit: `0.0213 ms`, `1.2 MB`, `0.953`. */
export function formatValue(v: number | null | undefined, unit: string): string {
  if (unit === 'bytes') {
    return formatBytes(v);
  }
  const s = formatNumber(v);
  return unit && s !== '–' ? `${s} ${unit}` : s;
}

/** An axis title that says where latencies come from: `latency p50 (ms, measured)`. */
export function axisTitle(axis: IAxis, source?: Source): string {
  const parts: string[] = [];
  if (axis.unit) {
    parts.push(axis.unit);
  }
  if (source && isLatency(axis.name) && source !== 'none') {
    parts.push(source === 'mixed' ? 'measured and predicted' : source);
  }
  return parts.length ? `${axis.label} (${parts.join(', ')})` : axis.label;
}

export function isLatency(axis: string | null | undefined): boolean {
  return axis === 'latency' || axis === 'latency_p90';
}

/** `accuracy ↑`, `latency_p50_ms ↓`: the study's objective names with their directions. */
export function objectiveNames(study: Pick<IStudySummary, 'objectives'>): string {
  return study.objectives
    .map(o => `${o.name} ${o.direction === 'maximize' ? '↑' : '↓'}`)
    .join(', ');
}

/** The best figures of a study, each latency labelled measured or predicted. */
export function bestText(best: IBestValue[]): string {
  const parts: string[] = [];
  for (const b of best) {
    if (b.value === null) {
      continue;
    }
    const what = b.direction === 'maximize' ? 'best' : 'lowest';
    const name = b.axis === 'latency' ? 'latency p50' : (b.axis ?? b.name);
    let text = `${what} ${name} ${formatValue(b.value, b.unit)}`;
    if (isLatency(b.axis) && b.source) {
      text += ` (${b.source})`;
    }
    parts.push(text);
  }
  return parts.join(' · ');
}

/** `12/16 trials · 1 failed`, or `0 trials`. */
export function trialsText(s: IStudySummary): string {
  const target = s.target_trials !== null ? `/${s.target_trials}` : '';
  let text = `${s.n_complete}${target} complete`;
  if (s.n_failed) {
    text += ` · ${s.n_failed} failed`;
  }
  if (s.n_running) {
    text += ` · ${s.n_running} running`;
  }
  if (s.n_trials === 0) {
    text = 'no trials yet';
  }
  return text;
}

export const FINAL_JOB_STATUSES: ReadonlyArray<JobStatus> = [
  'done',
  'failed',
  'bad-input',
  'interrupted',
  'cancelled',
  'killed'
];

export function isFinal(status: JobStatus): boolean {
  return FINAL_JOB_STATUSES.includes(status);
}

/** Fraction of the trial budget finished, in [0, 1], or null when not known yet. */
export function jobFraction(job: IJob): number | null {
  if (job.total === null || job.total <= 0 || job.done === null) {
    return job.status === 'done' ? 1 : null;
  }
  return Math.max(0, Math.min(1, job.done / job.total));
}

/** One line of progress: `3/16 trials · trial 3: measure`. */
export function jobProgressText(job: IJob): string {
  if (job.status === 'queued') {
    return 'queued: waits for the running job (one run at a time keeps latencies honest)';
  }
  const parts: string[] = [];
  if (job.done !== null && job.total !== null) {
    parts.push(`${job.done}/${job.total} trials`);
  } else if (!isFinal(job.status)) {
    parts.push('starting');
  }
  if (job.new_failed) {
    parts.push(`${job.new_failed} failed`);
  }
  if (job.stage && !isFinal(job.status)) {
    parts.push(job.stage);
  }
  if (job.started !== null) {
    const end = job.finished ?? Date.now() / 1000;
    parts.push(formatDuration(end - job.started));
  }
  return parts.join(' · ');
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) {
    return `${s}s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m}m ${s % 60}s`;
  }
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

/**
 * A readable one-line message from a failed response: the server's JSON `message`, else the
 * HTTP status. Never a stack trace or an HTML page.
 */
export function errorMessage(body: unknown, status: number, statusText = ''): string {
  let message = '';
  if (body && typeof body === 'object' && 'message' in body) {
    const m = (body as { message: unknown }).message;
    if (typeof m === 'string') {
      message = m;
    }
  } else if (typeof body === 'string' && body.trim() && !body.trim().startsWith('<')) {
    message = body;
  }
  message = firstLine(message);
  if (!message || /^Traceback/.test(message)) {
    message = `the server answered ${status}${statusText ? ' ' + statusText : ''}`;
  }
  return message;
}

export function firstLine(text: string): string {
  return (
    text
      .split(/\r?\n/)
      .map(l => l.trim())
      .find(l => l.length > 0) ?? ''
  );
}

/** The path from folder `fromDir` to `target`, both relative to the server root. */
export function relativePath(fromDir: string, target: string): string {
  const from = fromDir.split('/').filter(p => p && p !== '.');
  const to = target.split('/').filter(p => p && p !== '.');
  let i = 0;
  while (i < from.length && i < to.length - 1 && from[i] === to[i]) {
    i++;
  }
  const ups = from.slice(i).map(() => '..');
  return [...ups, ...to.slice(i)].join('/');
}

/** Whether a file browser path is a study config the panel can run (`search/*.yaml`). */
export function isSearchConfig(path: string): boolean {
  return /(^|\/)search\/[^/]+\.ya?ml$/i.test(path);
}

/** A label for `framework/deployment`: `onnxruntime-int8-static (torch)`. */
export function deploymentLabel(choice: string): string {
  if (choice === 'all') {
    return 'all deployments';
  }
  const i = choice.indexOf('/');
  return i < 0 ? choice : `${choice.slice(i + 1)} (${choice.slice(0, i)})`;
}

/** A database URL with its password hidden, as the server shows URLs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z0-9+.-]+:\/\/[^:/@]+):[^@/]*@/i, '$1:***@');
}
