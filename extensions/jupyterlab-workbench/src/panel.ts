/**
 * The Workbench side panel: studies (with their Pareto fronts), runs and hardware profiles.
 */

import { Widget } from '@lumino/widgets';

import type { IWorkbenchAPI } from './api';
import { Signal } from '@lumino/signaling';

import { h, jobRow, profileRow, studyRow } from './dom';
import { isFinal, redactUrl } from './format';
import { loadPlotly } from './plot';
import type { IConfigFile, IJob, IProfiles, IStudies } from './types';

/** What the panel needs from the application around it. */
export interface IPanelHost {
  /** The storage URL from the settings ('' or undefined: the server's default). */
  storage(): string | undefined;
  /** Seconds between refreshes while nothing runs. */
  refreshSeconds(): number;
  /** Open (or focus) the study's Pareto view; `since` is when it was asked for (performance.now()). */
  openStudy(study: string, since: number): void;
}

const MAX_LOG_CHARS = 200_000;
const MAX_JOBS_SHOWN = 20;

export class WorkbenchPanel extends Widget {
  constructor(
    readonly api: IWorkbenchAPI,
    readonly host: IPanelHost
  ) {
    super();
    this.id = 'workbench-panel';
    this.addClass('wb-panel');
    this.title.caption = 'Workbench: studies, Pareto fronts, runs';
    this.build();
  }

  /** The studies payload last shown. */
  get studies(): IStudies | null {
    return this._studies;
  }

  get selectedStudy(): string | null {
    return this._selected;
  }

  /** Emitted after each studies refresh (open study views redraw when their study grew). */
  get studiesChanged(): Signal<this, IStudies> {
    return this._studiesChanged;
  }

  // -- life cycle ------------------------------------------------------------------------
  // Nothing is fetched until the panel is first shown: a JupyterLab whose user never opens it
  // costs the server nothing.
  protected onAfterAttach(): void {
    this.startTimer();
    if (this.isVisible) {
      void this.firstShow();
    }
  }

  protected onBeforeDetach(): void {
    this.stopTimer();
  }

  protected onAfterShow(): void {
    void (this._shown ? this.refresh() : this.firstShow());
  }

  private async firstShow(): Promise<void> {
    this._shown = true;
    await this.refresh();
    // the plotting library is a separate chunk: fetch it while the user reads the list
    window.setTimeout(() => void loadPlotly().catch(() => undefined), 200);
  }

  dispose(): void {
    this.stopTimer();
    this._logOpen.clear();
    super.dispose();
  }

  private startTimer(): void {
    if (this._timer === null) {
      this._timer = window.setInterval(() => void this.tick(), 1000);
    }
  }

  private stopTimer(): void {
    if (this._timer !== null) {
      window.clearInterval(this._timer);
      this._timer = null;
    }
  }

  private async tick(): Promise<void> {
    if (!this.isVisible || this._ticking) {
      return;
    }
    this._ticking = true;
    try {
      this._ticks++;
      const active = this._jobs.some(j => !isFinal(j.status));
      if (active && this._ticks % 2 === 0) {
        await this.refreshJobs();
      } else if (!active && this._ticks % Math.max(2, this.host.refreshSeconds()) === 0) {
        await this.refresh();
      }
    } finally {
      this._ticking = false;
    }
  }

  // -- data ------------------------------------------------------------------------------
  /** Reload everything the panel shows (the plot only if its study changed). */
  async refresh(): Promise<void> {
    await Promise.all([
      this.refreshStudies(),
      this.refreshJobs(false),
      this.refreshProfiles(),
      this.refreshConfigs()
    ]);
  }

  async refreshStudies(): Promise<void> {
    try {
      const data = await this.api.studies(this.host.storage());
      this._studies = data;
      this._studiesError = null;
      this._studiesChanged.emit(data);
    } catch (err) {
      this._studies = null; // do not show another storage's studies under this error
      this._studiesError = (err as Error).message;
    }
    this.renderStudies();
  }

  async refreshJobs(thenStudies = true): Promise<void> {
    let changed = false;
    try {
      const { jobs } = await this.api.jobs();
      const before = new Map(this._jobs.map(j => [j.id, `${j.status}/${j.done}`]));
      changed = jobs.some(j => before.get(j.id) !== `${j.status}/${j.done}`);
      this._jobs = jobs;
      this._jobsError = null;
    } catch (err) {
      this._jobsError = (err as Error).message;
    }
    this.renderJobs();
    if (changed && thenStudies) {
      await this.refreshStudies();
    }
  }

  async refreshProfiles(): Promise<void> {
    try {
      this._profiles = await this.api.profiles();
      this._profilesError = null;
    } catch (err) {
      this._profilesError = (err as Error).message;
    }
    this.renderProfiles();
  }

  async refreshConfigs(): Promise<void> {
    try {
      this._configs = (await this.api.configs()).configs;
    } catch (err) {
      this._runError = (err as Error).message;
    }
    this.renderRun();
  }

  /** Open the Pareto view of `name` in the main area. */
  selectStudy(name: string): void {
    const since = performance.now();
    this._selected = name;
    this.renderStudies();
    this.host.openStudy(name, since);
  }

  /** Launch `workbench run CONFIG` on the server; errors (a malformed config) show in the Runs section. */
  async launch(config: string, trials?: number): Promise<IJob | null> {
    this._runError = null;
    this.renderRun();
    try {
      const storage = this.host.storage();
      const job = await this.api.launch(config, { trials, storage: storage || undefined });
      this._jobs = [job, ...this._jobs.filter(j => j.id !== job.id)];
      this.renderJobs();
      return job;
    } catch (err) {
      this._runError = `${config}: ${(err as Error).message}`;
      this.renderRun();
      return null;
    }
  }

  // -- rendering -------------------------------------------------------------------------
  private build(): void {
    const refresh = h('button', {
      class: 'jp-Button jp-mod-minimal wb-refresh',
      title: 'Refresh',
      text: '⟳'
    });
    refresh.addEventListener('click', () => void this.refresh());
    this._storageEl = h('div', { class: 'wb-storage' });
    this._studiesList = h('ul', { class: 'wb-list wb-studies' });
    this._studiesList.addEventListener('click', e => this.onStudyClick(e));
    this._studiesList.addEventListener('keydown', e => {
      if (e.key === 'Enter') {
        this.onStudyClick(e);
      }
    });
    this._studiesMsg = h('div', { class: 'wb-message' });

    this._runEl = h('div', { class: 'wb-run' });
    this._jobsList = h('ul', { class: 'wb-list wb-jobs' });
    this._jobsList.addEventListener('click', e => void this.onJobClick(e));
    this._jobsMsg = h('div', { class: 'wb-message' });
    this._profilesList = h('ul', { class: 'wb-list wb-profiles' });
    this._profilesMsg = h('div', { class: 'wb-message' });

    this.node.append(
      h('header', { class: 'wb-header' }, h('h2', { text: 'Workbench' }), refresh),
      this._storageEl,
      h(
        'section',
        { class: 'wb-section wb-studies-section' },
        h('h3', { text: 'Studies' }),
        this._studiesMsg,
        this._studiesList
      ),
      h(
        'section',
        { class: 'wb-section wb-jobs-section' },
        h('h3', { text: 'Runs' }),
        this._runEl,
        this._jobsMsg,
        this._jobsList
      ),
      h(
        'section',
        { class: 'wb-section wb-profiles-section' },
        h('h3', { text: 'Hardware profiles' }),
        this._profilesMsg,
        this._profilesList
      )
    );
  }

  private onStudyClick(e: Event): void {
    const li = (e.target as HTMLElement).closest<HTMLElement>('.wb-study');
    if (li?.dataset.study) {
      this.selectStudy(li.dataset.study);
    }
  }

  private async onJobClick(e: Event): Promise<void> {
    const button = (e.target as HTMLElement).closest<HTMLElement>('button[data-action]');
    const li = (e.target as HTMLElement).closest<HTMLElement>('.wb-job');
    if (!button || !li?.dataset.job) {
      return;
    }
    const id = li.dataset.job;
    const action = button.dataset.action;
    if (action === 'cancel' || action === 'kill') {
      try {
        const job = await this.api.cancel(id, action === 'kill');
        this._jobs = this._jobs.map(j => (j.id === id ? job : j));
      } catch (err) {
        this._jobsError = (err as Error).message;
      }
      this.renderJobs();
    } else if (action === 'log') {
      if (this._logOpen.has(id)) {
        this._logOpen.delete(id);
      } else {
        this._logOpen.set(id, { text: '', offset: 0 });
        void this.streamLog(id);
      }
      this.renderJobs();
    } else if (action === 'study') {
      const job = this._jobs.find(j => j.id === id);
      if (job?.study) {
        await this.refreshStudies();
        this.selectStudy(job.study);
      }
    }
  }

  /** Follow a job's log with long polls while its log view is open. */
  private async streamLog(id: string): Promise<void> {
    while (this._logOpen.has(id) && !this.isDisposed) {
      const state = this._logOpen.get(id)!;
      try {
        const chunk = await this.api.log(id, state.offset, 10);
        if (!this._logOpen.has(id)) {
          return;
        }
        state.text = (state.text + chunk.text).slice(-MAX_LOG_CHARS);
        state.offset = chunk.next_offset;
        const pre = this._jobsList.querySelector<HTMLElement>(
          `.wb-job[data-job="${id}"] .wb-job-log`
        );
        if (pre) {
          pre.textContent = state.text;
          pre.scrollTop = pre.scrollHeight;
        }
        if (chunk.final && !chunk.text) {
          return;
        }
      } catch (err) {
        state.text += `\n[${(err as Error).message}]`;
        return;
      }
    }
  }

  private renderStudies(): void {
    const data = this._studies;
    const asked = this.host.storage();
    this._storageEl.textContent = data
      ? `storage: ${data.storage.url}`
      : asked
        ? `storage: ${redactUrl(asked)}`
        : '';
    this._storageEl.title = 'Set another storage in Settings → Workbench';
    this._studiesMsg.replaceChildren();
    if (this._studiesError) {
      this._studiesMsg.append(
        h('div', { class: 'wb-error wb-error-text', text: this._studiesError })
      );
    } else if (data?.note) {
      this._studiesMsg.append(h('div', { class: 'wb-note', text: data.note }));
    } else if (data && data.studies.length === 0) {
      this._studiesMsg.append(
        h('div', { class: 'wb-note', text: 'No studies yet: run a search/*.yaml config below.' })
      );
    }
    this._studiesList.replaceChildren(
      ...(data?.studies ?? []).map(s => studyRow(s, s.name === this._selected))
    );
  }

  private renderJobs(): void {
    this._jobsMsg.replaceChildren();
    if (this._jobsError) {
      this._jobsMsg.append(h('div', { class: 'wb-error wb-error-text', text: this._jobsError }));
    }
    this._jobsList.replaceChildren(
      ...this._jobs.slice(0, MAX_JOBS_SHOWN).map(j => {
        const row = jobRow(j, { logOpen: this._logOpen.has(j.id) });
        const log = this._logOpen.get(j.id);
        if (log) {
          row.append(h('pre', { class: 'wb-job-log', text: log.text }));
        }
        return row;
      })
    );
    // logs read from their end
    this._jobsList.querySelectorAll<HTMLElement>('.wb-log-tail, .wb-job-log').forEach(pre => {
      pre.scrollTop = pre.scrollHeight;
    });
  }

  private renderRun(): void {
    const select = h('select', {
      class: 'wb-select wb-config-select',
      'aria-label': 'study config'
    });
    for (const c of this._configs) {
      select.append(h('option', { value: c.path, text: c.path }));
    }
    if (this._lastConfig && this._configs.some(c => c.path === this._lastConfig)) {
      select.value = this._lastConfig;
    }
    select.addEventListener('change', () => (this._lastConfig = select.value));
    const trials = h('input', {
      class: 'wb-trials',
      type: 'number',
      min: 1,
      placeholder: 'trials',
      title: "Total trials (default: the config's study.trials)",
      'aria-label': 'trials'
    });
    const run = h('button', {
      class: 'jp-Button jp-mod-styled jp-mod-accept wb-run-button',
      text: 'Run',
      title: 'Run (or resume) this config in the background: workbench run CONFIG',
      disabled: this._configs.length === 0
    });
    run.addEventListener('click', () => {
      const n = trials.value ? Number(trials.value) : undefined;
      this._lastConfig = select.value;
      void this.launch(select.value, n);
    });
    this._runEl.replaceChildren(
      this._configs.length
        ? h('div', { class: 'wb-run-row' }, select, trials, run)
        : h('div', { class: 'wb-note', text: 'No search/*.yaml configs under the server root.' })
    );
    if (this._runError) {
      this._runEl.append(
        h('div', { class: 'wb-error wb-error-text wb-run-error', text: this._runError })
      );
    }
  }

  private renderProfiles(): void {
    this._profilesMsg.replaceChildren();
    if (this._profilesError) {
      this._profilesMsg.append(
        h('div', { class: 'wb-error wb-error-text', text: this._profilesError })
      );
    }
    for (const e of this._profiles?.errors ?? []) {
      this._profilesMsg.append(
        h('div', { class: 'wb-error wb-error-text', text: `${e.name}: ${e.message}` })
      );
    }
    this._profilesList.replaceChildren(...(this._profiles?.profiles ?? []).map(profileRow));
  }

  private _timer: number | null = null;
  private _shown = false;
  private _ticking = false;
  private _ticks = 0;
  private _studies: IStudies | null = null;
  private _studiesError: string | null = null;
  private _selected: string | null = null;
  private _jobs: IJob[] = [];
  private _jobsError: string | null = null;
  private _configs: IConfigFile[] = [];
  private _lastConfig: string | null = null;
  private _runError: string | null = null;
  private _profiles: IProfiles | null = null;
  private _profilesError: string | null = null;
  private _logOpen = new Map<string, { text: string; offset: number }>();
  private _studiesChanged = new Signal<this, IStudies>(this);

  private _storageEl!: HTMLElement;
  private _studiesList!: HTMLElement;
  private _studiesMsg!: HTMLElement;
  private _runEl!: HTMLElement;
  private _jobsList!: HTMLElement;
  private _jobsMsg!: HTMLElement;
  private _profilesList!: HTMLElement;
  private _profilesMsg!: HTMLElement;
}
