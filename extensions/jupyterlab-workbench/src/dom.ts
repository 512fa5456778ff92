/**
 * A tiny element builder and the panel's pure view pieces (no JupyterLab imports, so they are
 * rendered in unit tests with jsdom).
 */

import {
  bestText,
  formatNumber,
  formatValue,
  isFinal,
  jobFraction,
  jobProgressText,
  objectiveNames,
  trialsText
} from './format';
import type { IJob, IProfile, IStudySummary, ITrial } from './types';

type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined | null> = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) {
      continue;
    }
    if (k === 'class') {
      el.className = String(v);
    } else if (k === 'text') {
      el.textContent = String(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) {
      continue;
    }
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

const STATUS_TEXT: Record<string, string> = {
  running: 'running',
  empty: 'empty',
  failed: 'failed',
  partial: 'partial',
  finished: 'finished'
};

/** One row of the studies list. */
export function studyRow(s: IStudySummary, selected: boolean): HTMLElement {
  const best = bestText(s.best);
  return h(
    'li',
    {
      class: `wb-study${selected ? ' wb-selected' : ''}`,
      'data-study': s.name,
      role: 'button',
      tabindex: 0,
      title: `Show the Pareto front of ${s.name}`
    },
    h(
      'div',
      { class: 'wb-study-head' },
      h('span', { class: 'wb-study-name', text: s.name }),
      s.synthetic ? h('span', { class: 'wb-badge wb-badge-synthetic', text: 'synthetic' }) : null,
      h('span', {
        class: `wb-badge wb-study-status wb-status-${s.status}`,
        'data-status': s.status,
        text: STATUS_TEXT[s.status] ?? s.status
      })
    ),
    h('div', { class: 'wb-study-trials', text: `${trialsText(s)} · ${objectiveNames(s)}` }),
    best ? h('div', { class: 'wb-study-best', text: best }) : null
  );
}

/** One row of the jobs list: status, progress bar, stage, and for a failed run its error and log tail. */
export function jobRow(job: IJob, opts: { logOpen: boolean }): HTMLElement {
  const frac = jobFraction(job);
  const final = isFinal(job.status);
  const progress = h('progress', { class: 'wb-progress', max: 1 });
  if (frac !== null) {
    progress.value = frac;
  }
  const buttons = h('div', { class: 'wb-job-buttons' });
  if (!final) {
    buttons.append(
      h('button', {
        class: 'jp-Button jp-mod-styled jp-mod-warn wb-cancel',
        'data-action': job.status === 'cancelling' ? 'kill' : 'cancel',
        title:
          job.status === 'cancelling'
            ? 'Stop at once (the trial in progress is lost)'
            : 'Interrupt after the current stage; finished trials stay stored',
        text: job.status === 'cancelling' ? 'Kill' : job.status === 'queued' ? 'Remove' : 'Stop'
      })
    );
  }
  if (job.status !== 'queued') {
    buttons.append(
      h('button', {
        class: 'jp-Button jp-mod-styled jp-mod-reject wb-show-log',
        'data-action': 'log',
        text: opts.logOpen ? 'Hide log' : 'Log'
      })
    );
  }
  if (job.study && (job.new_complete > 0 || job.status === 'done')) {
    buttons.append(
      h('button', {
        class: 'jp-Button jp-mod-styled jp-mod-reject wb-show-study',
        'data-action': 'study',
        text: 'Show study'
      })
    );
  }
  const lastFailure = job.last_trial?.failure;
  const failure = job.message
    ? h(
        'div',
        { class: `wb-job-message${job.status === 'cancelled' ? '' : ' wb-error-text'}` },
        h('div', { class: 'wb-job-error', text: job.message }),
        lastFailure && job.status !== 'cancelled'
          ? h('div', {
              class: 'wb-job-last-failure',
              text: `trial ${job.last_trial?.number} failed at ${lastFailure.stage ?? '?'}: ${lastFailure.reason ?? ''}`
            })
          : null,
        job.log_tail && job.log_tail.length
          ? h(
              'details',
              { class: 'wb-log-details' },
              h('summary', { text: 'last lines of the log' }),
              h('pre', { class: 'wb-log-tail', text: job.log_tail.join('\n') })
            )
          : null
      )
    : null;
  return h(
    'li',
    { class: 'wb-job', 'data-job': job.id, 'data-status': job.status },
    h(
      'div',
      { class: 'wb-job-head' },
      h('span', { class: 'wb-job-config', text: job.config, title: job.command }),
      job.study ? h('span', { class: 'wb-job-study', text: `→ ${job.study}` }) : null,
      h('span', {
        class: `wb-badge wb-job-status wb-jstatus-${job.status}`,
        text: job.status
      })
    ),
    h('div', { class: 'wb-job-progress' }, progress),
    h('div', { class: 'wb-job-text', text: jobProgressText(job) }),
    failure,
    buttons
  );
}

export function profileRow(p: IProfile): HTMLElement {
  return h(
    'li',
    { class: 'wb-profile', 'data-profile': p.name, title: p.description },
    h(
      'div',
      { class: 'wb-profile-head' },
      h('span', { class: 'wb-profile-name', text: p.name }),
      h('span', {
        class: `wb-badge wb-source-${p.source}`,
        text: p.kind === 'measured' ? 'measured here' : 'simulated: predicted'
      })
    ),
    h('div', {
      class: 'wb-profile-detail',
      text: `${p.device} · ${p.backends.join(', ')} · ${p.precisions.join(', ')} · ${p.file}`
    })
  );
}

/** The detail of a clicked point: the trial's architecture and each measurement with its source. */
export function trialBox(t: ITrial): HTMLElement {
  const rows = t.measurements.map(m =>
    h(
      'tr',
      {},
      h('td', { text: m.key.split('/').slice(1).join('/') }),
      h('td', { text: m.status === 'ok' ? formatNumber(m.accuracy) : (m.status ?? '–') }),
      h('td', {
        text: m.latency
          ? `${formatNumber(m.latency.p50_ms)} ms (p90 ${formatNumber(m.latency.p90_ms)}, n=${m.latency.n ?? '–'})`
          : (m.error ?? '–')
      }),
      h('td', { text: m.source ?? '–', class: `wb-source-${m.source}` }),
      h('td', { text: formatValue(m.size_bytes, 'bytes') })
    )
  );
  return h(
    'div',
    { class: 'wb-trial', 'data-trial': t.number },
    h('div', { class: 'wb-trial-head', text: `trial ${t.number} · ${t.state.toLowerCase()}` }),
    h('div', { class: 'wb-trial-arch', text: t.arch ?? '' }),
    h('div', {
      class: 'wb-trial-cost',
      text: `${formatNumber(t.n_params)} parameters · ${formatNumber(t.macs)} MACs`
    }),
    t.failure
      ? h('div', { class: 'wb-error-text', text: `${t.failure.stage}: ${t.failure.reason}` })
      : null,
    h(
      'table',
      { class: 'wb-table' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['deployment', 'accuracy', 'latency p50', 'source', 'size'].map(c =>
            h('th', { text: c })
          )
        )
      ),
      h('tbody', {}, ...rows)
    )
  );
}
