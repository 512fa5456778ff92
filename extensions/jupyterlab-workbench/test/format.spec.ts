import {
  axisTitle,
  bestText,
  deploymentLabel,
  errorMessage,
  formatBytes,
  formatNumber,
  formatValue,
  isSearchConfig,
  jobFraction,
  jobProgressText,
  objectiveNames,
  redactUrl,
  relativePath,
  trialsText
} from '../src/format';
import { job, study } from './fixtures';

describe('numbers', () => {
  it('formats with three significant digits and units', () => {
    expect(formatNumber(0.021345)).toBe('0.0213');
    expect(formatNumber(1234.5)).toBe('1230');
    expect(formatNumber(0.00001234)).toBe('1.23e-5');
    expect(formatNumber(null)).toBe('–');
    expect(formatNumber(Number.NaN)).toBe('–');
    expect(formatBytes(1_234_567)).toBe('1.23 MB');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatValue(0.5, 'ms')).toBe('0.5 ms');
    expect(formatValue(2048, 'bytes')).toBe('2.05 kB');
    expect(formatValue(0.95, '')).toBe('0.95');
  });
});

describe('labels say where latencies come from', () => {
  const latency = {
    name: 'latency',
    label: 'latency p50',
    unit: 'ms',
    direction: 'minimize' as const
  };
  const accuracy = {
    name: 'accuracy',
    label: 'accuracy',
    unit: '',
    direction: 'maximize' as const
  };

  it('titles latency axes with their source, others without', () => {
    expect(axisTitle(latency, 'measured')).toBe('latency p50 (ms, measured)');
    expect(axisTitle(latency, 'predicted')).toBe('latency p50 (ms, predicted)');
    expect(axisTitle(latency, 'mixed')).toBe('latency p50 (ms, measured and predicted)');
    expect(axisTitle(accuracy, 'measured')).toBe('accuracy');
  });

  it('labels the best latency measured or predicted, and names objectives with directions', () => {
    const s = study();
    expect(bestText(s.best)).toBe('best accuracy 0.954 · lowest latency p50 0.0213 ms (measured)');
    const predicted = study({ best: [{ ...s.best[1], source: 'predicted' }] });
    expect(bestText(predicted.best)).toContain('(predicted)');
    expect(objectiveNames(s)).toBe('accuracy ↑, latency_p50_ms ↓');
    expect(trialsText(s)).toBe('15/16 complete · 1 failed');
    expect(trialsText(study({ n_trials: 0, n_complete: 0, n_failed: 0 }))).toBe('no trials yet');
  });

  it('names deployments', () => {
    expect(deploymentLabel('torch/onnxruntime-int8-static')).toBe(
      'onnxruntime-int8-static (torch)'
    );
    expect(deploymentLabel('all')).toBe('all deployments');
  });
});

describe('errors are one readable line', () => {
  it('uses the server message', () => {
    expect(
      errorMessage({ message: 'search/bad.yaml: study.trials: expected an integer\nmore' }, 400)
    ).toBe('search/bad.yaml: study.trials: expected an integer');
  });

  it('never shows an HTML page or a traceback', () => {
    expect(errorMessage('<html><body>500</body></html>', 500, 'Internal Server Error')).toBe(
      'the server answered 500 Internal Server Error'
    );
    expect(errorMessage({ message: 'Traceback (most recent call last):\n  File' }, 500)).toBe(
      'the server answered 500'
    );
    expect(errorMessage('', 502, 'Bad Gateway')).toBe('the server answered 502 Bad Gateway');
  });
});

describe('paths', () => {
  it('finds the way from a notebook folder to a root-relative file', () => {
    expect(relativePath('', 'runs/workbench.db')).toBe('runs/workbench.db');
    expect(relativePath('notebooks', 'runs/workbench.db')).toBe('../runs/workbench.db');
    expect(relativePath('runs/sub', 'runs/workbench.db')).toBe('../workbench.db');
    expect(relativePath('a/b', 'c.db')).toBe('../../c.db');
  });

  it('recognises study configs', () => {
    expect(isSearchConfig('search/quickstart.yaml')).toBe(true);
    expect(isSearchConfig('project/search/x.yml')).toBe(true);
    expect(isSearchConfig('search/sub/x.yaml')).toBe(false);
    expect(isSearchConfig('hwprofiles/host.yaml')).toBe(false);
    expect(isSearchConfig('research/x.yaml')).toBe(false);
  });
});

describe('job progress', () => {
  it('reports trials done of the budget and the current stage', () => {
    const j = job();
    expect(jobFraction(j)).toBe(0.25);
    expect(jobProgressText({ ...j, started: Date.now() / 1000 - 5 })).toMatch(
      /^1\/4 trials · trial 1: measure · [56]s$/
    );
    expect(jobFraction(job({ total: null, done: null }))).toBeNull();
    expect(jobFraction(job({ status: 'done', total: null, done: null }))).toBe(1);
    expect(jobProgressText(job({ status: 'queued', started: null, done: null }))).toMatch(
      /^queued/
    );
    const finished = job({ status: 'failed', finished: 1065, new_failed: 2, done: 2, total: 2 });
    expect(jobProgressText(finished)).toBe('2/2 trials · 2 failed · 1m 5s');
  });
});

describe('storage URLs', () => {
  it('hide passwords', () => {
    expect(redactUrl('postgresql://me:secret@db:5432/studies')).toBe(
      'postgresql://me:***@db:5432/studies'
    );
    expect(redactUrl('sqlite:///runs/workbench.db')).toBe('sqlite:///runs/workbench.db');
    expect(redactUrl('postgresql://me@db/studies')).toBe('postgresql://me@db/studies');
  });
});
