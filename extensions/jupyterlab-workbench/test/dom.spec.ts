import { query } from '../src/api';
import { jobRow, profileRow, studyRow, trialBox } from '../src/dom';
import { job, study } from './fixtures';

describe('studies list rows', () => {
  it('show counts, objective names, best figures with their source, and status', () => {
    const el = studyRow(study({ synthetic: true }), true);
    expect(el.dataset.study).toBe('quickstart');
    expect(el.classList.contains('wb-selected')).toBe(true);
    expect(el.querySelector('.wb-study-status')?.getAttribute('data-status')).toBe('finished');
    expect(el.querySelector('.wb-study-trials')?.textContent).toBe(
      '15/16 complete · 1 failed · accuracy ↑, latency_p50_ms ↓'
    );
    expect(el.querySelector('.wb-study-best')?.textContent).toContain('0.0213 ms (measured)');
    expect(el.querySelector('.wb-badge-synthetic')).not.toBeNull();
  });
});

describe('job rows', () => {
  it('show progress and a Stop button while running', () => {
    const el = jobRow(job(), { logOpen: false });
    expect(el.dataset.status).toBe('running');
    expect((el.querySelector('progress') as HTMLProgressElement).value).toBe(0.25);
    expect(el.querySelector('.wb-cancel')?.textContent).toBe('Stop');
    expect(el.querySelector('.wb-job-message')).toBeNull();
  });

  it("show a failed run's error line and the last lines of its log", () => {
    const el = jobRow(
      job({
        status: 'failed',
        returncode: 1,
        message: 'workbench: error: no trial completed; see the failures above',
        log_tail: [
          '  trial 0: internal: RuntimeError: boom',
          'workbench: error: no trial completed; see the failures above'
        ]
      }),
      { logOpen: false }
    );
    expect(el.querySelector('.wb-cancel')).toBeNull();
    expect(el.querySelector('.wb-job-error')?.textContent).toBe(
      'workbench: error: no trial completed; see the failures above'
    );
    expect(el.querySelector('.wb-job-last-failure')).toBeNull(); // the fixture's last trial completed
    expect(el.querySelector('.wb-log-tail')?.textContent).toContain('RuntimeError: boom');
    const failedTrial = jobRow(
      job({
        status: 'failed',
        message: 'workbench: error: no trial completed; see the failures above',
        last_trial: {
          number: 1,
          state: 'fail',
          values: null,
          failure: { stage: 'internal', reason: 'RuntimeError: boom' }
        }
      }),
      { logOpen: false }
    );
    expect(failedTrial.querySelector('.wb-job-last-failure')?.textContent).toBe(
      'trial 1 failed at internal: RuntimeError: boom'
    );
    expect(el.querySelector('.wb-job-message')?.classList.contains('wb-error-text')).toBe(true);
  });

  it('offer Kill once a stop was asked, and Show study once trials exist', () => {
    const el = jobRow(job({ status: 'cancelling' }), { logOpen: true });
    expect(el.querySelector('.wb-cancel')?.getAttribute('data-action')).toBe('kill');
    expect(el.querySelector('.wb-show-log')?.textContent).toBe('Hide log');
    expect(el.querySelector('.wb-show-study')).not.toBeNull();
  });
});

describe('profiles and trials', () => {
  it('say whether a profile is measured here or predicted', () => {
    const el = profileRow({
      name: 'pi4',
      kind: 'simulated',
      source: 'predicted',
      description: 'Raspberry Pi 4',
      device: 'cpu',
      backends: ['onnxruntime'],
      precisions: ['fp32'],
      file: 'hwprofiles/pi4.yaml'
    });
    expect(el.textContent).toContain('simulated: predicted');
  });

  it('show each measurement of a trial with its source', () => {
    const el = trialBox({
      study: 's',
      number: 3,
      state: 'COMPLETE',
      values: [0.9, 0.02],
      arch: 'mlp 32-16',
      n_params: 2410,
      macs: 2400,
      objective_key: 'host-cpu/torch/onnxruntime-fp32',
      failure: null,
      measurements: [
        {
          key: 'host-cpu/torch/onnxruntime-fp32',
          source: 'measured',
          status: 'ok',
          accuracy: 0.9,
          latency: { p50_ms: 0.02, p90_ms: 0.03, p99_ms: 0.04, n: 120, cv: 0.1 },
          size_bytes: 10240,
          peak_memory_bytes: null,
          error: null,
          stage: null,
          int8_scheme: null
        }
      ]
    });
    const cells = [...el.querySelectorAll('tbody td')].map(td => td.textContent);
    expect(cells).toEqual([
      'torch/onnxruntime-fp32',
      '0.9',
      '0.02 ms (p90 0.03, n=120)',
      'measured',
      '10.2 kB'
    ]);
  });
});

describe('API queries', () => {
  it('leave out empty parameters', () => {
    expect(query({ storage: undefined, offset: 0, wait: '' })).toBe('?offset=0');
    expect(query({ profile: 'host cpu', deployment: 'torch/onnxruntime-fp32' })).toBe(
      '?profile=host+cpu&deployment=torch%2Fonnxruntime-fp32'
    );
    expect(query({})).toBe('');
  });
});
