/**
 * The Pareto plot: plotly.js traces built from the compact points payload.
 *
 * Every point is drawn (the Pareto front is never thinned); large sets use WebGL when the
 * browser has it. Predicted points are open markers, measured ones filled, and the legend
 * and axis titles say which is which.
 */

import { axisTitle, deploymentLabel, formatValue } from './format';
import type { IAxis, IPoints, ISeries } from './types';

/** A plotly trace, as far as this module sets it. */
export interface ITrace {
  type: 'scatter' | 'scattergl';
  mode: 'markers' | 'lines+markers';
  name: string;
  legendgroup: string;
  showlegend: boolean;
  x: number[];
  y: number[];
  customdata: number[];
  text?: string[];
  hovertemplate: string;
  marker: {
    color: string;
    size: number;
    opacity?: number;
    symbol: string | string[];
    line?: { width: number; color: string };
  };
  line?: { color: string; width: number; shape: 'hv' | 'vh' | 'linear' };
}

export interface ILayout {
  [key: string]: unknown;
}

export const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf'
];

/** Above this many points, WebGL (when available) draws faster than SVG. */
export const WEBGL_THRESHOLD = 1500;

export function totalPoints(points: IPoints): number {
  return points.series.reduce((n, s) => n + s.n, 0);
}

/** Log scale for strictly positive axes spanning more than ~1.5 decades (latency, size...). */
export function useLogAxis(values: number[], axis: IAxis): boolean {
  if (axis.name === 'accuracy' || values.length < 2) {
    return false;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) {
      lo = v;
    }
    if (v > hi) {
      hi = v;
    }
  }
  return lo > 0 && hi / lo > 30;
}

function sourceWord(s: ISeries): string {
  return s.source === 'mixed' ? 'measured + predicted' : s.source;
}

function pointTemplate(points: IPoints): string {
  const xt = `${points.x.label}: %{x}${points.x.unit && points.x.unit !== 'bytes' ? ' ' + points.x.unit : ''}`;
  const yt = `${points.y.label}: %{y}${points.y.unit && points.y.unit !== 'bytes' ? ' ' + points.y.unit : ''}`;
  return `trial %{customdata}<br>${xt}<br>${yt}`;
}

/**
 * The traces of a payload: per series, all its points (dominated ones faint) and its Pareto
 * front as a step line through larger markers with the architecture in the hover text.
 */
export function buildTraces(points: IPoints, opts: { webgl: boolean }): ITrace[] {
  const type: ITrace['type'] =
    opts.webgl && totalPoints(points) > WEBGL_THRESHOLD ? 'scattergl' : 'scatter';
  const traces: ITrace[] = [];
  const tmpl = pointTemplate(points);
  points.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const name = `${deploymentLabel(`${s.framework}/${s.deployment}`)} · ${sourceWord(s)}`;
    const symbols = s.predicted.map(p => (p ? 'circle-open' : 'circle'));
    const allSame = symbols.every(v => v === symbols[0]);
    traces.push({
      type,
      mode: 'markers',
      name,
      legendgroup: s.key,
      showlegend: true,
      x: s.x,
      y: s.y,
      customdata: s.trial,
      hovertemplate: `${tmpl}<br>${s.deployment} (${sourceWord(s)})<extra></extra>`,
      marker: {
        color,
        size: 5,
        opacity: 0.35,
        symbol: allSame ? (symbols[0] ?? 'circle') : symbols
      }
    });
    const fx: number[] = [];
    const fy: number[] = [];
    const ft: number[] = [];
    const fs: string[] = [];
    const text: string[] = [];
    for (const j of s.front) {
      fx.push(s.x[j]);
      fy.push(s.y[j]);
      ft.push(s.trial[j]);
      fs.push(s.predicted[j] ? 'diamond-open' : 'diamond');
      const arch = points.front_arch[String(s.trial[j])] ?? '';
      const knee = s.trial[j] === s.knee ? ' (knee)' : '';
      text.push(`${arch}${knee}<br>${s.predicted[j] ? 'predicted' : 'measured'}`);
    }
    traces.push({
      type,
      mode: 'lines+markers',
      name: `Pareto front: ${s.deployment}`,
      legendgroup: s.key,
      showlegend: false,
      x: fx,
      y: fy,
      customdata: ft,
      text,
      hovertemplate: `<b>Pareto</b> ${tmpl}<br>%{text}<extra>${s.deployment}</extra>`,
      marker: {
        color,
        size: 9,
        symbol: fs.every(v => v === fs[0]) ? (fs[0] ?? 'diamond') : fs,
        line: { width: 1, color: '#222' }
      },
      line: {
        color,
        width: 2,
        shape: points.x.direction === 'minimize' ? 'hv' : 'vh'
      }
    });
  });
  return traces;
}

export function buildLayout(points: IPoints): ILayout {
  const xs = points.series.flatMap(s => s.x);
  const ys = points.series.flatMap(s => s.y);
  const sources = new Set(points.series.map(s => s.source));
  const source = sources.size === 1 ? [...sources][0] : 'mixed';
  return {
    margin: { l: 56, r: 8, t: 8, b: 44 },
    height: 420,
    showlegend: true,
    legend: { orientation: 'h', y: -0.22, font: { size: 10 } },
    hovermode: 'closest',
    xaxis: {
      title: { text: axisTitle(points.x, source), font: { size: 11 } },
      type: useLogAxis(xs, points.x) ? 'log' : 'linear',
      zeroline: false
    },
    yaxis: {
      title: { text: axisTitle(points.y, source), font: { size: 11 } },
      type: useLogAxis(ys, points.y) ? 'log' : 'linear',
      zeroline: false
    },
    paper_bgcolor: 'rgba(0,0,0,0)',
    plot_bgcolor: 'rgba(0,0,0,0)',
    font: { size: 10 }
  };
}

/** A sentence under the plot: how many points, how many on the front, where they come from. */
export function plotCaption(points: IPoints): string {
  const n = totalPoints(points);
  const front = points.series.reduce((k, s) => k + s.front.length, 0);
  const measured = points.series.some(s => s.source === 'measured' || s.source === 'mixed');
  const predicted = points.series.some(s => s.source === 'predicted' || s.source === 'mixed');
  const src = [measured ? 'filled = measured' : '', predicted ? 'open = predicted' : '']
    .filter(Boolean)
    .join(', ');
  let text = `${n.toLocaleString('en-US')} points of ${points.n_trials.toLocaleString('en-US')} trials · ${front} on the Pareto front`;
  if (src) {
    text += ` · ${src}`;
  }
  if (points.synthetic) {
    text += ' · synthetic study (generated numbers)';
  }
  return text;
}

/** Rows of the front table: trial, architecture, x and y with units, source. */
export function frontRows(points: IPoints): string[][] {
  const rows: string[][] = [];
  for (const s of points.series) {
    for (const j of s.front) {
      rows.push([
        String(s.trial[j]),
        s.deployment,
        points.front_arch[String(s.trial[j])] ?? '',
        formatValue(s.x[j], points.x.unit),
        formatValue(s.y[j], points.y.unit),
        s.predicted[j] ? 'predicted' : 'measured'
      ]);
    }
  }
  return rows;
}

export function webglAvailable(): boolean {
  try {
    const canvas = document.createElement('canvas');
    return !!(canvas.getContext('webgl2') || canvas.getContext('webgl'));
  } catch {
    return false;
  }
}

type PlotlyModule = typeof import('plotly.js-dist-min');
let plotlyPromise: Promise<PlotlyModule> | null = null;

/** plotly.js, loaded once, on the first plot (a separate chunk: the panel opens without it). */
export function loadPlotly(): Promise<PlotlyModule> {
  if (!plotlyPromise) {
    plotlyPromise = import(/* webpackChunkName: "plotly" */ 'plotly.js-dist-min').then(
      m => ((m as unknown as { default?: PlotlyModule }).default ?? m) as PlotlyModule
    );
  }
  return plotlyPromise;
}

/**
 * Draw (or redraw) the plot in `el`; resolves when plotly has drawn it. The element gets
 * `data-state="drawn"`, `data-points` and `data-renderer` for tests and benchmarks.
 */
export async function renderPlot(
  el: HTMLElement,
  points: IPoints,
  onClickTrial?: (trial: number) => void
): Promise<void> {
  const Plotly = await loadPlotly();
  const webgl = webglAvailable();
  const traces = buildTraces(points, { webgl });
  el.dataset.state = 'drawing';
  await Plotly.react(el, traces as unknown as object[], buildLayout(points), {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ['select2d', 'lasso2d']
  });
  if (onClickTrial) {
    const plotted = el as HTMLElement & {
      removeAllListeners?: (event: string) => void;
      on?: (event: string, cb: (e: { points: { customdata: number }[] }) => void) => void;
    };
    plotted.removeAllListeners?.('plotly_click');
    plotted.on?.('plotly_click', e => {
      const p = e.points[0];
      if (p && typeof p.customdata === 'number') {
        onClickTrial(p.customdata);
      }
    });
  }
  el.dataset.state = 'drawn';
  el.dataset.points = String(totalPoints(points));
  el.dataset.renderer = traces[0]?.type ?? 'scatter';
}

export async function purgePlot(el: HTMLElement): Promise<void> {
  if (plotlyPromise) {
    const Plotly = await plotlyPromise;
    Plotly.purge(el);
  }
  delete el.dataset.state;
}
