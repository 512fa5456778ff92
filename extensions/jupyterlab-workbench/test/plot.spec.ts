import {
  buildLayout,
  buildTraces,
  frontRows,
  plotCaption,
  useLogAxis,
  WEBGL_THRESHOLD
} from '../src/plot';
import { points } from './fixtures';

describe('Pareto plot traces', () => {
  it('draws every point and the front in x order, with the architecture in the hover text', () => {
    const traces = buildTraces(points(), { webgl: true });
    expect(traces).toHaveLength(2);
    const [all, front] = traces;
    expect(all.type).toBe('scatter'); // few points: SVG
    expect(all.x).toEqual([0.5, 0.2, 0.9, 0.1, 0.3]);
    expect(all.customdata).toEqual([0, 1, 2, 3, 4]);
    expect(all.marker.symbol).toBe('circle');
    expect(front.x).toEqual([0.1, 0.2, 0.5, 0.9]);
    expect(front.customdata).toEqual([3, 1, 0, 2]);
    expect(front.text?.[1]).toBe('mlp 16 (knee)<br>measured');
    expect(all.name).toBe('onnxruntime-fp32 (torch) · measured');
    expect(front.line?.shape).toBe('hv');
  });

  it('marks predicted points with open symbols, per point when a series mixes sources', () => {
    const p = points();
    p.series[0].predicted = [1, 0, 1, 0, 0];
    p.series[0].source = 'mixed';
    const [all, front] = buildTraces(p, { webgl: false });
    expect(all.marker.symbol).toEqual(['circle-open', 'circle', 'circle-open', 'circle', 'circle']);
    expect(front.marker.symbol).toEqual(['diamond', 'diamond', 'diamond-open', 'diamond-open']);
    expect(all.name).toContain('measured + predicted');
    expect(plotCaption(p)).toContain('filled = measured, open = predicted');
  });

  it('uses WebGL only for large sets and only when the browser has it', () => {
    const n = WEBGL_THRESHOLD + 1;
    const big = points();
    const s = big.series[0];
    s.n = n;
    s.trial = Array.from({ length: n }, (_, i) => i);
    s.x = s.trial.map(i => 0.01 + i);
    s.y = s.trial.map(() => 0.5);
    s.predicted = s.trial.map(() => 0);
    s.pareto = s.trial.map(i => (i === 0 ? 1 : 0));
    s.front = [0];
    expect(buildTraces(big, { webgl: true })[0].type).toBe('scattergl');
    expect(buildTraces(big, { webgl: false })[0].type).toBe('scatter');
  });

  it('chooses log axes for wide positive ranges, never for accuracy', () => {
    const lat = {
      name: 'latency',
      label: 'latency p50',
      unit: 'ms',
      direction: 'minimize' as const
    };
    expect(useLogAxis([0.01, 5], lat)).toBe(true);
    expect(useLogAxis([0.1, 0.5], lat)).toBe(false);
    expect(useLogAxis([0.001, 1], { ...lat, name: 'accuracy' })).toBe(false);
    const layout = buildLayout(points()) as { xaxis: { title: { text: string } } };
    expect(layout.xaxis.title.text).toBe('latency p50 (ms, measured)');
  });

  it('tabulates the front with units and sources', () => {
    const rows = frontRows(points());
    expect(rows[0]).toEqual(['3', 'onnxruntime-fp32', 'mlp 8', '0.1 ms', '0.7', 'measured']);
    expect(rows).toHaveLength(4);
    expect(plotCaption(points())).toBe(
      '5 points of 5 trials · 4 on the Pareto front · filled = measured'
    );
  });
});
