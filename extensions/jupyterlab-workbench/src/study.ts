/**
 * A study's Pareto view, opened in the main area from the side panel: profile, deployment and
 * axis pickers, the plot, the front as a table, and the detail of a clicked trial.
 */

import { Widget } from '@lumino/widgets';

import type { IWorkbenchAPI } from './api';
import { h, trialBox } from './dom';
import { deploymentLabel } from './format';
import { frontRows, loadPlotly, plotCaption, purgePlot, renderPlot } from './plot';
import type { IPoints, IPointsQuery, IStudySummary } from './types';

export interface IStudyViewHost {
  storage(): string | undefined;
  openNotebook(req: {
    study: string;
    profile?: string;
    deployment?: string;
    x?: string;
    y?: string;
  }): Promise<void>;
}

/** A widget id for a study's view (one per study). */
export function studyViewId(study: string): string {
  return `workbench-study-${study.replace(/[^A-Za-z0-9_-]/g, c => `_${c.charCodeAt(0).toString(16)}`)}`;
}

export class StudyView extends Widget {
  constructor(
    readonly api: IWorkbenchAPI,
    readonly host: IStudyViewHost,
    readonly study: string
  ) {
    super();
    this.id = studyViewId(study);
    this.addClass('wb-study-view');
    this.title.label = `Pareto: ${study}`;
    this.title.caption = `Workbench study ${study}: Pareto fronts`;
    this.title.closable = true;
    this.build();
  }

  get points(): IPoints | null {
    return this._points;
  }

  /**
   * Load and draw the plot. `since` is when the user asked for it (performance.now()): the time
   * from then to the drawn plot is kept on the plot element as `data-drawn-ms`.
   */
  async load(query: IPointsQuery = this._query, since?: number): Promise<void> {
    this._query = query;
    const seq = ++this._seq;
    const t0 = since ?? performance.now();
    this._plotEl.dataset.state = 'loading';
    this._status.textContent = 'loading…';
    this._status.classList.remove('wb-error-text');
    // fetch the data and the plotting library at the same time
    const plotly = loadPlotly();
    try {
      const points = await this.api.points(this.study, query, this.host.storage());
      const fetched = performance.now();
      await plotly;
      if (seq !== this._seq || this.isDisposed) {
        return;
      }
      this._points = points;
      this.renderPickers(points);
      this._plotEl.hidden = false;
      this._status.textContent = '';
      await renderPlot(this._plotEl, points, trial => void this.showTrial(trial));
      if (seq !== this._seq) {
        return;
      }
      const now = performance.now();
      this._plotEl.dataset.drawnMs = String(Math.round(now - t0));
      this._plotEl.dataset.fetchMs = String(Math.round(fetched - t0));
      this._plotEl.dataset.renderMs = String(Math.round(now - fetched));
      this._plotEl.dataset.serverMs = String(Math.round(points.elapsed_ms));
      this._plotEl.dataset.indexLoadedBy = points.index_loaded_by;
      this._caption.textContent = plotCaption(points);
      this._head.textContent = `${points.study} · ${points.storage}`;
      this.renderFront(points);
    } catch (err) {
      if (seq !== this._seq) {
        return;
      }
      this._points = null;
      this._plotEl.hidden = true;
      this._plotEl.dataset.state = 'error';
      this._caption.textContent = '';
      this._front.replaceChildren();
      this._status.textContent = (err as Error).message;
      this._status.classList.add('wb-error-text');
    }
  }

  /** Redraw when the study gained trials (a run is adding them). */
  studyChanged(summary: IStudySummary | undefined): void {
    if (summary && this._points && summary.n_trials !== this._points.n_trials) {
      void this.load({
        ...this._query,
        profile: this._points.profile,
        deployment: this._points.deployment
      });
    }
  }

  async showTrial(trial: number): Promise<void> {
    try {
      const t = await this.api.trial(this.study, trial, this.host.storage());
      this._trialEl.replaceChildren(trialBox(t));
    } catch (err) {
      this._trialEl.replaceChildren(
        h('div', { class: 'wb-error-text', text: (err as Error).message })
      );
    }
  }

  dispose(): void {
    this._seq++;
    void purgePlot(this._plotEl);
    super.dispose();
  }

  protected onResize(): void {
    // plotly's responsive mode follows window resizes; a dock resize needs a nudge
    window.dispatchEvent(new Event('resize'));
  }

  private build(): void {
    const openNb = h('button', {
      class: 'jp-Button jp-mod-styled jp-mod-accept wb-open-notebook',
      title: 'Open a notebook exploring this study with the widget library',
      text: 'Open in notebook'
    });
    openNb.addEventListener('click', () => void this.openNotebook());
    this._head = h('div', { class: 'wb-study-view-storage' });
    this._pickers = h('div', { class: 'wb-pickers' });
    this._status = h('div', { class: 'wb-message wb-points-status' });
    this._plotEl = h('div', { class: 'wb-plot', 'data-study': this.study });
    this._caption = h('div', { class: 'wb-caption' });
    this._trialEl = h('div', { class: 'wb-trial-box' });
    this._front = h('div', { class: 'wb-front' });
    this.node.append(
      h(
        'div',
        { class: 'wb-detail-head' },
        h('h2', { class: 'wb-detail-title', text: this.study }),
        openNb
      ),
      this._head,
      this._pickers,
      this._status,
      this._plotEl,
      this._caption,
      h('div', { class: 'wb-study-columns' }, this._front, this._trialEl)
    );
  }

  private renderPickers(points: IPoints): void {
    const select = (
      cls: string,
      label: string,
      options: [string, string][],
      value: string,
      onChange: (v: string) => void
    ): HTMLElement => {
      const sel = h('select', { class: `wb-select ${cls}`, 'aria-label': label });
      for (const [v, text] of options) {
        const opt = h('option', { value: v, text });
        opt.selected = v === value;
        sel.append(opt);
      }
      sel.addEventListener('change', () => onChange(sel.value));
      return h('label', { class: 'wb-picker' }, h('span', { text: label }), sel);
    };
    const axes: [string, string][] = points.axes.map(a => [
      a.name,
      a.unit ? `${a.label} (${a.unit})` : a.label
    ]);
    const set = (k: keyof IPointsQuery) => (v: string) =>
      void this.load({
        profile: points.profile,
        deployment: points.deployment,
        x: points.x.name,
        y: points.y.name,
        [k]: v
      });
    this._pickers.replaceChildren(
      select(
        'wb-pick-profile',
        'hardware profile',
        points.profiles.map(p => [p, p]),
        points.profile,
        v => void this.load({ x: points.x.name, y: points.y.name, profile: v })
      ),
      select(
        'wb-pick-deployment',
        'deployment',
        [
          ...points.deployments.map(d => [d, deploymentLabel(d)] as [string, string]),
          ['all', 'all deployments']
        ],
        points.deployment,
        set('deployment')
      ),
      select('wb-pick-x', 'x axis', axes, points.x.name, set('x')),
      select('wb-pick-y', 'y axis', axes, points.y.name, set('y'))
    );
  }

  private renderFront(points: IPoints): void {
    const rows = frontRows(points);
    const shown = rows.slice(0, 100);
    const table = h(
      'table',
      { class: 'wb-table wb-front-table' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...[
            'trial',
            'deployment',
            'architecture',
            points.x.label,
            points.y.label,
            'latency source'
          ].map(c => h('th', { text: c }))
        )
      ),
      h(
        'tbody',
        {},
        ...shown.map(r => {
          const tr = h(
            'tr',
            { 'data-trial': r[0], title: 'Show this trial' },
            ...r.map(c => h('td', { text: c }))
          );
          tr.addEventListener('click', () => void this.showTrial(Number(r[0])));
          return tr;
        })
      )
    );
    this._front.replaceChildren(h('h3', { text: `Pareto front (${rows.length})` }), table);
    if (rows.length > shown.length) {
      this._front.append(
        h('div', {
          class: 'wb-note',
          text: `${rows.length - shown.length} more Pareto points in the plot`
        })
      );
    }
  }

  private async openNotebook(): Promise<void> {
    const p = this._points;
    try {
      await this.host.openNotebook({
        study: this.study,
        profile: p?.profile,
        deployment: p?.deployment,
        x: p?.x.name,
        y: p?.y.name
      });
    } catch (err) {
      this._status.textContent = `cannot open a notebook: ${(err as Error).message}`;
      this._status.classList.add('wb-error-text');
    }
  }

  private _seq = 0;
  private _query: IPointsQuery = {};
  private _points: IPoints | null = null;
  private _head!: HTMLElement;
  private _pickers!: HTMLElement;
  private _status!: HTMLElement;
  private _plotEl!: HTMLElement;
  private _caption!: HTMLElement;
  private _trialEl!: HTMLElement;
  private _front!: HTMLElement;
}
